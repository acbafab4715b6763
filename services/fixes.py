"""One-tap fixes: when the only problems with a request are ones the bot can repair locally, plan
the repairs (a pure function of the probed inputs) and make the repaired files (in a thread,
streamed), validated again before anything is submitted.

Problems that can be repaired: a video too long (use its first N seconds, or switch to
orientation `video` when that allows it), a video too large in pixels (downscale) or too small
(upscale), an image too small (upscale, at most twice) or whose aspect ratio is out of range (pad
or crop). Anything else (a wrong file type, a video shorter than 3 s, an image far too small, an
oversized upload) means no offer.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from PIL import Image

from domain import Orientation
from services.media import (
    ACCEPTED_IMAGE_KINDS,
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MIN_SIDE,
    PROVIDER_IMAGE_KINDS,
    VIDEO_CONTAINERS,
    VIDEO_MAX_BYTES,
    VIDEO_MAX_SECONDS,
    VIDEO_MAX_SIDE,
    VIDEO_MIN_SECONDS,
    VIDEO_MIN_SIDE,
    ImageInfo,
    VideoInfo,
    probe_image,
    probe_video,
    validate_image,
    validate_video,
)

log = logging.getLogger(__name__)

# Repaired video quality: near the source's, the provider re-encodes anyway.
_VIDEO_CRF = "20"
# A downscaled video's long side: the provider makes at most about 1080p, so a larger reference
# gains nothing, and encoding at this size keeps memory small (bench/downscale_bench.py).
DOWNSCALE_LONG_SIDE = 1920
# A picture is enlarged at most twice: beyond that the character is too blurred to animate well.
IMAGE_UPSCALE_MIN_SIDE = IMAGE_MIN_SIDE // 2


class Problem(enum.StrEnum):
    VIDEO_TOO_LONG = "video_too_long"
    VIDEO_TOO_BIG = "video_too_big"  # a side over the maximum
    VIDEO_TOO_SMALL = "video_too_small"  # a side under the minimum
    IMAGE_ASPECT = "image_aspect"
    IMAGE_TOO_SMALL = "image_too_small"  # a side under the minimum


class FixKind(enum.StrEnum):
    TRIM = "trim"
    SWITCH_ORIENTATION = "switch_orientation"
    DOWNSCALE = "downscale"
    UPSCALE = "upscale"
    PAD = "pad"
    CROP = "crop"
    UPSCALE_IMAGE = "upscale_image"


#: Repairs made to the picture (in this order), and to the video.
IMAGE_FIXES = (FixKind.UPSCALE_IMAGE, FixKind.PAD, FixKind.CROP)
VIDEO_FIXES = (FixKind.TRIM, FixKind.DOWNSCALE, FixKind.UPSCALE)


@dataclass(frozen=True)
class Fix:
    """One repair. `seconds`: keep the first seconds (TRIM); `size`: the new (width, height)."""

    kind: FixKind
    seconds: float | None = None
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Remedy:
    """One button: the repairs that together fix every problem, and the orientation to use."""

    fixes: tuple[Fix, ...]
    orientation: Orientation
    video_seconds: float  # the repaired video's length, for the cost

    @property
    def kind(self) -> FixKind:
        """What the button is named after (the first repair that differs between remedies)."""
        return self.fixes[0].kind

    def fix(self, kind: FixKind) -> Fix | None:
        return next((f for f in self.fixes if f.kind is kind), None)


@dataclass(frozen=True)
class FixPlan:
    problems: tuple[Problem, ...]
    remedies: tuple[Remedy, ...]


def _even(value: float) -> int:
    return max(2, int(math.floor(value / 2)) * 2)


def _scaled(width: int, height: int, factor: float) -> tuple[int, int]:
    return _even(width * factor), _even(height * factor)


def plan_fixes(image: ImageInfo, video: VideoInfo, orientation: Orientation) -> FixPlan | None:
    """The fixes on offer, or None when nothing is wrong or something cannot be repaired."""
    if not _only_repairable(image, video):
        return None
    problems: list[Problem] = []
    choices: list[list[tuple[Fix, Orientation | None]]] = []
    longest = max(VIDEO_MAX_SECONDS.values())
    limit = VIDEO_MAX_SECONDS[orientation]
    if video.duration_seconds > limit:
        problems.append(Problem.VIDEO_TOO_LONG)
        options: list[tuple[Fix, Orientation | None]] = [(Fix(FixKind.TRIM, seconds=limit), None)]
        if orientation is Orientation.IMAGE:
            if video.duration_seconds <= longest:
                options.append((Fix(FixKind.SWITCH_ORIENTATION), Orientation.VIDEO))
            else:
                options.append((Fix(FixKind.TRIM, seconds=longest), Orientation.VIDEO))
        choices.append(options)
    long_side, short_side = max(video.width, video.height), min(video.width, video.height)
    if long_side > VIDEO_MAX_SIDE:
        if short_side * VIDEO_MAX_SIDE / long_side < VIDEO_MIN_SIDE:
            return None  # too thin to fit both limits
        # 1080p-class when the shape allows, else just enough to keep the short side legal.
        factor = max(DOWNSCALE_LONG_SIDE / long_side, (VIDEO_MIN_SIDE + 2) / short_side)
        problems.append(Problem.VIDEO_TOO_BIG)
        size = _scaled(video.width, video.height, factor)
        choices.append([(Fix(FixKind.DOWNSCALE, size=size), None)])
    elif short_side < VIDEO_MIN_SIDE:
        factor = VIDEO_MIN_SIDE / short_side
        if long_side * factor > VIDEO_MAX_SIDE:
            return None
        problems.append(Problem.VIDEO_TOO_SMALL)
        size = (
            max(_even(video.width * factor + 1), VIDEO_MIN_SIDE),
            max(_even(video.height * factor + 1), VIDEO_MIN_SIDE),
        )
        choices.append([(Fix(FixKind.UPSCALE, size=size), None)])
    if min(image.width, image.height) < IMAGE_MIN_SIDE:
        problems.append(Problem.IMAGE_TOO_SMALL)
        size = _enlarged(image)
        choices.append([(Fix(FixKind.UPSCALE_IMAGE, size=size), None)])
        image = ImageInfo(image.kind, size[0], size[1], image.size_bytes)
    ratio = max(image.width, image.height) / min(image.width, image.height)
    if ratio > IMAGE_MAX_ASPECT:
        problems.append(Problem.IMAGE_ASPECT)
        choices.append(
            [
                (Fix(FixKind.PAD, size=_padded(image)), None),
                (Fix(FixKind.CROP, size=_cropped(image)), None),
            ]
        )
    if not problems:
        return None
    rewrites_image = {Problem.IMAGE_TOO_SMALL, Problem.IMAGE_ASPECT} & set(problems)
    if image.kind not in PROVIDER_IMAGE_KINDS and not rewrites_image:
        return None  # a WebP is only offered fixes that rewrite it (as PNG)
    remedies = []
    for combo in itertools.product(*choices):
        chosen = next((o for _, o in combo if o is not None), orientation)
        fixes = tuple(f for f, _ in combo)
        trim = next((f.seconds for f in fixes if f.kind is FixKind.TRIM), None)
        seconds = min(video.duration_seconds, trim) if trim else video.duration_seconds
        remedies.append(Remedy(fixes, chosen, seconds))
    return FixPlan(tuple(problems), tuple(remedies))


def _only_repairable(image: ImageInfo, video: VideoInfo) -> bool:
    return (
        image.kind in ACCEPTED_IMAGE_KINDS
        and image.size_bytes <= IMAGE_MAX_BYTES
        and min(image.width, image.height) >= IMAGE_UPSCALE_MIN_SIDE
        and video.container in VIDEO_CONTAINERS
        and video.size_bytes <= VIDEO_MAX_BYTES
        and video.duration_seconds >= VIDEO_MIN_SECONDS
    )


def _enlarged(image: ImageInfo) -> tuple[int, int]:
    """The size that brings the short side to the minimum, keeping the shape."""
    factor = IMAGE_MIN_SIDE / min(image.width, image.height)
    return max(IMAGE_MIN_SIDE, math.ceil(image.width * factor)), max(
        IMAGE_MIN_SIDE, math.ceil(image.height * factor)
    )


def _padded(image: ImageInfo) -> tuple[int, int]:
    """The canvas that brings the ratio to the limit by adding space on the short side."""
    w, h = image.width, image.height
    if w > h:
        return w, math.ceil(w / IMAGE_MAX_ASPECT)
    return math.ceil(h / IMAGE_MAX_ASPECT), h


def _cropped(image: ImageInfo) -> tuple[int, int]:
    """The centre crop that brings the ratio to the limit by cutting the long side."""
    w, h = image.width, image.height
    if w > h:
        return math.floor(h * IMAGE_MAX_ASPECT), h
    return w, math.floor(w * IMAGE_MAX_ASPECT)


# --------------------------------------------------------------------------------------------------
# Making the repaired files (sync, CPU bound: run them with asyncio.to_thread)


def repair_image(src: Path, dest: Path, *fixes: Fix) -> ImageInfo:
    """Enlarge, then pad (black bars) or centre-crop to the fixes' sizes, as a PNG.
    Validated again: raises MediaError if the result still breaks a limit."""
    if not fixes or any(f.size is None or f.kind not in IMAGE_FIXES for f in fixes):
        raise ValueError(f"not image fixes: {fixes}")
    with Image.open(src) as opened:
        opened.seek(0)
        picture = opened.convert("RGB")
    for fix in sorted(fixes, key=lambda f: IMAGE_FIXES.index(f.kind)):
        picture = _apply(picture, fix)
    picture.save(dest, format="PNG")
    info = probe_image(dest)
    validate_image(info)
    return info


def _apply(picture: Image.Image, fix: Fix) -> Image.Image:
    if fix.size is None:
        raise ValueError(f"{fix.kind} without a size")
    width, height = fix.size
    if fix.kind is FixKind.UPSCALE_IMAGE:
        return picture.resize((width, height), Image.Resampling.LANCZOS)
    if fix.kind is FixKind.PAD:
        canvas = Image.new("RGB", (width, height), (0, 0, 0))
        canvas.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
        return canvas
    left, top = (picture.width - width) // 2, (picture.height - height) // 2
    return picture.crop((left, top, left + width, top + height))


def repair_video(src: Path, dest: Path, fixes: tuple[Fix, ...], orientation: str) -> VideoInfo:
    """Keep the first seconds and/or rescale, in one streamed re-encode (H.264, AAC audio copied
    when present). Validated again: raises MediaError if the result still breaks a limit,
    ValueError when the source cannot be read."""
    trim = next((f.seconds for f in fixes if f.kind is FixKind.TRIM), None)
    size = next((f.size for f in fixes if f.kind in (FixKind.DOWNSCALE, FixKind.UPSCALE)), None)
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        _reencode(src, tmp, trim, size)
        tmp.replace(dest)
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"repair of {src.name} failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    info = probe_video(dest)
    validate_video(info, orientation)
    return info


def _reencode(src: Path, dest: Path, trim: float | None, size: tuple[int, int] | None) -> None:
    with (
        av.open(str(src), "r", metadata_errors="replace") as inp,
        av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        in_video = inp.streams.video[0]
        # Frame threads each hold decoded 4K pictures: decode on few threads, by slice.
        in_video.thread_type = "SLICE"
        in_video.codec_context.thread_count = 1
        width, height = size or (in_video.codec_context.width, in_video.codec_context.height)
        rate = in_video.average_rate or in_video.guessed_rate or Fraction(25)
        out_video = out.add_stream("libx264", rate=rate)
        out_video.width, out_video.height, out_video.pix_fmt = width, height, "yuv420p"
        time_base = in_video.time_base or Fraction(1, 90_000)
        out_video.codec_context.time_base = time_base
        # No lookahead, no B-frame queue, one thread: few frames in memory (a 100 MB 4K
        # downscale peaks under 150 MB RSS, bench/downscale_bench.py). The provider re-encodes.
        out_video.options = {
            "preset": "ultrafast",
            "crf": _VIDEO_CRF,
            "tune": "zerolatency",
            "threads": "1",
        }
        streams: list[av.stream.Stream] = [in_video]
        out_audio = None
        in_audio = inp.streams.audio[0] if inp.streams.audio else None
        if in_audio is not None and in_audio.codec_context.name == "aac":
            out_audio = out.add_stream_from_template(in_audio)
            streams.append(in_audio)
        start = _start_seconds(inp, in_video)
        for packet in inp.demux(*streams):
            if packet.stream is in_video:
                for frame in packet.decode():
                    if not isinstance(frame, av.VideoFrame) or frame.pts is None:
                        continue
                    if trim is not None and float(frame.pts * time_base) - start >= trim:
                        continue
                    scaled = frame.reformat(width=width, height=height, format="yuv420p")
                    scaled.pts, scaled.time_base = frame.pts, time_base
                    out.mux(out_video.encode(scaled))
            elif out_audio is not None and packet.dts is not None and packet.time_base:
                if trim is not None and float(packet.dts * packet.time_base) - start >= trim:
                    continue
                packet.stream = out_audio
                out.mux(packet)
        out.mux(out_video.encode(None))


def _start_seconds(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.start_time is not None and stream.time_base is not None:
        return float(stream.start_time * stream.time_base)
    return 0.0
