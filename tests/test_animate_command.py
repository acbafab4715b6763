"""/animate driven with spec'd Discord fakes, real SQLite, real media served from a loopback CDN."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from cogs.animate import AnimateCog
from cogs.animate import setup as animate_setup
from domain import JobState
from services.media import IMAGE_MAX_BYTES, VIDEO_MAX_BYTES
from services.quota import Requester
from tests.fakes.discord_fakes import Harness, not_found
from tests.fakes.modelslab_server import FakeModelsLab, FakeResponse
from tests.media_factory import (
    make_empty_file,
    make_image,
    make_text_as_video,
    make_truncated_video,
    make_video,
)

OWNER_ID = 999
MB = 1024 * 1024


@pytest.fixture
def bot_owner_ids() -> frozenset[int]:
    return frozenset({OWNER_ID})


def image_file(tmp_path: Path, name: str = "character.png", **kw: Any) -> Path:
    return make_image(tmp_path / name, **kw)


def video_file(tmp_path: Path, name: str = "motion.mp4", **kw: Any) -> Path:
    kw.setdefault("seconds", 4.0)
    kw.setdefault("fps", 4)
    return make_video(tmp_path / name, **kw)


def last_reply(h: Harness) -> str:
    replies = h.world.followups()
    assert replies, "the user got no reply"
    assert replies[-1].ephemeral, "replies to /animate must be private"
    return replies[-1].content or ""


async def user_jobs(h: Harness, user_id: int = 1) -> list[Any]:
    return await h.services.jobs.recent(user_id)


# --------------------------------------------------------------------------------------------------
# The command's shape


async def test_command_options_and_contexts(harness: Harness) -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    await bot.add_cog(harness.cog)
    command = bot.tree.get_command("animate")
    assert isinstance(command, app_commands.Command)
    payload = command.to_dict(bot.tree)
    options = {o["name"]: o for o in payload["options"]}
    assert list(options) == ["image", "orientation", "video", "motion", "mode", "prompt"]
    assert options["image"]["type"] == options["video"]["type"] == 11  # attachment
    assert options["motion"]["type"] == 3 and options["motion"]["autocomplete"]  # string
    assert options["image"]["required"] and options["orientation"]["required"]
    assert not any(options[o].get("required") for o in ("video", "motion", "mode", "prompt"))
    assert [c["value"] for c in options["orientation"]["choices"]] == ["image", "video"]
    labels = [c["name"] for c in options["orientation"]["choices"]]
    assert "10 s" in labels[0] and "30 s" in labels[1]
    assert [c["value"] for c in options["mode"]["choices"]] == ["std", "pro"]
    assert not options["mode"]["required"] and not options["prompt"]["required"]
    assert options["prompt"]["max_length"] == 2500
    assert payload["description"].startswith("Animate a character")
    assert all(len(o["description"]) <= 100 for o in payload["options"])
    assert sorted(payload["integration_types"]) == [0, 1]  # guild and user installs
    assert sorted(payload["contexts"]) == [0, 1, 2]  # guilds, DMs, group DMs


# --------------------------------------------------------------------------------------------------
# The happy path


async def test_defer_comes_first_then_job_is_queued_with_a_status_message(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    image = h.upload(image_file(tmp_path))
    video = h.upload(video_file(tmp_path))
    interaction = h.interaction(user_id=1)

    await h.animate(interaction, image, video, orientation="image", mode="pro", prompt="A dance")

    assert h.world.calls[0] == "defer"
    assert interaction.response.defer.await_args.kwargs == {"ephemeral": True, "thinking": True}
    assert set(h.world.calls[1:3]) == {"cdn:character.png", "cdn:motion.mp4"}
    [job] = await user_jobs(h)
    assert job.state is JobState.QUEUED
    assert (job.user_id, job.guild_id, job.channel_id) == (1, 10, 100)
    assert (job.image_kind, job.image_width, job.image_height) == ("png", 512, 768)
    assert (job.video_kind, job.video_width, job.video_height) == ("mp4", 480, 640)
    assert job.video_seconds == pytest.approx(4.0, abs=0.3)
    assert (job.orientation, job.mode, job.prompt) == ("image", "pro", "A dance")
    assert job.image_url == image.url and job.video_url == video.url
    assert await asyncio.to_thread(Path(job.image_path).is_file)
    assert await asyncio.to_thread(Path(job.video_path).is_file)
    assert job.cost_seconds == 8.0  # 4 s, pro costs double

    [status] = h.world.sent_in(100)
    assert status.message_id == job.status_message_id
    assert "Queued" in status.text and "Position in queue: **1**" in status.text
    assert status.custom_ids == [f"job:cancel:{job.id}"]

    reply = last_reply(h)
    assert f"Job #{job.id} is queued (position 1 in the queue)" in reply
    assert f"/100/{job.status_message_id}" in reply


async def test_empty_prompt_uses_the_default(harness: Harness, tmp_path: Path) -> None:
    h = harness
    image, video = h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
    await h.animate(h.interaction(), image, video, prompt="   ")
    [job] = await user_jobs(h)
    assert job.prompt == h.settings.default_prompt


async def test_mov_and_jpg_with_video_orientation(harness: Harness, tmp_path: Path) -> None:
    h = harness
    image = h.upload(image_file(tmp_path, "me.jpg", fmt="JPEG", width=600, height=600))
    video = h.upload(video_file(tmp_path, "long.mov", container="mov", seconds=12, fps=1))
    await h.animate(h.interaction(), image, video, orientation="video")
    [job] = await user_jobs(h)
    assert (job.image_kind, job.video_kind, job.orientation) == ("jpeg", "mov", "video")
    assert job.cost_seconds == 12.0


async def test_webp_is_converted_and_published(
    make_harness: Callable[..., Any], tmp_path: Path
) -> None:
    published: list[Path] = []

    async def publish(path: Path) -> str:
        published.append(path)
        return "https://files.example.com/converted.png"

    h = await make_harness(publish_image=publish)
    image = h.upload(image_file(tmp_path, "char.webp", fmt="WEBP"))
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    [job] = await user_jobs(h)
    assert job.image_kind == "png"
    assert job.image_url == "https://files.example.com/converted.png"
    assert published == [Path(job.image_path)] and Path(job.image_path).suffix == ".png"


async def harness_from_setup(h: Harness) -> Harness:
    """Replace the harness's cog with the one the extension's setup() builds (real publisher)."""
    await animate_setup(h.bot)
    [cog] = h.bot.add_cog.await_args.args
    assert isinstance(cog, AnimateCog)
    h.cog = cog
    return h


async def test_webp_is_published_through_the_modelslab_upload(
    harness: Harness, fake: FakeModelsLab, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    h = await harness_from_setup(harness)
    image = h.upload(image_file(tmp_path, "char.webp", fmt="WEBP"))
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    [job] = await user_jobs(h)
    assert job.image_kind == "png" and Path(job.image_path).suffix == ".png"
    assert job.image_url.startswith(f"{fake.origin}/uploads/")
    [upload] = fake.requests_of("upload")
    assert upload.status == 200
    async with session.get(job.image_url) as resp:
        assert await resp.read() == await asyncio.to_thread(Path(job.image_path).read_bytes)
    assert f"Job #{job.id} is queued" in last_reply(h)


async def test_jpg_and_png_are_not_uploaded(
    harness: Harness, fake: FakeModelsLab, tmp_path: Path
) -> None:
    h = await harness_from_setup(harness)
    image = h.upload(image_file(tmp_path))
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    [job] = await user_jobs(h)
    assert job.image_url == image.url
    assert fake.requests_of("upload") == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("503", "couldn't prepare your image for the generator; try again in a minute"),
        ("disconnect", "couldn't prepare your image for the generator; try again in a minute"),
        ("401", "The animation service is unavailable right now"),
        ("402", "The animation service is unavailable right now"),
        (
            FakeResponse(400, {"status": "error", "message": "The image could not be decoded."}),
            "The image could not be decoded.",
        ),
    ],
)
async def test_a_failed_webp_upload_is_explained_and_nothing_is_queued(
    harness: Harness,
    fake: FakeModelsLab,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fault: str | FakeResponse,
    expected: str,
) -> None:
    h = await harness_from_setup(harness)
    fake.script_faults("upload", [fault])
    interaction = h.interaction()
    image = h.upload(image_file(tmp_path, "char.webp", fmt="WEBP"))
    with caplog.at_level(logging.INFO):
        await h.animate(interaction, image, h.upload(video_file(tmp_path)))
    assert expected in last_reply(h)
    assert "Something went wrong" not in last_reply(h)
    assert await user_jobs(h) == []
    assert not (h.settings.media_dir / f"request-{interaction.id}").exists()
    assert "publishing a converted WebP failed" in caplog.text
    assert h.settings.modelslab_api_key.reveal() not in caplog.text


async def test_webp_without_a_publisher_is_refused_plainly(
    make_harness: Callable[..., Any], tmp_path: Path
) -> None:
    h = await make_harness(publish_image=None)
    image = h.upload(image_file(tmp_path, "char.webp", fmt="WEBP"))
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    assert "WebP" in last_reply(h) and "PNG or JPG" in last_reply(h)
    assert await user_jobs(h) == []


async def test_in_a_dm_the_requester_has_no_guild_and_status_goes_to_the_dm(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    dm_channel = h.world.dm_channel_id(5)
    interaction = h.interaction(user_id=5, guild_id=None, channel_id=dm_channel)
    await h.animate(interaction, h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path)))
    [job] = await user_jobs(h, 5)
    assert job.guild_id is None and job.channel_id == dm_channel
    assert [s.message_id for s in h.world.sent_in(dm_channel)] == [job.status_message_id]
    assert "/@me/" in last_reply(h)


# --------------------------------------------------------------------------------------------------
# Every refusal names the input, what was found, the limit and the fix; nothing is charged


def _img(**kw: Any) -> Callable[[Path], Path]:
    return lambda d: make_image(d / kw.pop("name", "character.png"), **kw)


def _vid(**kw: Any) -> Callable[[Path], Path]:
    return lambda d: video_file(d, kw.pop("name", "motion.mp4"), **kw)


REFUSALS = [
    (
        "image-too-small",
        _img(width=200, height=200),
        _vid(),
        {},
        ["Your image is 200×200 px", "at least 300 px"],
    ),
    (
        "image-aspect",
        _img(width=300, height=900),
        _vid(),
        {},
        ["aspect ratio is 1:3", "between 1:2.5 and 2.5:1"],
    ),
    ("image-gif", _img(fmt="GIF"), _vid(), {}, ["Your image is a GIF", "use a JPG or PNG"]),
    (
        "image-not-an-image",
        lambda d: make_text_as_video(d / "character.png"),
        _vid(),
        {},
        ["isn't a readable image"],
    ),
    ("image-empty", lambda d: make_empty_file(d / "e.png"), _vid(), {}, ["image file is empty"]),
    ("video-too-short", _img(), _vid(seconds=2), {}, ["Your video is 2.0 s", "at least 3 s"]),
    (
        "video-too-long-for-image-orientation",
        _img(),
        _vid(seconds=12, fps=1),
        {},
        ["limit is 10 s", "choose orientation `video` (up to 30 s)"],
    ),
    (
        "video-too-long-for-video-orientation",
        _img(),
        _vid(seconds=32, fps=1),
        {"orientation": "video"},
        ["Your video is 32.0 s", "the limit is 30 s", "Trim it"],
    ),
    (
        "video-too-small",
        _img(),
        _vid(width=320, height=240),
        {},
        ["Your video is 320×240 px", "at least 340 px"],
    ),
    (
        "video-too-wide",
        _img(),
        _vid(width=3872, height=352, seconds=3, fps=1),
        {},
        ["3872×352 px", "at most 3850 px"],
    ),
    (
        "video-truncated",
        _img(),
        lambda d: make_truncated_video(d / "cut.mp4", seconds=4, fps=4),
        {},
        ["isn't a readable MP4 or MOV"],
    ),
    (
        "video-is-text",
        _img(),
        lambda d: make_text_as_video(d / "fake.mp4"),
        {},
        ["isn't a readable MP4 or MOV"],
    ),
    ("video-empty", _img(), lambda d: make_empty_file(d / "e.mp4"), {}, ["video file is empty"]),
    (
        "video-is-an-image",
        _img(),
        lambda d: make_image(d / "still.mp4", fmt="PNG"),
        {},
        ["Your video"],
    ),
    (
        "prompt-too-long",
        _img(),
        _vid(),
        {"prompt": "x" * 2501},
        ["Your prompt is 2,501 characters", "limit is 2,500"],
    ),
]


@pytest.mark.parametrize(
    ("make_image_file", "make_video_file", "options", "expected"),
    [pytest.param(i, v, o, e, id=name) for name, i, v, o, e in REFUSALS],
)
async def test_each_refusal_reaches_the_user_and_charges_nothing(
    make_harness: Callable[..., Any],
    tmp_path: Path,
    make_image_file: Callable[[Path], Path],
    make_video_file: Callable[[Path], Path],
    options: dict[str, Any],
    expected: list[str],
) -> None:
    # A cog without one-tap fixes: the refusal words themselves (repairable problems get an
    # offer in production; tests/test_fix_offer.py covers those).
    h = await make_harness(publish_image=None)
    image = h.upload(make_image_file(tmp_path))
    video = h.upload(make_video_file(tmp_path))
    interaction = h.interaction()

    await h.animate(interaction, image, video, **options)

    reply = last_reply(h)
    for fragment in expected:
        assert fragment in reply
    assert "Traceback" not in reply
    assert h.world.calls[0] == "defer"
    assert await user_jobs(h) == []
    assert h.world.sent_in(100) == []  # no status message
    usage = await h.services.quota.usage(Requester(1, 10))
    assert usage.used_today == 0 and usage.active_jobs == 0
    assert not (h.settings.media_dir / f"request-{interaction.id}").exists()


async def test_long_prompt_is_refused_before_downloading(harness: Harness, tmp_path: Path) -> None:
    h = harness
    image, video = h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
    await h.animate(h.interaction(), image, video, prompt="y" * 2600)
    assert "limit is 2,500" in last_reply(h)
    assert not [c for c in h.world.calls if c.startswith("cdn:")]


@pytest.mark.parametrize(
    ("which", "declared", "expected"),
    [
        ("image", IMAGE_MAX_BYTES + 1, "Your image is 10.000001 MB"),
        ("image", 12 * MB, "Your image is 12.0 MB; the limit is 10 MB. Save it as a JPG"),
        ("video", 150 * MB, "Your video is 150.0 MB; the limit is 100 MB. Compress or trim"),
        ("video", VIDEO_MAX_BYTES + 200 * 1024, "Your video is 100.2 MB; the limit is 100 MB"),
    ],
)
async def test_declared_oversize_is_refused_before_downloading(
    harness: Harness, tmp_path: Path, which: str, declared: int, expected: str
) -> None:
    h = harness
    image = h.upload(image_file(tmp_path), **({"size": declared} if which == "image" else {}))
    video = h.upload(video_file(tmp_path), **({"size": declared} if which == "video" else {}))
    await h.animate(h.interaction(), image, video)
    assert expected in last_reply(h)
    assert not [c for c in h.world.calls if c.startswith("cdn:")]
    assert await user_jobs(h) == []


async def test_upload_bigger_than_its_declared_size_is_capped(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\x00" * (IMAGE_MAX_BYTES + 10))
    image = h.upload(big, size=1000)  # Discord said 1000 bytes; the CDN sends more
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    assert "Your image is 10.0" in last_reply(h) and "the limit is 10 MB" in last_reply(h)
    assert await user_jobs(h) == []


async def test_expired_upload_link_says_which_input(harness: Harness, tmp_path: Path) -> None:
    h = harness
    video = h.upload(video_file(tmp_path), status=404)
    await h.animate(h.interaction(), h.upload(image_file(tmp_path)), video)
    reply = last_reply(h)
    assert reply.startswith("Your video couldn't be fetched from Discord.")
    assert "no longer available" in reply


async def test_upload_from_a_host_not_allowed_is_refused(harness: Harness, tmp_path: Path) -> None:
    h = harness
    image = h.upload(image_file(tmp_path))
    image.url = "https://evil.example.net/attachments/1/x.png?hm=abc"
    await h.animate(h.interaction(), image, h.upload(video_file(tmp_path)))
    reply = last_reply(h)
    assert reply.startswith("Your image couldn't be fetched from Discord.")
    assert "evil.example.net" in reply
    assert await user_jobs(h) == []


# --------------------------------------------------------------------------------------------------
# Quota, unexpected errors, expired interactions, logs


async def test_quota_refusal_says_which_limit_and_when_it_frees(
    make_harness: Callable[..., Any], tmp_path: Path
) -> None:
    h = await make_harness(quota_daily_seconds=6)
    image, video = h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
    await h.animate(h.interaction(), image, video)
    assert len(await user_jobs(h)) == 1

    second = h.interaction()
    await h.animate(second, image, video)
    reply = last_reply(h)
    assert "you have used 4 s of your 6 s daily limit" in reply
    assert "Enough frees up <t:" in reply and ":R>" in reply
    assert len(await user_jobs(h)) == 1
    assert not (h.settings.media_dir / f"request-{second.id}").exists()


async def test_the_owner_is_not_limited(make_harness: Callable[..., Any], tmp_path: Path) -> None:
    h = await make_harness(quota_daily_seconds=1)
    await h.animate(
        h.interaction(OWNER_ID), h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
    )
    assert len(await user_jobs(h, OWNER_ID)) == 1


async def test_unexpected_error_shows_a_reference_code_and_logs_it(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    h = harness

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database on fire: secret-token-123")

    monkeypatch.setattr(h.services.jobs, "create", broken)
    with caplog.at_level(logging.ERROR, logger="cogs.errors"):
        await h.animate(
            h.interaction(), h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
        )
    reply = last_reply(h)
    assert "Something went wrong on my side" in reply
    code = reply.split("`")[1]
    assert len(code) == 8 and int(code, 16) >= 0
    assert "secret-token-123" not in reply and "RuntimeError" not in reply
    [record] = [r for r in caplog.records if code in r.getMessage()]
    assert record.exc_info is not None and "animate" in record.getMessage()


async def test_too_late_to_defer_does_nothing_more(harness: Harness, tmp_path: Path) -> None:
    h = harness
    interaction = h.interaction(defer_error=not_found(10062))
    await h.animate(interaction, h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path)))
    assert h.world.calls == ["defer"]
    assert await user_jobs(h) == []


async def test_logs_never_contain_attachment_signatures(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    with caplog.at_level(logging.DEBUG):
        await h.animate(
            h.interaction(), h.upload(image_file(tmp_path)), h.upload(video_file(tmp_path))
        )
        video = h.upload(video_file(tmp_path), status=404)
        await h.animate(h.interaction(2), h.upload(image_file(tmp_path)), video)
    # aiosqlite logs SQL parameters at DEBUG (its own logger; bot.py should keep it at INFO).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiosqlite"))
    assert "Downloaded" in ours and "Download failed" in ours
    assert h.cdn.signature not in ours and "hm=" not in ours


async def test_three_quick_requests_from_one_member_are_all_queued(
    harness: Harness, tmp_path: Path
) -> None:
    """No cooldown: quotas are the only limit (three at once fit the default of 3 active)."""
    h = harness
    image, video = image_file(tmp_path), video_file(tmp_path)
    await asyncio.gather(
        *(h.animate(h.interaction(1), h.upload(image), h.upload(video)) for _ in range(3))
    )
    jobs = await user_jobs(h)
    assert [j.state for j in jobs] == [JobState.QUEUED] * 3
    replies = [r.content or "" for r in h.world.followups()]
    assert len(replies) == 3 and all(" is queued (position " in r for r in replies)
    assert h.cog.animate.checks == []  # no in-memory cooldown
