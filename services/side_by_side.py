"""A side-by-side video: the motion reference on the left, the generated clip on the right, at the
same height and on the same clock, fitted to an upload limit.

Streamed frame by frame from both files (neither video is ever held in memory), encoded to H.264
without audio. The output follows the generated clip: its frame rate and its length; the reference
frame shown beside each clip frame is the latest one at that time (held when the reference is
shorter). Both panels get the same size, each picture fitted into it on a black background.
Everything here is synchronous and CPU bound: run it with asyncio.to_thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from PIL import Image

from services.media import _declared_duration

log = logging.getLogger(__name__)

# (cap on the output height in px, share of the byte budget to aim for), tried in order.
_LADDER = ((720, 0.90), (540, 0.85), (360, 0.80), (240, 0.75))
_MIN_VIDEO_BITRATE = 50_000
_CONTAINER_OVERHEAD = 16 * 1024
_BACKGROUND = (0, 0, 0)


@dataclass(frozen=True)
class SideBySideVideo:
    """What was written: the frame size, one panel's width, and the length in seconds."""

    path: Path
    width: int
    height: int
    panel_width: int
    seconds: float
    size_bytes: int


@dataclass(frozen=True)
class _Layout:
    height: int
    panel_width: int
    reference: tuple[int, int]  # the reference's size inside its panel
    clip: tuple[int, int]


def _even(value: float) -> int:
    return max(2, int(round(value)) // 2 * 2)


def _layout(ref_size: tuple[int, int], clip_size: tuple[int, int], max_height: int) -> _Layout:
    """Panels of one size: as tall as the shorter input (at most `max_height`), as wide as the
    wider of the two pictures at that height."""
    height = _even(min(ref_size[1], clip_size[1], max_height))

    def scaled(size: tuple[int, int]) -> tuple[int, int]:
        return _even(size[0] * height / size[1]), height

    ref, clip = scaled(ref_size), scaled(clip_size)
    return _Layout(height, max(ref[0], clip[0]), ref, clip)


def make_side_by_side(reference: Path, clip: Path, dest: Path, max_bytes: int) -> SideBySideVideo:
    """Write the side-by-side MP4 at `dest`, at most `max_bytes`. Raises ValueError when it cannot
    fit or an input has no readable video (nothing is left at `dest` then)."""
    with av.open(str(clip), "r", metadata_errors="replace") as probe:
        if not probe.streams.video:
            raise ValueError("the clip has no video track")
        stream = probe.streams.video[0]
        duration = _declared_duration(probe, stream)
        clip_size = (stream.codec_context.width, stream.codec_context.height)
    with av.open(str(reference), "r", metadata_errors="replace") as probe:
        if not probe.streams.video:
            raise ValueError("the reference has no video track")
        ref_codec = probe.streams.video[0].codec_context
        ref_size = (ref_codec.width, ref_codec.height)
    if duration is None or not all(clip_size) or not all(ref_size):
        raise ValueError("an input has no usable size or length")

    tmp = dest.with_name(dest.name + ".tmp")
    budget_bits = (max_bytes - _CONTAINER_OVERHEAD) * 8
    correction = 1.0  # x264 overshoots on short clips: learn from each try
    try:
        for max_height, share in _LADDER:
            bit_rate = int(budget_bits * share * correction / duration)
            if bit_rate < _MIN_VIDEO_BITRATE:
                break
            layout = _layout(ref_size, clip_size, max_height)
            _encode(reference, clip, tmp, layout, bit_rate)
            produced = tmp.stat().st_size
            log.info(
                "Side by side at %dp, %d kbit/s: %d bytes (cap %d)",
                layout.height,
                bit_rate // 1000,
                produced,
                max_bytes,
            )
            if produced <= max_bytes:
                tmp.replace(dest)
                return SideBySideVideo(
                    dest,
                    2 * layout.panel_width,
                    layout.height,
                    layout.panel_width,
                    duration,
                    produced,
                )
            correction *= max_bytes / produced
        raise ValueError(f"{duration:.1f} s side by side does not fit {max_bytes} bytes")
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"side by side failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _frames(container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        if isinstance(frame, av.VideoFrame):
            yield frame


def _seconds(frame: av.VideoFrame, index: int, rate: Fraction) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    return index / float(rate)


def _panel(frame: av.VideoFrame, size: tuple[int, int]) -> Image.Image:
    return frame.reformat(width=size[0], height=size[1], format="rgb24").to_image()


def _encode(reference: Path, clip: Path, dest: Path, layout: _Layout, bit_rate: int) -> None:
    width, height, panel = 2 * layout.panel_width, layout.height, layout.panel_width
    ref_at = ((panel - layout.reference[0]) // 2, 0)
    clip_at = (panel + (panel - layout.clip[0]) // 2, 0)
    with (
        av.open(str(clip), "r", metadata_errors="replace") as clip_in,
        av.open(str(reference), "r", metadata_errors="replace") as ref_in,
        av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        clip_stream = clip_in.streams.video[0]
        rate = clip_stream.average_rate or clip_stream.guessed_rate or Fraction(25)
        ref_rate = ref_in.streams.video[0].average_rate or Fraction(25)
        out_video = out.add_stream("libx264", rate=rate)
        out_video.width, out_video.height, out_video.pix_fmt = width, height, "yuv420p"
        time_base = clip_stream.time_base or Fraction(1, 90_000)
        out_video.codec_context.time_base = time_base
        out_video.bit_rate = bit_rate
        out_video.options = {
            "preset": "veryfast",
            "maxrate": str(int(bit_rate * 1.2)),
            "bufsize": str(bit_rate * 2),
        }
        refs = enumerate(_frames(ref_in))
        shown: Image.Image | None = None  # the reference picture beside the current clip frame
        upcoming = next(refs, None)
        step = max(1, round(1 / (rate * time_base)))
        next_pts = 0
        for index, frame in enumerate(_frames(clip_in)):
            now = _seconds(frame, index, rate)
            # Advance the reference to its latest frame at this clip frame's time.
            while upcoming is not None and (
                shown is None or _seconds(upcoming[1], upcoming[0], ref_rate) <= now
            ):
                shown = _panel(upcoming[1], layout.reference)
                upcoming = next(refs, None)
            canvas = Image.new("RGB", (width, height), _BACKGROUND)
            if shown is not None:
                canvas.paste(shown, ref_at)
            canvas.paste(_panel(frame, layout.clip), clip_at)
            out_frame = av.VideoFrame.from_image(canvas)
            out_frame.pts = frame.pts if frame.pts is not None else next_pts
            out_frame.time_base = time_base
            next_pts = out_frame.pts + step
            out.mux(out_video.encode(out_frame))
        out.mux(out_video.encode(None))
