"""Generate real media files for tests (PyAV and Pillow, no fixtures on disk).

Everything here is tuned to be fast: small frames, low frame rates, solid colours. The files are
genuine (a real MP4/MOV with an H.264 track, a real PNG/JPEG/...), so the code under test probes
actual bytes rather than mocks.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

# Solid colours cycled frame by frame so the clip is not a single static picture.
_COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]

_AUDIO_RATE = 16_000
_AUDIO_SAMPLES_PER_FRAME = 1024


def make_video(
    path: Path,
    *,
    width: int = 480,
    height: int = 640,
    seconds: float = 4.0,
    fps: int = 5,
    container: str = "mp4",
    with_audio: bool = False,
    faststart: bool = False,
) -> Path:
    """Write a real H.264 clip of solid-colour frames.

    ``container`` is ``"mp4"`` (ftyp brand ``isom``) or ``"mov"`` (brand ``qt  ``); the file name's
    extension is irrelevant, so an MP4 can be written under a ``.mov`` name. ``faststart`` puts the
    moov atom before the media data (as phones and web exports usually do).
    """
    if container not in ("mp4", "mov"):
        raise ValueError(f"container must be 'mp4' or 'mov', not {container!r}")
    frames = max(1, round(seconds * fps))
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "tune": "stillimage"}
        audio = None
        if with_audio:
            audio = out.add_stream("aac", rate=_AUDIO_RATE, layout="mono")
        for index in range(frames):
            picture = Image.new("RGB", (width, height), _COLOURS[index % len(_COLOURS)])
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            _write_silence(out, audio, frames / fps)
    return path


def _write_silence(
    out: av.container.OutputContainer, audio: av.AudioStream, seconds: float
) -> None:
    total = int(seconds * _AUDIO_RATE)
    pts = 0
    silence = bytes(2 * _AUDIO_SAMPLES_PER_FRAME)  # s16 mono
    while pts < total:
        frame = av.AudioFrame(format="s16", layout="mono", samples=_AUDIO_SAMPLES_PER_FRAME)
        frame.planes[0].update(silence)
        frame.sample_rate = _AUDIO_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, _AUDIO_RATE)
        out.mux(audio.encode(frame))
        pts += _AUDIO_SAMPLES_PER_FRAME
    out.mux(audio.encode(None))


def make_noisy_video(
    path: Path, *, width: int = 320, height: int = 240, seconds: float = 3.0, fps: int = 10
) -> Path:
    """Write a deliberately large H.264 MP4: random noise at near-lossless quality.

    Noise does not compress, so even a tiny clip weighs a few MB; useful for re-encode tests.
    """
    frames = max(1, round(seconds * fps))
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "2"}
        for index in range(frames):
            picture = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def make_image(path: Path, *, width: int = 512, height: int = 768, fmt: str = "PNG") -> Path:
    """Write a real image in ``fmt`` (any Pillow writer: PNG, JPEG, WEBP, GIF, BMP...).

    The format comes from ``fmt``, not from the file name, so a GIF can be written as ``x.png``.
    """
    mode = "P" if fmt.upper() == "GIF" else "RGB"
    picture = Image.new("RGB", (width, height), (90, 140, 210))
    if mode != "RGB":
        picture = picture.convert(mode)
    picture.save(path, format=fmt.upper())
    return path


def make_truncated_video(path: Path, **kw: object) -> Path:
    """Write a valid clip (``make_video`` keywords accepted) and cut it in half."""
    make_video(path, **kw)  # type: ignore[arg-type]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_text_as_video(path: Path) -> Path:
    """Write a plain text file, typically under a ``.mp4`` name."""
    path.write_text("This is not a video, just text with a video file name.\n" * 20)
    return path


def make_empty_file(path: Path) -> Path:
    """Write a zero-byte file."""
    path.write_bytes(b"")
    return path


def make_big_file(path: Path, size: int) -> Path:
    """Create a sparse file of ``size`` bytes (no disk space used) for size-limit tests."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path
