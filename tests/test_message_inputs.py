"""Inputs kept in Discord messages, end to end through the fake Discord, the fake CDN (whose
links expire a day after they were signed) and the real runner against the fake ModelsLab: fresh
links at submit time, a vanished message failing with a refund, the "Animate" message menu, and
neither the queue's wait limit nor Retry's age limit binding such jobs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from cogs.animate_menu import MESSAGE_VIDEO, NO_IMAGE, NOTHING_TO_MOVE, Picker, PromptForm
from domain import FailureCode, HostedFile, Job, JobState
from services.jobs import JobActionRefused
from services.quota import Requester
from tests.fakes.discord_fakes import Harness, add_job, move_job, not_found, server_error
from tests.fakes.modelslab_server import FakeModelsLab
from tests.media_factory import make_image, make_video

USER, GUILD, CHANNEL = 1, 10, 100
DAY = 24 * 3600.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("message-media")
    return {
        "image": make_image(folder / "hero.png"),
        "wave": make_video(folder / "wave.mp4", seconds=4, fps=4),
        "dance": make_video(folder / "dance.mp4", seconds=5, fps=4),
        "long": make_video(folder / "long.mp4", seconds=12, fps=1),
        "clip": make_video(folder / "out.mp4", seconds=3, fps=4),
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


async def kept_link(h: Harness, source: HostedFile) -> str:
    """The link Discord gives for a kept file right now."""
    message = await h.bot.get_partial_messageable(source.channel_id).fetch_message(
        source.message_id
    )
    [attachment] = [a for a in message.attachments if a.id == source.attachment_id]
    return str(attachment.url)


async def motion_named(h: Harness, name: str) -> Any:
    library = await h.services.motions.library(GUILD)
    [motion] = [m for m in library.own if m.name == name]
    return motion


# --------------------------------------------------------------------------------------------------
# Library motions: fresh links at submit time


async def test_a_job_queued_after_the_motions_link_expired_is_submitted_with_a_fresh_link(
    harness: Harness,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    media: dict[str, Path],
) -> None:
    h = harness
    fake.set_clip(media["clip"].read_bytes())
    await h.add_motion("Wave", media["wave"])
    motion = await motion_named(h, "Wave")
    added_link = await kept_link(h, motion.source)

    h.cdn.advance(25 * 3600)  # a day later: the link from when it was added is dead
    assert not h.cdn.link_works(added_link)
    await h.animate(h.interaction(USER), h.upload(media["image"]), motion="Wave")
    [job] = await h.services.jobs.recent(USER)
    assert h.cdn.link_works(job.video_url)

    h.cdn.advance(25 * 3600)  # and the job waited another day: its stored link is dead too
    assert not h.cdn.link_works(job.video_url)
    await h.services.runner.start()
    done = await until_finished(h, job.id)

    assert done.state is JobState.SUCCEEDED
    [submit] = fake.submits()
    sent_link = submit.json["init_video"]
    assert sent_link not in (job.video_url, added_link)
    assert h.cdn.link_works(sent_link)
    async with session.get(sent_link) as resp:
        assert resp.status == 200
        assert await resp.read() == media["wave"].read_bytes()
    assert submit.json["init_image"] == job.image_url  # an upload: used as it is
    assert f"fetch:{motion.source.message_id}" in h.world.calls


async def test_a_job_whose_motion_message_vanished_fails_with_a_reason_and_a_refund(
    harness: Harness, fake: FakeModelsLab, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Wave", media["wave"])
    motion = await motion_named(h, "Wave")
    await h.animate(h.interaction(USER), h.upload(media["image"]), motion="wave")
    [job] = await h.services.jobs.recent(USER)
    assert (await h.services.quota.usage(Requester(USER, GUILD))).active_jobs == 1

    h.world.delete_message(motion.source.channel_id, motion.source.message_id)
    await h.services.runner.start()
    done = await until_finished(h, job.id)

    assert done.state is JobState.FAILED and done.failure_code is FailureCode.INPUT_GONE
    assert done.failure_reason == "motion:Wave" and done.charged_seconds == 0
    assert fake.submits() == []
    usage = await h.services.quota.usage(Requester(USER, GUILD))
    assert usage.used_today == 0 and usage.active_jobs == 0
    [notice] = [s for s in h.world.sent_in(CHANNEL) if s.embed is None and s.file_name is None]
    assert "The message holding the motion **Wave** was deleted" in (notice.content or "")
    assert "Nothing was charged." in (notice.content or "")
    assert not (await motion_named(h, "Wave")).available


async def test_discord_trouble_while_refreshing_retries_later(
    harness: Harness, fake: FakeModelsLab, media: dict[str, Path]
) -> None:
    h = harness
    fake.set_clip(media["clip"].read_bytes())
    await h.add_motion("Wave", media["wave"])
    await h.animate(h.interaction(USER), h.upload(media["image"]), motion="wave")
    [job] = await h.services.jobs.recent(USER)
    h.world.fail_fetches(CHANNEL, server_error())
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert done.state is JobState.SUCCEEDED and len(fake.submits()) == 1


# --------------------------------------------------------------------------------------------------
# The "Animate" message menu


async def open_menu(h: Harness, message: Any) -> Any:
    interaction = h.interaction(USER, command="Animate")
    await h.menu.open(interaction, message)
    [*_, sent] = h.world.followups()
    assert sent.ephemeral
    return sent


async def test_the_menu_on_a_message_without_an_image_says_so(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    menu = h.menu.context_menu
    assert (menu.name, menu.type) == ("Animate", discord.AppCommandType.message)
    contexts, installs = menu.allowed_contexts, menu.allowed_installs
    assert contexts is not None and installs is not None
    assert contexts.guild and contexts.dm_channel and contexts.private_channel
    assert installs.guild and installs.user
    sent = await open_menu(h, h.world.member_message(CHANNEL, [media["wave"]]))
    assert sent.content == NO_IMAGE and sent.view is None
    sent = await open_menu(h, h.world.member_message(CHANNEL, []))
    assert sent.content == NO_IMAGE


async def test_the_menu_without_motions_or_a_video_says_what_to_do(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    sent = await open_menu(h, h.world.member_message(CHANNEL, [media["image"]]))
    assert sent.content == NOTHING_TO_MOVE and sent.view is None


async def test_the_menu_animates_a_messages_picture_with_a_library_motion(
    harness: Harness, fake: FakeModelsLab, media: dict[str, Path]
) -> None:
    h = harness
    fake.set_clip(media["clip"].read_bytes())
    await h.add_motion("Wave", media["wave"])
    await h.add_motion("Spin", media["long"])
    wave, spin = await motion_named(h, "Wave"), await motion_named(h, "Spin")
    message = h.world.member_message(CHANNEL, [media["image"]])

    sent = await open_menu(h, message)
    picker = sent.view
    assert isinstance(picker, Picker)
    labels = [o.label for o in picker.pick_motion.options]
    assert sorted(labels) == ["Spin · 12 s · video", "Wave · 4 s · image or video"]
    assert "Animate the picture in " + message.jump_url in (sent.content or "")

    component = h.interaction(USER, command=None)
    await picker.choose_motion(component, f"#{spin.id}")
    assert picker.orientation == "video"  # the only one a 12 s motion allows
    await picker.choose_motion(component, f"#{wave.id}")
    await picker.choose_orientation(component, "image")
    await picker.choose_mode(component, "pro")
    await picker.prompt_button.callback(component)
    [form] = h.world.modals
    assert isinstance(form, PromptForm)
    await picker.set_prompt(component, "  A dance on the moon ")

    start = h.interaction(USER, command=None)
    await picker.start(start)
    [job] = await h.services.jobs.recent(USER)
    assert (job.state, job.mode, job.orientation) == (JobState.QUEUED, "pro", "image")
    assert job.prompt == "A dance on the moon" and job.motion_id == wave.id
    assert job.image_source == HostedFile(CHANNEL, message.id, message.attachments[0].id)
    assert job.video_source == wave.source and job.inputs_refreshable
    receipt = [s for s in h.world.followups() if s.content and " is queued " in s.content]
    assert len(receipt) == 1 and receipt[0].ephemeral
    [status] = [s for s in h.world.sent_in(CHANNEL) if s.embed is not None]
    assert status.message_id == job.status_message_id
    assert status.custom_ids == [f"job:cancel:{job.id}"]
    edits = [s for s in h.world.sent if s.where == "original-edit"]
    assert edits[-1].content == f"Started job #{job.id}."

    h.cdn.advance(2 * DAY)  # every link the menu saw is dead by the time it runs
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert done.state is JobState.SUCCEEDED
    [submit] = fake.submits()
    assert h.cdn.link_works(submit.json["init_image"])
    assert h.cdn.link_works(submit.json["init_video"])
    [clip] = [s for s in h.world.sent_in(CHANNEL) if s.file_name == f"animation-{job.id}.mp4"]
    assert clip.mentions_users == [USER]


async def test_the_menu_uses_the_video_in_the_message(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    message = h.world.member_message(CHANNEL, [media["image"], media["dance"]])
    picker = (await open_menu(h, message)).view
    assert isinstance(picker, Picker)
    assert [(o.label, o.default) for o in picker.pick_motion.options] == [
        ("The video in this message", True)
    ]
    assert picker.choice == MESSAGE_VIDEO
    await picker.start(h.interaction(USER, command=None))
    [job] = await h.services.jobs.recent(USER)
    image, video = message.attachments
    assert job.image_source == HostedFile(CHANNEL, message.id, image.id)
    assert job.video_source == HostedFile(CHANNEL, message.id, video.id)
    assert job.motion_id is None and job.video_seconds == pytest.approx(5.0, abs=0.3)
    assert "cdn:dance.mp4" in h.world.calls  # probed like an upload


async def test_a_refused_start_keeps_the_picker(harness: Harness, media: dict[str, Path]) -> None:
    h = harness
    await h.add_motion("Spin", media["long"])
    spin = await motion_named(h, "Spin")
    picker = (await open_menu(h, h.world.member_message(CHANNEL, [media["image"]]))).view
    assert isinstance(picker, Picker)
    picker.orientation = picker.allowed()[0]
    await picker.choose_orientation(h.interaction(USER, command=None), "image")
    start = h.interaction(USER, command=None)
    await picker.start(start)
    assert await h.services.jobs.recent(USER) == []
    assert "The motion **Spin** is 12 s." in (h.world.followups()[-1].content or "")
    restored = [s for s in h.world.sent if s.where == "original-edit"][-1]
    assert restored.view is picker and not picker.is_finished()
    assert picker.choice == f"#{spin.id}"


async def test_a_message_the_bot_cannot_read_back_is_used_like_an_upload(
    harness: Harness, media: dict[str, Path]
) -> None:
    """A user install in a server without the bot: its links are used as they are."""
    h = harness
    await h.add_motion("Wave", media["wave"])
    message = h.world.message(CHANNEL)
    message.attachments = [h.upload(media["image"])]
    picker = (await open_menu(h, message)).view
    assert isinstance(picker, Picker)
    await picker.start(h.interaction(USER, command=None))
    [job] = await h.services.jobs.recent(USER)
    assert job.image_source is None and job.video_source is not None
    assert not job.inputs_refreshable


# --------------------------------------------------------------------------------------------------
# Neither the queue's wait limit nor Retry's age limit binds inputs kept in messages


def kept(prefix: str, channel_id: int = CHANNEL) -> dict[str, int]:
    return {
        f"{prefix}_channel_id": channel_id,
        f"{prefix}_message_id": 555,
        f"{prefix}_attachment_id": 556,
    }


async def test_the_queue_wait_limit_spares_jobs_with_inputs_in_messages(
    make_harness: Any,
) -> None:
    h = await make_harness(queue_max_wait_seconds=60.0)
    old = time.time() - 3600
    refreshable = await add_job(h, created_at=old, **kept("image"), **kept("video"))
    half = await add_job(h, created_at=old, **kept("video"))
    upload = await add_job(h, created_at=old)
    await h.services.controls.set_global_paused(0, True)  # nothing is dispatched meanwhile
    await h.services.runner.start()
    assert (await until_finished(h, upload.id)).failure_code is FailureCode.EXPIRED_IN_QUEUE
    assert (await until_finished(h, half.id)).failure_code is FailureCode.EXPIRED_IN_QUEUE
    still = await h.services.jobs.get(refreshable.id)
    assert still is not None and still.state is JobState.QUEUED


async def test_retry_is_not_limited_by_age_for_jobs_with_inputs_in_messages(
    harness: Harness,
) -> None:
    h = harness
    long_ago = time.time() - 3 * DAY
    refreshable = await add_job(h, created_at=long_ago, **kept("image"), **kept("video"))
    upload = await add_job(h, created_at=long_ago)
    for job in (refreshable, upload):
        await move_job(h, job, JobState.FAILED, media_purged_at=time.time())
    again = await h.services.jobs.retry(refreshable.id, Requester(USER, GUILD))
    assert again.state is JobState.QUEUED and again.inputs_refreshable
    assert again.image_source == refreshable.image_source
    with pytest.raises(JobActionRefused):
        await h.services.jobs.retry(upload.id, Requester(USER, GUILD))


async def test_a_vanished_picture_fails_the_job(
    harness: Harness, fake: FakeModelsLab, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Wave", media["wave"])
    message = h.world.member_message(CHANNEL, [media["image"]])
    picker = (await open_menu(h, message)).view
    assert isinstance(picker, Picker)
    await picker.start(h.interaction(USER, command=None))
    [job] = await h.services.jobs.recent(USER)
    h.world.fail_fetches(CHANNEL, not_found(10008))  # deleted between queueing and submitting
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert (done.failure_code, done.failure_reason) == (FailureCode.INPUT_GONE, "image")
    assert done.charged_seconds == 0 and fake.submits() == []
    assert (await motion_named(h, "Wave")).available  # the motion is not to blame


async def test_the_picker_is_its_owners_and_closes_when_it_times_out(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    message = h.world.member_message(CHANNEL, [media["image"], media["dance"]])
    picker = (await open_menu(h, message)).view
    assert isinstance(picker, Picker)
    assert not await picker.interaction_check(h.interaction(USER + 1, command=None))
    assert h.world.followups()[-1].content == "This picker is someone else's."
    assert await picker.interaction_check(h.interaction(USER, command=None))
    await picker.cancel(h.interaction(USER, command=None))
    assert picker.is_finished() and await h.services.jobs.recent(USER) == []
    await picker.on_timeout()
    closed = [s for s in h.world.sent if s.where == "original-edit"][-1]
    assert "timed out" in (closed.content or "") and closed.view is None
