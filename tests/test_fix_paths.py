"""One-tap fixes wherever inputs are checked (an upload, a library motion, the Animate menu), the
fixed file kept on a message the bot reads back (fresh link at submit time, with a fallback where
it cannot post), and a press after a restart answered instead of failing."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import aiohttp
import discord
import pytest

from cogs import fix_text
from cogs.animate_menu import Picker
from cogs.fix_offer import TEMPLATE, FixButton, FixOfferView
from db.connection import Database
from domain import HostedFile, Job, JobState, Orientation
from services.media import probe_image
from services.quota import Requester
from tests.fakes.discord_fakes import FakeCdn, Harness, build_harness, forbidden
from tests.fakes.modelslab_server import FakeModelsLab
from tests.media_factory import make_image, make_video

OWNER, STRANGER, GUILD, CHANNEL = 1, 2, 10, 100
DAY = 24 * 3600.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fix-media")
    return {
        "hero": make_image(folder / "hero.png"),
        "wide": make_image(folder / "wide.png", width=1000, height=300),
        "wide_webp": make_image(folder / "wide.webp", width=1000, height=300, fmt="WEBP"),
        "small": make_image(folder / "small.jpg", width=200, height=250, fmt="JPEG"),
        "long": make_video(folder / "long.mp4", seconds=12, fps=2),
        "wave": make_video(folder / "wave.mp4", seconds=4, fps=4),
        "dance": make_video(folder / "dance.mp4", seconds=5, fps=4),
        "clip": make_video(folder / "out.mp4", seconds=3, fps=4),
    }


def the_offer(h: Harness) -> FixOfferView:
    assert h.cog.fix_offers is not None
    [view] = h.cog.fix_offers.views.values()
    return view


def labels(view: FixOfferView) -> list[str]:
    return [c.item.label or "" for c in view.children if isinstance(c, FixButton)]


def last_reply(h: Harness) -> str:
    [*_, last] = h.world.followups()
    assert last.ephemeral
    return last.content or ""


def kept_files(h: Harness) -> dict[str, Any]:
    """The public messages that keep fixed files, by file name."""
    return {
        s.file_name: s for s in h.world.sent_in(CHANNEL) if (s.file_name or "").startswith("fixed-")
    }


async def until_finished(h: Harness, job_id: int) -> Job:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while True:
        job = await h.services.jobs.get(job_id)
        assert job is not None
        if job.state.is_terminal and not h.services.runner.is_working_on(job_id):
            return job
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} still {job.state.value}")
        await asyncio.sleep(0.01)


async def library_motion(h: Harness, clip: Path, name: str = "Wave") -> Any:
    await h.add_motion(name, clip)
    [motion] = [m for m in (await h.services.motions.library(GUILD)).own if m.name == name]
    return motion


# --------------------------------------------------------------------------------------------------
# The fixed file stays fetchable


async def test_a_fixed_file_is_kept_on_a_message_and_submitted_with_a_fresh_link(
    harness: Harness, fake: FakeModelsLab, session: aiohttp.ClientSession, media: dict[str, Path]
) -> None:
    h = harness
    fake.set_clip(media["clip"].read_bytes())
    await h.animate(h.interaction(OWNER), h.upload(media["hero"]), h.upload(media["long"]))
    await the_offer(h).press(h.interaction(OWNER, command=None), 0)  # the first 10 s
    [job] = await h.services.jobs.recent(OWNER)
    kept = kept_files(h)["fixed-video.mp4"]
    assert not kept.ephemeral and "**Fixed video**" in (kept.content or "")
    assert job.video_source is not None and job.video_source.channel_id == CHANNEL
    assert job.video_source.message_id == kept.message_id

    h.cdn.advance(DAY + 3600)  # the job waited: the link stored with it is dead
    assert not h.cdn.link_works(job.video_url)
    calls_before = len(h.world.calls)
    await h.services.runner.start()
    done = await until_finished(h, job.id)

    assert done.state is JobState.SUCCEEDED
    assert f"fetch:{kept.message_id}" in h.world.calls[calls_before:]  # asked for a fresh link
    [submit] = fake.submits()
    sent_link = submit.json["init_video"]
    assert sent_link != job.video_url and h.cdn.link_works(sent_link)
    async with session.get(sent_link) as resp:
        assert resp.status == 200
        assert await resp.read() == Path(job.video_path).read_bytes()  # noqa: ASYNC240


@pytest.mark.parametrize("trouble", ["cannot_post", "cannot_read_back"])
async def test_where_the_bot_cannot_keep_it_the_fix_goes_on_the_private_reply(
    harness: Harness, media: dict[str, Path], trouble: str
) -> None:
    h = harness
    await h.animate(h.interaction(OWNER), h.upload(media["hero"]), h.upload(media["long"]))
    if trouble == "cannot_post":
        h.world.fail_sends(CHANNEL, forbidden())
    else:
        h.world.fail_fetches(CHANNEL, forbidden(50001))
    await the_offer(h).press(h.interaction(OWNER, command=None), 0)
    [job] = await h.services.jobs.recent(OWNER)
    assert job.state is JobState.QUEUED and job.video_source is None
    assert job.video_url.endswith("/fixed-video.mp4")  # the private reply's attachment
    [reply] = [s for s in h.world.followups() if s.content == fix_text.FALLBACK_NOTE]
    assert reply.ephemeral
    if trouble == "cannot_read_back":
        posted = kept_files(h)["fixed-video.mp4"]
        assert f"delete:{posted.message_id}" in h.world.calls  # not left behind


async def test_a_fixed_file_too_large_for_the_channel_is_refused_plainly(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    h.world.guild_upload_limits[GUILD] = 2_000
    await h.animate(h.interaction(OWNER), h.upload(media["hero"]), h.upload(media["long"]))
    await the_offer(h).press(h.interaction(OWNER, command=None, filesize_limit=2_000), 0)
    assert last_reply(h).startswith("**Too large to keep**: the fixed video is")
    assert "Nothing was charged." in last_reply(h)
    assert await h.services.jobs.recent(OWNER) == [] and kept_files(h) == {}


# --------------------------------------------------------------------------------------------------
# Fixes with a library motion and on the Animate menu


async def test_a_library_motion_with_a_wide_picture_gets_pad_or_crop(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    motion = await library_motion(h, media["wave"])
    await h.animate(h.interaction(OWNER), h.upload(media["wide"]), motion="Wave")
    view = the_offer(h)
    assert labels(view) == ["Pad", "Crop"]
    assert "the picture is too long and thin (1000×300)" in (h.world.followups()[-1].content or "")
    assert await h.services.jobs.recent(OWNER) == []
    usage = await h.services.quota.usage(Requester(OWNER, GUILD))
    assert usage.used_today == 0 and usage.active_jobs == 0

    await view.press(h.interaction(OWNER, command=None), 1)  # crop
    [job] = await h.services.jobs.recent(OWNER)
    assert job.motion_id == motion.id and job.video_source == motion.source
    assert job.video_path == "" and job.video_seconds == motion.video_seconds
    assert (job.image_width, job.image_height) == (750, 300)
    kept = kept_files(h)["fixed-image.png"]
    assert job.image_source is not None and job.image_source.message_id == kept.message_id
    assert job.inputs_refreshable  # both inputs live in messages now


async def test_a_small_webp_picture_is_enlarged_and_converted(
    harness: Harness, media: dict[str, Path], tmp_path: Path
) -> None:
    h = harness
    await library_motion(h, media["wave"])
    small = make_image(tmp_path / "small.webp", width=200, height=250, fmt="WEBP")
    await h.animate(h.interaction(OWNER), h.upload(small), motion="Wave")
    view = the_offer(h)
    assert labels(view) == ["Upscale"]
    assert "the picture is smaller than 300 px (200×250)" in (h.world.followups()[-1].content or "")
    await view.press(h.interaction(OWNER, command=None), 0)
    [job] = await h.services.jobs.recent(OWNER)
    info = probe_image(Path(job.image_path))
    assert info.kind == "png" and (info.width, info.height) == (300, 375)
    assert job.image_kind == "png"


async def test_a_library_motion_too_long_for_the_orientation_is_still_refused(
    harness: Harness, media: dict[str, Path]
) -> None:
    """A library clip is kept as it was added: it is not trimmed."""
    h = harness
    await library_motion(h, media["long"], "Spin")
    await h.animate(h.interaction(OWNER), h.upload(media["wide"]), motion="Spin")
    assert "The motion **Spin** is 12 s." in last_reply(h)
    assert h.cog.fix_offers is not None and not h.cog.fix_offers.views


async def test_the_menu_offers_fixes_and_keeps_the_messages_video(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    message = h.world.member_message(CHANNEL, [media["wide_webp"], media["dance"]])
    await h.menu.open(h.interaction(OWNER, command="Animate"), message)
    picker = h.world.followups()[-1].view
    assert isinstance(picker, Picker)
    await picker.start(h.interaction(OWNER, command=None))
    assert [s for s in h.world.sent if s.where == "original-edit"][-1].content == (
        fix_text.MENU_OFFERED
    )
    assert picker.is_finished()
    view = the_offer(h)
    assert labels(view) == ["Pad", "Crop"]

    await view.press(h.interaction(OWNER, command=None), 0)  # pad
    [job] = await h.services.jobs.recent(OWNER)
    _, video = message.attachments
    assert job.video_source == HostedFile(CHANNEL, message.id, video.id)
    assert job.image_source is not None and job.image_source.message_id != message.id
    assert (job.image_kind, job.image_width, job.image_height) == ("png", 1000, 400)
    assert job.orientation is Orientation.IMAGE


# --------------------------------------------------------------------------------------------------
# The buttons are routed by custom_id, after a restart too


def test_the_fix_buttons_custom_id_fits_and_round_trips() -> None:
    button = FixButton(2**63 - 1, 3, "Use the first 10 s")
    match = re.fullmatch(TEMPLATE, button.custom_id)
    assert len(button.custom_id) <= 100 and match is not None
    assert (int(match["key"]), int(match["index"])) == (2**63 - 1, 3)


async def rebuilt(
    h: Harness, interaction: discord.Interaction, custom_id: str, label: str
) -> FixButton:
    """The button as discord.py rebuilds it from a press on the message."""
    item = discord.ui.Button(label=label, custom_id=custom_id)
    match = re.fullmatch(TEMPLATE, custom_id)
    assert match is not None
    return await FixButton.from_custom_id(interaction, item, match)


async def test_a_press_is_routed_through_the_registered_button(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    assert FixButton in h.bot.add_dynamic_items.call_args.args  # registered at start-up
    await h.animate(h.interaction(OWNER), h.upload(media["hero"]), h.upload(media["long"]))
    [offer] = [s for s in h.world.followups() if s.custom_ids]
    press = h.interaction(OWNER, command=None)
    button = await rebuilt(h, press, offer.custom_ids[1], "Switch to orientation video")
    await button.callback(press)
    [job] = await h.services.jobs.recent(OWNER)
    assert job.orientation is Orientation.VIDEO


async def test_a_press_after_a_restart_says_the_offer_is_gone(
    harness: Harness,
    media: dict[str, Path],
    db: Database,
    session: aiohttp.ClientSession,
    cdn: FakeCdn,
) -> None:
    h = harness
    await h.animate(h.interaction(OWNER), h.upload(media["hero"]), h.upload(media["long"]))
    [offer] = [s for s in h.world.followups() if s.custom_ids]
    restarted = await build_harness(settings=h.settings, db=db, session=session, cdn=cdn)
    press = restarted.interaction(OWNER, command=None)
    button = await rebuilt(restarted, press, offer.custom_ids[0], "Use the first 10 s")
    await button.callback(press)
    assert last_reply(restarted) == fix_text.OFFER_GONE
    assert "Nothing was sent" in fix_text.OFFER_GONE and "/animate" in fix_text.OFFER_GONE
    assert await restarted.services.jobs.recent(OWNER) == []


async def test_a_press_while_the_cog_is_not_loaded_is_answered(harness: Harness) -> None:
    press = harness.interaction(OWNER, command=None)
    press.client = Mock(spec=discord.Client)  # no cogs at all
    await FixButton(123, 0).callback(press)
    assert last_reply(harness) == fix_text.OFFER_GONE
