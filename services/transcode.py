"""Making new media files in a worker thread: an image (WebP) converted to PNG, and a clip
re-encoded to fit an upload limit, streamed frame by frame (never a whole video in memory).
Everything here is synchronous and CPU bound: run it with asyncio.to_thread."""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path

import av
import av.error
from PIL import Image, UnidentifiedImageError

from services.media import (
    _ACCEPTED_IMAGES_TEXT,
    _MB,
    IMAGE_MAX_BYTES,
    IMAGE_MIN_SIDE,
    ImageInfo,
    MediaLimitError,
    UnsupportedMediaError,
    _declared_duration,
    _num,
    probe_image,
)

log = logging.getLogger(__name__)


def convert_image_to_png(src: Path, dest: Path, max_bytes: int = IMAGE_MAX_BYTES) -> ImageInfo:
    """Convert an image (meant for WebP) to PNG at ``dest`` and return the PNG's :class:`ImageInfo`.

    Animated images keep their first frame. If the PNG would exceed ``max_bytes`` (PNG is lossless,
    so a detailed photo grows), it is scaled down step by step while both sides stay at least
    :data:`IMAGE_MIN_SIDE`; if that is not enough, :class:`MediaLimitError` is raised.
    Sync and CPU bound: run it in a thread.
    """
    try:
        with Image.open(src) as image:
            image.seek(0)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            picture = image.convert("RGBA" if has_alpha else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedMediaError(
            f"Your image file couldn't be converted (it may be damaged); {_ACCEPTED_IMAGES_TEXT}.",
            "image",
        ) from exc
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        while True:
            picture.save(tmp, format="PNG")
            if tmp.stat().st_size <= max_bytes:
                break
            width, height = (round(side * 0.8) for side in picture.size)
            if min(width, height) < IMAGE_MIN_SIDE:
                raise MediaLimitError(
                    "Your WebP image is too detailed to convert to a PNG under "
                    f"{_num(max_bytes / _MB)} MB. Upload it as a JPG instead.",
                    "image",
                )
            picture = picture.resize((width, height), Image.Resampling.LANCZOS)
        tmp.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return probe_image(dest)


# --------------------------------------------------------------------------------------------------
# Re-encoding results to fit an upload limit

# (cap on the short side in px, share of the byte budget to aim for), tried in order.
_REENCODE_LADDER = ((720, 0.92), (480, 0.85), (360, 0.75))
_MIN_VIDEO_BITRATE = 60_000  # below this x264 output is mush; give up instead
_MAX_AUDIO_SHARE = 0.25  # drop the audio if it would take more of the budget than this
_CONTAINER_OVERHEAD = 16 * 1024


def reencode_to_fit(src: Path, dest: Path, max_bytes: int) -> bool:
    """Re-encode ``src`` to an H.264 MP4 at ``dest`` that is at most ``max_bytes``.

    Tries a few sizes (short side at most 720, then 480, then 360 px) at a bitrate computed from
    the duration, streaming frame by frame (the clip is never held in memory). AAC audio is copied
    as is when it fits the budget; other audio is dropped. Returns ``True`` when ``dest`` was
    written under the cap, ``False`` when that is not possible (or ``src`` can't be read); ``dest``
    is then not written (a temporary file next to it is removed).
    Sync and CPU heavy: run it in a thread.
    """
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with av.open(str(src), "r", metadata_errors="replace") as probe:
            if not probe.streams.video:
                log.warning("Re-encode: %s has no video track", src.name)
                return False
            stream = probe.streams.video[0]
            duration = _declared_duration(probe, stream)
            audio = probe.streams.audio[0] if probe.streams.audio else None
            audio_rate = (audio.bit_rate or audio.codec_context.bit_rate or 128_000) if audio else 0
            copy_audio = audio is not None and audio.codec_context.name == "aac"
        if duration is None:
            log.warning("Re-encode: %s has no known duration", src.name)
            return False
        budget_bits = (max_bytes - _CONTAINER_OVERHEAD) * 8
        correction = 1.0  # x264's average bitrate overshoots on short clips: learn from each try
        for short_side, share in _REENCODE_LADDER:
            total_rate = budget_bits * share * correction / duration
            keep_audio = copy_audio and audio_rate <= total_rate * _MAX_AUDIO_SHARE
            video_rate = int(total_rate - (audio_rate if keep_audio else 0))
            if video_rate < _MIN_VIDEO_BITRATE:
                log.info(
                    "Re-encode: %d bytes is too small for %.1f s of video", max_bytes, duration
                )
                return False
            _encode(src, tmp, short_side=short_side, bit_rate=video_rate, copy_audio=keep_audio)
            produced = tmp.stat().st_size
            log.info(
                "Re-encode at %dp, %d kbit/s: %d bytes (cap %d)",
                short_side,
                video_rate // 1000,
                produced,
                max_bytes,
            )
            if produced <= max_bytes:
                tmp.replace(dest)
                return True
            correction *= max_bytes / produced
        return False
    except (av.error.FFmpegError, OSError) as exc:
        log.warning("Re-encode of %s failed: %s", src.name, exc)
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _encode(src: Path, dest: Path, *, short_side: int, bit_rate: int, copy_audio: bool) -> None:
    with (
        av.open(str(src), "r", metadata_errors="replace") as inp,
        av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        in_video = inp.streams.video[0]
        in_video.thread_type = "AUTO"
        src_w, src_h = in_video.codec_context.width, in_video.codec_context.height
        scale = min(1.0, short_side / min(src_w, src_h))
        width, height = _even(src_w * scale), _even(src_h * scale)
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(25)
        out_video = out.add_stream("libx264", rate=rate)
        out_video.width = width
        out_video.height = height
        out_video.pix_fmt = "yuv420p"
        # The input's time base keeps variable-frame-rate timestamps exact.
        if in_video.time_base is not None:
            out_video.codec_context.time_base = in_video.time_base
        out_video.bit_rate = bit_rate
        out_video.options = {
            "preset": "veryfast",
            "maxrate": str(int(bit_rate * 1.2)),
            "bufsize": str(bit_rate * 2),
        }
        streams: list[av.stream.Stream] = [in_video]
        out_audio = None
        if copy_audio:
            in_audio = inp.streams.audio[0]
            out_audio = out.add_stream_from_template(in_audio)
            streams.append(in_audio)

        next_pts = 0
        frame_step = max(1, round(1 / (rate * in_video.time_base))) if in_video.time_base else 1
        for packet in inp.demux(*streams):
            if packet.stream is in_video:
                for frame in packet.decode():
                    if not isinstance(frame, av.VideoFrame):
                        continue
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    # Some decoders give no pts; then count frames at the nominal rate.
                    scaled.pts = frame.pts if frame.pts is not None else next_pts
                    scaled.time_base = in_video.time_base
                    next_pts = scaled.pts + frame_step
                    out.mux(out_video.encode(scaled))
            elif out_audio is not None and packet.dts is not None:
                packet.stream = out_audio
                out.mux(packet)
        out.mux(out_video.encode(None))
