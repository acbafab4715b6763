"""One-tap fixes, engine side: which requests get an offer, and the repaired files (real media),
validated again."""

from __future__ import annotations

from pathlib import Path

import pytest

from cogs.fix_text import button_label
from domain import Orientation
from services.fixes import FixKind, Problem, plan_fixes, repair_image, repair_video
from services.media import ImageInfo, VideoInfo, probe_video
from tests.media_factory import make_image, make_video

GOOD_IMAGE = ImageInfo("png", 512, 768, 1000)


def video(width: int = 480, height: int = 640, seconds: float = 5.0) -> VideoInfo:
    return VideoInfo("mp4", width, height, seconds, 1000, False)


def test_nothing_wrong_means_no_offer() -> None:
    assert plan_fixes(GOOD_IMAGE, video(), Orientation.IMAGE) is None


@pytest.mark.parametrize(
    ("image", "clip"),
    [
        (ImageInfo("gif", 512, 768, 1000), video()),  # wrong type
        (ImageInfo("png", 140, 300, 1000), video()),  # image too small to enlarge twice
        (GOOD_IMAGE, video(seconds=2.0)),  # too short
        (GOOD_IMAGE, VideoInfo("mp4", 480, 640, 5.0, 200 * 1024 * 1024, False)),  # too big a file
        (GOOD_IMAGE, video(width=3900, height=300)),  # cannot satisfy both side limits
    ],
)
def test_an_unrepairable_problem_means_no_offer(image: ImageInfo, clip: VideoInfo) -> None:
    assert plan_fixes(image, clip, Orientation.IMAGE) is None


def test_too_long_for_image_offers_trim_or_switch() -> None:
    plan = plan_fixes(GOOD_IMAGE, video(seconds=14.0), Orientation.IMAGE)
    assert plan is not None and plan.problems == (Problem.VIDEO_TOO_LONG,)
    trim, switch = plan.remedies
    assert trim.kind is FixKind.TRIM and trim.fixes[0].seconds == 10.0
    assert (trim.orientation, trim.video_seconds) == (Orientation.IMAGE, 10.0)
    assert switch.kind is FixKind.SWITCH_ORIENTATION
    assert (switch.orientation, switch.video_seconds) == (Orientation.VIDEO, 14.0)


def test_several_problems_are_fixed_together() -> None:
    wide = ImageInfo("jpeg", 1000, 300, 1000)
    plan = plan_fixes(wide, video(width=4000, height=2250, seconds=40.0), Orientation.VIDEO)
    assert plan is not None
    assert plan.problems == (Problem.VIDEO_TOO_LONG, Problem.VIDEO_TOO_BIG, Problem.IMAGE_ASPECT)
    kinds = [[f.kind for f in r.fixes] for r in plan.remedies]
    assert kinds == [
        [FixKind.TRIM, FixKind.DOWNSCALE, FixKind.PAD],
        [FixKind.TRIM, FixKind.DOWNSCALE, FixKind.CROP],
    ]
    downscale = plan.remedies[0].fix(FixKind.DOWNSCALE)
    assert downscale is not None and downscale.size is not None
    assert max(downscale.size) <= 3850 and downscale.size[0] % 2 == 0


def test_trim_makes_a_valid_shorter_video(tmp_path: Path) -> None:
    src = make_video(tmp_path / "long.mp4", seconds=12, fps=4, with_audio=True)
    plan = plan_fixes(GOOD_IMAGE, probe_video(src), Orientation.IMAGE)
    assert plan is not None
    info = repair_video(src, tmp_path / "fixed.mp4", plan.remedies[0].fixes, "image")
    assert info.duration_seconds == pytest.approx(10.0, abs=0.3) and info.duration_seconds <= 10
    assert info.has_audio


def test_upscale_and_downscale_make_valid_sizes(tmp_path: Path) -> None:
    small = make_video(tmp_path / "small.mp4", width=320, height=480, seconds=3, fps=4)
    plan = plan_fixes(GOOD_IMAGE, probe_video(small), Orientation.IMAGE)
    assert plan is not None and plan.problems == (Problem.VIDEO_TOO_SMALL,)
    info = repair_video(small, tmp_path / "up.mp4", plan.remedies[0].fixes, "image")
    assert min(info.width, info.height) >= 340

    big = make_video(tmp_path / "big.mp4", width=3900, height=720, seconds=3, fps=2)
    plan = plan_fixes(GOOD_IMAGE, probe_video(big), Orientation.IMAGE)
    assert plan is not None and plan.problems == (Problem.VIDEO_TOO_BIG,)
    info = repair_video(big, tmp_path / "down.mp4", plan.remedies[0].fixes, "image")
    assert max(info.width, info.height) <= 3850


@pytest.mark.parametrize("kind", [FixKind.PAD, FixKind.CROP])
def test_pad_or_crop_brings_the_image_in_range(tmp_path: Path, kind: FixKind) -> None:
    src = make_image(tmp_path / "wide.png", width=1000, height=300)
    wide = ImageInfo("png", 1000, 300, src.stat().st_size)
    plan = plan_fixes(wide, video(), Orientation.IMAGE)
    assert plan is not None and plan.problems == (Problem.IMAGE_ASPECT,)
    [remedy] = [r for r in plan.remedies if r.kind is kind]
    fix = remedy.fix(kind)
    assert fix is not None
    info = repair_image(src, tmp_path / "fixed.png", fix)
    assert max(info.width, info.height) / min(info.width, info.height) <= 2.5
    assert (info.width, info.height) == ((1000, 400) if kind is FixKind.PAD else (750, 300))


def test_a_small_thin_picture_is_enlarged_then_padded_or_cropped(tmp_path: Path) -> None:
    src = make_image(tmp_path / "thin.jpg", width=200, height=600, fmt="JPEG")
    thin = ImageInfo("jpeg", 200, 600, src.stat().st_size)
    plan = plan_fixes(thin, video(), Orientation.IMAGE)
    assert plan is not None
    assert plan.problems == (Problem.IMAGE_TOO_SMALL, Problem.IMAGE_ASPECT)
    assert [[f.kind for f in r.fixes] for r in plan.remedies] == [
        [FixKind.UPSCALE_IMAGE, FixKind.PAD],
        [FixKind.UPSCALE_IMAGE, FixKind.CROP],
    ]
    assert [button_label(r, plan) for r in plan.remedies] == ["Pad", "Crop"]  # never the same
    for remedy in plan.remedies:
        info = repair_image(src, tmp_path / f"{remedy.fixes[-1].kind}.png", *remedy.fixes)
        assert min(info.width, info.height) >= 300
        assert max(info.width, info.height) / min(info.width, info.height) <= 2.5


def test_a_webp_is_offered_only_fixes_that_rewrite_it() -> None:
    webp = ImageInfo("webp", 512, 768, 1000)
    assert plan_fixes(webp, video(seconds=14.0), Orientation.IMAGE) is None
    wide_webp = ImageInfo("webp", 1000, 300, 1000)
    plan = plan_fixes(wide_webp, video(), Orientation.IMAGE)
    assert plan is not None and plan.problems == (Problem.IMAGE_ASPECT,)


def test_buttons_of_combined_remedies_read_differently() -> None:
    wide = ImageInfo("png", 1000, 300, 1000)
    plan = plan_fixes(wide, video(seconds=14.0), Orientation.IMAGE)
    assert plan is not None
    assert [button_label(r, plan) for r in plan.remedies] == [
        "Use the first 10 s + Pad",
        "Use the first 10 s + Crop",
        "Switch to orientation video + Pad",
        "Switch to orientation video + Crop",
    ]
