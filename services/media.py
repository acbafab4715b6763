"""Probing and validation of the user's image and video (services/transcode.py makes new files).

Everything that touches pixels or containers is synchronous and CPU/IO bound: callers run it in a
thread (:func:`probe_and_validate` does so itself). The real type of a file is always read from its
bytes, never from its name or the client-supplied content type.

Every :class:`MediaError` carries a complete, friendly sentence naming the input, what was found,
the limit and how to fix it; the bot shows ``str(error)`` to the user as is.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_MAX_BYTES = 10 * 1024 * 1024
VIDEO_MAX_BYTES = 100 * 1024 * 1024
IMAGE_MIN_SIDE = 300
IMAGE_MAX_ASPECT = 2.5
VIDEO_MIN_SIDE = 340
VIDEO_MAX_SIDE = 3850
VIDEO_MIN_SECONDS = 3.0
VIDEO_MAX_SECONDS = {"image": 10.0, "video": 30.0}  # by character orientation
PROMPT_MAX_CHARS = 2500

#: Image kinds the provider takes as they are.
PROVIDER_IMAGE_KINDS = frozenset({"jpeg", "png"})
#: Image kinds the bot accepts: the provider's, plus WebP which the caller converts to PNG first.
ACCEPTED_IMAGE_KINDS = PROVIDER_IMAGE_KINDS | {"webp"}
VIDEO_CONTAINERS = frozenset({"mp4", "mov"})

# Above this many pixels the image is not fully decoded when probing (memory); the caller's limits
# still apply. 64 MP covers every phone camera; a larger image would be downscaled by the provider.
_IMAGE_DECODE_MAX_PIXELS = 64_000_000
# A clip whose packets stop this much short of the declared duration is treated as truncated.
_TRUNCATION_TOLERANCE = 0.1
_MB = 1024 * 1024

_KIND_NAMES = {
    "jpeg": "JPG",
    "png": "PNG",
    "webp": "WebP",
    "gif": "GIF",
    "bmp": "BMP",
    "tiff": "TIFF",
    "ico": "ICO",
    "heif": "HEIC",
    "avif": "AVIF",
}
_ACCEPTED_IMAGES_TEXT = "use a JPG or PNG (WebP is converted automatically)"
_VIDEO_FORMAT_NAMES = {
    "matroska,webm": "WebM/MKV",
    "avi": "AVI",
    "gif": "GIF",
    "flv": "FLV",
    "mpeg": "MPEG",
    "mpegts": "MPEG-TS",
    "asf": "WMV",
    "ogg": "Ogg",
}
_UNREADABLE_VIDEO = (
    "Your video file isn't a readable MP4 or MOV (it may be truncated or another format). "
    "Export it again as MP4 (H.264)."
)
# Top-level atoms an old QuickTime file may start with when it has no ftyp box.
_LEGACY_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


@dataclass(frozen=True)
class ImageInfo:
    """What probing found in an image file. ``kind`` is the real format: ``"jpeg"``, ``"png"``,
    ``"webp"``, ``"gif"``, ... (lower case, from the bytes)."""

    kind: str
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True)
class VideoInfo:
    """What probing found in a video file. ``container`` is ``"mp4"`` or ``"mov"`` (from the
    bytes)."""

    container: str
    width: int
    height: int
    duration_seconds: float
    size_bytes: int
    has_audio: bool


class MediaError(Exception):
    """Base of input problems. ``str()`` is a complete, user-facing sentence; ``input_name`` is
    ``"image"``, ``"video"`` or ``"prompt"``."""

    def __init__(self, message: str, input_name: str) -> None:
        super().__init__(message)
        self.input_name = input_name


class UnsupportedMediaError(MediaError):
    """Wrong real type, unreadable, truncated or empty file."""


class MediaLimitError(MediaError):
    """Readable, but outside a limit: dimensions, duration, size, aspect ratio, length."""


# --------------------------------------------------------------------------------------------------
# Number formatting for messages


def _num(value: float) -> str:
    """A limit as people write it: ``10``, ``2.5``, ``3``."""
    return f"{value:g}"


def _beyond(value: float, limit: float, *, above: bool) -> str:
    """Format ``value`` with one decimal, or more when one decimal would hide that it breaks
    ``limit`` (100.02 MB must not read "100.0 MB; the limit is 100 MB")."""
    for decimals in (1, 2, 3):
        text = f"{value:.{decimals}f}"
        shown = float(text)
        if (shown > limit) if above else (shown < limit):
            return text
    return f"{value:.3f}"


def _dims(width: int, height: int) -> str:
    return f"{width}×{height} px"


def _ratio(width: int, height: int, limit: float) -> str:
    """``1:3.2`` for tall images, ``3.2:1`` for wide ones."""
    value = _beyond(max(width, height) / min(width, height), limit, above=True)
    return f"1:{value}" if height > width else f"{value}:1"


# --------------------------------------------------------------------------------------------------
# Images


def probe_image(path: Path) -> ImageInfo:
    """Read an image's real format and size from its bytes, decoding it to catch damaged files.

    Reports any format Pillow can read (``"gif"``, ``"bmp"``, ...) so that :func:`validate_image`
    can name it. WebP is reported as ``"webp"``: the provider takes only JPG and PNG, so the caller
    converts it (services/transcode.py) after validation. Multi-picture JPEGs from phones (MPO)
    are reported as ``"jpeg"``.

    Raises :class:`UnsupportedMediaError` for empty, unidentifiable or truncated files.
    """
    size = path.stat().st_size
    if size == 0:
        raise UnsupportedMediaError(
            "Your image file is empty (0 bytes). Upload the image again.", "image"
        )
    try:
        with Image.open(path) as image:
            kind = (image.format or "unknown").lower()
            if kind == "mpo":
                kind = "jpeg"
            width, height = image.size
            if kind in ACCEPTED_IMAGE_KINDS and width * height <= _IMAGE_DECODE_MAX_PIXELS:
                if kind == "jpeg":
                    # Decode at reduced scale: still reads every byte (so truncation shows), for a
                    # fraction of the memory.
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except UnidentifiedImageError as exc:
        raise UnsupportedMediaError(
            "Your image file isn't a readable image (it may be damaged or another kind of file); "
            f"{_ACCEPTED_IMAGES_TEXT}.",
            "image",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise MediaLimitError(
            "Your image has far too many pixels to process. Resize it to at most 4000 px per side.",
            "image",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedMediaError(
            "Your image file couldn't be read completely (it may be truncated or damaged). "
            "Save it again as JPG or PNG and upload that.",
            "image",
        ) from exc
    return ImageInfo(kind=kind, width=width, height=height, size_bytes=size)


def validate_image(info: ImageInfo) -> None:
    """Check an image against the provider's limits; WebP passes (the caller converts it).

    Raises :class:`UnsupportedMediaError` for a format other than JPG/PNG/WebP, or
    :class:`MediaLimitError` for size, side length or aspect ratio.
    """
    if info.kind not in ACCEPTED_IMAGE_KINDS:
        name = _KIND_NAMES.get(info.kind, info.kind.upper())
        article = "an" if name[:1] in "AEIOU" else "a"
        raise UnsupportedMediaError(
            f"Your image is {article} {name}; {_ACCEPTED_IMAGES_TEXT}.", "image"
        )
    if info.size_bytes > IMAGE_MAX_BYTES:
        found = _beyond(info.size_bytes / _MB, IMAGE_MAX_BYTES / _MB, above=True)
        raise MediaLimitError(
            f"Your image is {found} MB; the limit is {_num(IMAGE_MAX_BYTES / _MB)} MB. "
            "Save it as a JPG or make it smaller.",
            "image",
        )
    if min(info.width, info.height) < IMAGE_MIN_SIDE:
        raise MediaLimitError(
            f"Your image is {_dims(info.width, info.height)}; each side must be at least "
            f"{IMAGE_MIN_SIDE} px. Upload a larger image.",
            "image",
        )
    if max(info.width, info.height) / min(info.width, info.height) > IMAGE_MAX_ASPECT:
        limit = _num(IMAGE_MAX_ASPECT)
        raise MediaLimitError(
            f"Your image's aspect ratio is {_ratio(info.width, info.height, IMAGE_MAX_ASPECT)}; "
            f"it must be between 1:{limit} and {limit}:1. Crop it closer to the character.",
            "image",
        )


# --------------------------------------------------------------------------------------------------
# Videos


def _container_from_header(header: bytes) -> str | None:
    """``"mov"`` / ``"mp4"`` from the first bytes of an ISO-BMFF/QuickTime file, else ``None``."""
    if len(header) >= 12 and header[4:8] == b"ftyp":
        return "mov" if header[8:12] == b"qt  " else "mp4"
    if len(header) >= 8 and header[4:8] in _LEGACY_QT_ATOMS:
        return "mov"
    return None


def probe_video(path: Path) -> VideoInfo:
    """Read a video's real container, size, duration and tracks, and check it demuxes to the end.

    The container comes from the bytes (ftyp major brand ``qt  `` means MOV, any other brand MP4),
    so an MP4 named ``.mov`` is reported as ``"mp4"``. Every video packet is read (no decoding past
    the first frame), so a truncated file whose index promises more than its data holds is rejected,
    as is one whose index (moov) is missing.

    Raises :class:`UnsupportedMediaError`.
    """
    size = path.stat().st_size
    if size == 0:
        raise UnsupportedMediaError(
            "Your video file is empty (0 bytes). Upload the video again.", "video"
        )
    with path.open("rb") as handle:
        header = handle.read(16)
    container_kind = _container_from_header(header)
    try:
        with av.open(str(path), "r", metadata_errors="replace") as container:
            format_name = container.format.name
            if container_kind is None or "mp4" not in format_name.split(","):
                other = _VIDEO_FORMAT_NAMES.get(format_name)
                if other:
                    raise UnsupportedMediaError(
                        f"Your video is a {other} file; use an MP4 or MOV. "
                        "Export it again as MP4 (H.264).",
                        "video",
                    )
                raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")
            if not container.streams.video:
                raise UnsupportedMediaError(
                    "Your video file has no picture track (only sound or data). "
                    "Upload a video of the motion you want.",
                    "video",
                )
            stream = container.streams.video[0]
            width = stream.codec_context.width
            height = stream.codec_context.height
            duration = _declared_duration(container, stream)
            has_audio = bool(container.streams.audio)
            if not width or not height or duration is None:
                raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")
            _check_packets(container, stream, duration)
    except av.error.FFmpegError as exc:
        log.info("Video probe failed for %s: %s", path.name, exc)
        raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video") from exc
    return VideoInfo(
        container=container_kind,
        width=width,
        height=height,
        duration_seconds=duration,
        size_bytes=size,
        has_audio=has_audio,
    )


def _declared_duration(
    container: av.container.InputContainer, stream: av.VideoStream
) -> float | None:
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / av.time_base
    else:
        return None
    return seconds if seconds > 0 and math.isfinite(seconds) else None


def _check_packets(
    container: av.container.InputContainer, stream: av.VideoStream, duration: float
) -> None:
    """Demux every video packet, decode the first frame; raise if the data ends early."""
    decoded_one = False
    packets = 0
    last_end = 0.0
    for packet in container.demux(stream):
        if packet.size == 0 and packet.dts is None:
            continue  # the demuxer's end-of-stream marker
        packets += 1
        if packet.pts is not None and packet.time_base:
            end = packet.pts + (packet.duration or 0)
            last_end = max(last_end, float(end * packet.time_base))
        if not decoded_one:
            decoded_one = bool(packet.decode())
    if not decoded_one and packets:
        # Some decoders only emit a frame once flushed.
        decoded_one = bool(stream.codec_context.decode(None))
    if not decoded_one:
        raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")
    start = 0.0
    if stream.start_time and stream.time_base:
        start = float(stream.start_time * stream.time_base)
    expected_frames = stream.frames
    if expected_frames and packets < expected_frames * (1 - _TRUNCATION_TOLERANCE):
        log.info("Video truncated: %d of %d packets", packets, expected_frames)
        raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")
    if last_end - start < duration * (1 - _TRUNCATION_TOLERANCE) - 0.5:
        log.info("Video truncated: packets end at %.2f s of %.2f s", last_end - start, duration)
        raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")


def validate_video(info: VideoInfo, orientation: str) -> None:
    """Check a video against the provider's limits for the given character ``orientation``.

    Raises :class:`UnsupportedMediaError` for a container other than MP4/MOV, or
    :class:`MediaLimitError` for size, side length or duration; ``ValueError`` for an unknown
    orientation (a programming error, not the user's).
    """
    if orientation not in VIDEO_MAX_SECONDS:
        raise ValueError(f"orientation must be one of {sorted(VIDEO_MAX_SECONDS)}")
    if info.container not in VIDEO_CONTAINERS:
        raise UnsupportedMediaError(_UNREADABLE_VIDEO, "video")
    if info.size_bytes > VIDEO_MAX_BYTES:
        found = _beyond(info.size_bytes / _MB, VIDEO_MAX_BYTES / _MB, above=True)
        raise MediaLimitError(
            f"Your video is {found} MB; the limit is {_num(VIDEO_MAX_BYTES / _MB)} MB. "
            "Compress or trim it.",
            "video",
        )
    if min(info.width, info.height) < VIDEO_MIN_SIDE:
        raise MediaLimitError(
            f"Your video is {_dims(info.width, info.height)}; each side must be at least "
            f"{VIDEO_MIN_SIDE} px. Use a higher-resolution clip (720p works well).",
            "video",
        )
    if max(info.width, info.height) > VIDEO_MAX_SIDE:
        raise MediaLimitError(
            f"Your video is {_dims(info.width, info.height)}; each side must be at most "
            f"{VIDEO_MAX_SIDE} px. Export it at a lower resolution (1080p works well).",
            "video",
        )
    seconds = info.duration_seconds
    if seconds < VIDEO_MIN_SECONDS:
        found = _beyond(seconds, VIDEO_MIN_SECONDS, above=False)
        raise MediaLimitError(
            f"Your video is {found} s long; it must be at least {_num(VIDEO_MIN_SECONDS)} s. "
            "Use a longer motion clip.",
            "video",
        )
    limit = VIDEO_MAX_SECONDS[orientation]
    if seconds > limit:
        found = _beyond(seconds, limit, above=True)
        longest = max(VIDEO_MAX_SECONDS.values())
        if orientation == "image" and seconds <= longest:
            text = (
                f"Your video is {found} s. With orientation `image` the limit is {_num(limit)} s: "
                f"trim it, or choose orientation `video` (up to {_num(longest)} s)."
            )
        elif orientation == "image":
            text = (
                f"Your video is {found} s. The limit is {_num(limit)} s with orientation `image` "
                f"and {_num(longest)} s with orientation `video`: trim it."
            )
        else:
            text = (
                f"Your video is {found} s; with orientation `{orientation}` the limit is "
                f"{_num(limit)} s. Trim it."
            )
        raise MediaLimitError(text, "video")


def validate_prompt(prompt: str) -> None:
    """Check the prompt: required by the provider, at most :data:`PROMPT_MAX_CHARS` characters."""
    if not prompt.strip():
        raise MediaLimitError(
            "Your prompt is empty. Describe the scene or the motion in a few words.", "prompt"
        )
    if len(prompt) > PROMPT_MAX_CHARS:
        raise MediaLimitError(
            f"Your prompt is {len(prompt):,} characters; the limit is {PROMPT_MAX_CHARS:,}. "
            "Shorten it.",
            "prompt",
        )


async def probe_and_validate(
    image_path: Path, video_path: Path, orientation: str
) -> tuple[ImageInfo, VideoInfo]:
    """Probe (in a thread) and validate the image, then the video; raise the first MediaError.

    WebP images pass: convert them (services/transcode.py) before sending.
    """
    if orientation not in VIDEO_MAX_SECONDS:
        raise ValueError(f"orientation must be one of {sorted(VIDEO_MAX_SECONDS)}")
    image = await asyncio.to_thread(probe_image, image_path)
    validate_image(image)
    video = await asyncio.to_thread(probe_video, video_path)
    validate_video(video, orientation)
    return image, video
