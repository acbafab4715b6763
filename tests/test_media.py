"""Tests for services.media with real generated files (see tests/media_factory.py)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from services.media import (
    IMAGE_MAX_BYTES,
    PROMPT_MAX_CHARS,
    VIDEO_MAX_BYTES,
    ImageInfo,
    MediaError,
    MediaLimitError,
    UnsupportedMediaError,
    VideoInfo,
    probe_and_validate,
    probe_image,
    probe_video,
    validate_image,
    validate_prompt,
    validate_video,
)
from services.transcode import convert_image_to_png, reencode_to_fit
from tests.media_factory import (
    make_big_file,
    make_empty_file,
    make_image,
    make_noisy_video,
    make_text_as_video,
    make_truncated_video,
    make_video,
)

MB = 1024 * 1024


def _image(**kw) -> ImageInfo:
    base = {"kind": "png", "width": 512, "height": 768, "size_bytes": 100_000}
    return ImageInfo(**(base | kw))


def _video(**kw) -> VideoInfo:
    base = {
        "container": "mp4",
        "width": 720,
        "height": 1280,
        "duration_seconds": 5.0,
        "size_bytes": 2 * MB,
        "has_audio": False,
    }
    return VideoInfo(**(base | kw))


def _message(exc_type: type[MediaError], func, *args) -> str:
    with pytest.raises(exc_type) as info:
        func(*args)
    return str(info.value)


# ------------------------------------------------------------------------------ image validation


def test_valid_images_pass():
    validate_image(_image())
    validate_image(_image(kind="jpeg", width=300, height=750))  # exactly 1:2.5
    validate_image(_image(kind="webp"))  # converted by the caller, not rejected
    validate_image(_image(size_bytes=IMAGE_MAX_BYTES))


def test_image_too_small():
    text = _message(MediaLimitError, validate_image, _image(width=250, height=900))
    assert text == (
        "Your image is 250×900 px; each side must be at least 300 px. Upload a larger image."
    )


def test_image_aspect_ratio_tall_and_wide():
    tall = _message(MediaLimitError, validate_image, _image(width=400, height=1280))
    assert tall.startswith("Your image's aspect ratio is 1:3.2;")
    assert "between 1:2.5 and 2.5:1" in tall and "Crop it" in tall
    wide = _message(MediaLimitError, validate_image, _image(width=1280, height=400))
    assert "aspect ratio is 3.2:1;" in wide


def test_image_aspect_ratio_just_over_limit_is_not_shown_as_the_limit():
    text = _message(MediaLimitError, validate_image, _image(width=1000, height=2510))
    assert "1:2.51;" in text


def test_image_too_big():
    text = _message(MediaLimitError, validate_image, _image(size_bytes=int(12.34 * MB)))
    assert "Your image is 12.3 MB; the limit is 10 MB." in text


@pytest.mark.parametrize(
    ("kind", "name"), [("gif", "a GIF"), ("bmp", "a BMP"), ("avif", "an AVIF")]
)
def test_image_unsupported_kind(kind, name):
    with pytest.raises(UnsupportedMediaError) as info:
        validate_image(_image(kind=kind))
    assert str(info.value) == (
        f"Your image is {name}; use a JPG or PNG (WebP is converted automatically)."
    )
    assert info.value.input_name == "image"


# ------------------------------------------------------------------------------ video validation


def test_valid_videos_pass():
    validate_video(_video(), "image")
    validate_video(_video(container="mov", duration_seconds=3.0, width=340, height=3850), "image")
    validate_video(_video(duration_seconds=30.0), "video")
    validate_video(_video(size_bytes=VIDEO_MAX_BYTES), "video")


def test_video_too_long_for_image_orientation():
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=14.23), "image")
    assert text == (
        "Your video is 14.2 s. With orientation `image` the limit is 10 s: trim it, "
        "or choose orientation `video` (up to 30 s)."
    )


def test_video_too_long_for_both_orientations():
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=42.0), "image")
    assert "42.0 s" in text and "`video`" in text and "trim it" in text
    assert "choose orientation" not in text
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=31.5), "video")
    assert "31.5 s" in text and "the limit is 30 s" in text and "Trim it" in text


def test_video_just_over_limit_shows_enough_decimals():
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=10.02), "image")
    assert "Your video is 10.02 s." in text


def test_video_too_short():
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=2.1), "video")
    assert text == ("Your video is 2.1 s long; it must be at least 3 s. Use a longer motion clip.")
    text = _message(MediaLimitError, validate_video, _video(duration_seconds=2.97), "video")
    assert "2.97 s" in text


def test_video_sides():
    small = _message(MediaLimitError, validate_video, _video(width=320, height=640), "image")
    assert "Your video is 320×640 px; each side must be at least 340 px." in small
    big = _message(MediaLimitError, validate_video, _video(width=2160, height=3860), "image")
    assert "Your video is 2160×3860 px; each side must be at most 3850 px." in big


def test_video_too_big():
    text = _message(MediaLimitError, validate_video, _video(size_bytes=int(120.4 * MB)), "video")
    assert text == "Your video is 120.4 MB; the limit is 100 MB. Compress or trim it."


def test_video_wrong_container_and_orientation():
    with pytest.raises(UnsupportedMediaError):
        validate_video(_video(container="webm"), "image")
    with pytest.raises(ValueError):
        validate_video(_video(), "sideways")


def test_prompt():
    validate_prompt("a dancer")
    validate_prompt("x" * PROMPT_MAX_CHARS)
    text = _message(MediaLimitError, validate_prompt, "x" * 2731)
    assert text == "Your prompt is 2,731 characters; the limit is 2,500. Shorten it."
    with pytest.raises(MediaLimitError) as info:
        validate_prompt("   ")
    assert info.value.input_name == "prompt"


# ------------------------------------------------------------------------------ image probing


@pytest.mark.parametrize(
    ("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp"), ("GIF", "gif")]
)
def test_probe_image_kinds_from_bytes(tmp_path, fmt, kind):
    # The name lies on purpose: the kind must come from the bytes.
    path = make_image(tmp_path / "picture.png.jpg", width=400, height=600, fmt=fmt)
    info = probe_image(path)
    assert info == ImageInfo(kind=kind, width=400, height=600, size_bytes=path.stat().st_size)


def test_probe_image_rejects_gif_through_validation(tmp_path):
    info = probe_image(make_image(tmp_path / "a.png", fmt="GIF"))
    text = _message(UnsupportedMediaError, validate_image, info)
    assert "GIF" in text and "JPG or PNG" in text


def test_probe_image_empty(tmp_path):
    text = _message(UnsupportedMediaError, probe_image, make_empty_file(tmp_path / "a.png"))
    assert "empty" in text


def test_probe_image_not_an_image(tmp_path):
    text = _message(UnsupportedMediaError, probe_image, make_text_as_video(tmp_path / "a.png"))
    assert "isn't a readable image" in text and "JPG or PNG" in text


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_probe_image_truncated(tmp_path, fmt):
    path = tmp_path / "a.img"
    Image.effect_noise((600, 600), 60).convert("RGB").save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    text = _message(UnsupportedMediaError, probe_image, path)
    assert "truncated" in text


def test_convert_webp_to_png(tmp_path):
    src = make_image(tmp_path / "a.webp", width=640, height=480, fmt="WEBP")
    info = convert_image_to_png(src, tmp_path / "a.png")
    assert info.kind == "png" and (info.width, info.height) == (640, 480)
    validate_image(info)
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["a.png", "a.webp"]


def test_convert_to_png_honours_max_bytes(tmp_path):
    # Noise keeps the PNG large: about 900 KB at full size.
    src = tmp_path / "noisy.webp"
    Image.effect_noise((800, 800), 16).convert("RGB").save(src, format="WEBP", lossless=True)
    full = convert_image_to_png(src, tmp_path / "full.png")
    assert full.width == 800 and full.size_bytes > 200 * 1024

    small = convert_image_to_png(src, tmp_path / "small.png", max_bytes=200 * 1024)
    assert small.size_bytes <= 200 * 1024
    assert 300 <= small.width < 800 and small.width == small.height
    assert not (tmp_path / "small.png.tmp").exists()

    text = _message(MediaLimitError, convert_image_to_png, src, tmp_path / "tiny.png", 50 * 1024)
    assert "too detailed" in text and "Upload it as a JPG" in text
    assert not (tmp_path / "tiny.png").exists()


# ------------------------------------------------------------------------------ video probing


def test_probe_mp4(tmp_path):
    path = make_video(tmp_path / "clip.mp4", with_audio=True)
    info = probe_video(path)
    assert info.container == "mp4"
    assert (info.width, info.height) == (480, 640)
    assert info.duration_seconds == pytest.approx(4.0, abs=0.1)
    assert info.has_audio is True
    assert info.size_bytes == path.stat().st_size


def test_probe_mov(tmp_path):
    info = probe_video(make_video(tmp_path / "clip.mp4", container="mov", seconds=3.0))
    assert info.container == "mov"
    assert info.has_audio is False
    assert info.duration_seconds == pytest.approx(3.0, abs=0.1)


def test_mp4_named_mov_is_detected_as_mp4(tmp_path):
    assert probe_video(make_video(tmp_path / "clip.mov", container="mp4")).container == "mp4"


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_video_is_rejected(tmp_path, faststart):
    # Without faststart the index (moov) is at the end and gets cut off; with it, the index
    # promises frames the data no longer holds.
    path = make_truncated_video(tmp_path / "clip.mp4", faststart=faststart)
    text = _message(UnsupportedMediaError, probe_video, path)
    assert "isn't a readable MP4 or MOV" in text and "truncated" in text


def test_text_named_mp4_is_rejected(tmp_path):
    text = _message(UnsupportedMediaError, probe_video, make_text_as_video(tmp_path / "a.mp4"))
    assert "isn't a readable MP4 or MOV" in text


def test_empty_video_is_rejected(tmp_path):
    with pytest.raises(UnsupportedMediaError) as info:
        probe_video(make_empty_file(tmp_path / "a.mp4"))
    assert "empty (0 bytes)" in str(info.value)
    assert info.value.input_name == "video"


def test_sparse_big_file_is_unreadable(tmp_path):
    with pytest.raises(UnsupportedMediaError):
        probe_video(make_big_file(tmp_path / "a.mp4", 5 * MB))


def test_other_container_is_named(tmp_path):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_image(Image.new("RGB", (64, 64)))
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    text = _message(UnsupportedMediaError, probe_video, path)
    assert "WebM/MKV" in text and "MP4" in text


def test_image_given_as_video_is_rejected(tmp_path):
    with pytest.raises(UnsupportedMediaError):
        probe_video(make_image(tmp_path / "a.mp4", fmt="PNG"))


# ------------------------------------------------------------------------------ probe_and_validate


async def test_probe_and_validate_ok(tmp_path):
    image = make_image(tmp_path / "a.jpg", fmt="JPEG")
    video = make_video(tmp_path / "b.mp4", width=480, height=640, seconds=3.4)
    image_info, video_info = await probe_and_validate(image, video, "image")
    assert image_info.kind == "jpeg" and video_info.container == "mp4"


async def test_probe_and_validate_reports_image_first(tmp_path):
    image = make_image(tmp_path / "a.png", width=200, height=200)
    video = make_text_as_video(tmp_path / "b.mp4")
    with pytest.raises(MediaLimitError) as info:
        await probe_and_validate(image, video, "video")
    assert info.value.input_name == "image"


async def test_probe_and_validate_video_limits(tmp_path):
    image = make_image(tmp_path / "a.png")
    short = make_video(tmp_path / "b.mp4", seconds=2.0)
    with pytest.raises(MediaLimitError) as info:
        await probe_and_validate(image, short, "video")
    assert info.value.input_name == "video" and "at least 3 s" in str(info.value)
    small = make_video(tmp_path / "c.mp4", width=320, height=320)
    with pytest.raises(MediaLimitError, match="at least 340 px"):
        await probe_and_validate(image, small, "video")


# ------------------------------------------------------------------------------ re-encode


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory) -> Path:
    return make_noisy_video(tmp_path_factory.mktemp("noisy") / "noisy.mp4")


def test_reencode_shrinks_under_cap(noisy_clip, tmp_path):
    original = noisy_clip.stat().st_size
    cap = 300_000
    assert original > 5 * cap
    dest = tmp_path / "small.mp4"
    assert reencode_to_fit(noisy_clip, dest, cap) is True
    assert dest.stat().st_size <= cap
    info = probe_video(dest)
    assert info.container == "mp4"
    assert info.duration_seconds == pytest.approx(3.0, abs=0.3)
    with av.open(str(dest)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert [p.name for p in tmp_path.iterdir()] == ["small.mp4"]


def test_reencode_scales_down_to_720p_and_keeps_aac(tmp_path):
    src = make_video(tmp_path / "big.mp4", width=1080, height=1920, seconds=3.0, with_audio=True)
    dest = tmp_path / "out.mp4"
    assert reencode_to_fit(src, dest, 200_000) is True
    info = probe_video(dest)
    assert (info.width, info.height) == (720, 1280)
    assert info.has_audio is True


def test_reencode_impossible_returns_false(noisy_clip, tmp_path):
    dest = tmp_path / "tiny.mp4"
    assert reencode_to_fit(noisy_clip, dest, 10_000) is False
    assert list(tmp_path.iterdir()) == []


def test_reencode_unreadable_source_returns_false(tmp_path):
    src = make_text_as_video(tmp_path / "a.mp4")
    assert reencode_to_fit(src, tmp_path / "out.mp4", 1_000_000) is False
    assert not (tmp_path / "out.mp4").exists()
