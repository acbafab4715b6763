"""DiscordNotifier: status messages (posted once, edited on change, throttled, replaced when
deleted), delivery as file / re-encode / link over channel, interaction and DM routes, and
failures of each route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from db.jobs import JobsRepository
from domain import FailureCode, Job, JobState
from services.notifier import Clip, StatusPosted
from tests.fakes.discord_fakes import (
    Harness,
    add_job,
    forbidden,
    move_job,
    not_found,
    server_error,
    too_large,
)
from tests.media_factory import make_noisy_video, make_video

MB = 1024 * 1024
CHANNEL, GUILD, USER = 100, 10, 1
CLIP_URL = "https://cdn.modelslab.com/output/clip.mp4"


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "result.mp4", seconds=3, fps=4)


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few MB: over a 1 MB upload limit, re-encodable under it."""
    return make_noisy_video(tmp_path_factory.mktemp("noisy") / "result.mp4")


async def delivering_job(h: Harness, **overrides: Any) -> Job:
    job = await add_job(h, **overrides)
    await h.notifier.job_queued(job, 1)
    job = await h.services.jobs.get(job.id)
    assert job is not None
    return await move_job(
        h, job, JobState.DELIVERING, result_url=CLIP_URL, processing_at=time.time()
    )


def clip_of(path: Path | None, url: str | None = CLIP_URL) -> Clip:
    size = path.stat().st_size if path is not None else None
    return Clip(path=path, url=url, size_bytes=size)


def results(h: Harness, channel_id: int = CHANNEL) -> list[Any]:
    """Messages in the channel other than status messages (which carry an embed)."""
    return [s for s in h.world.sent_in(channel_id) if s.embed is None]


# --------------------------------------------------------------------------------------------------
# Status message


async def test_status_is_posted_once_and_edited_only_when_it_changes(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    posted = await h.notifier.job_queued(job, 2)
    [status] = h.world.sent_in(CHANNEL)
    assert posted == StatusPosted(status.message_id)  # a fact for the engine to store
    await JobsRepository(h.services.db).set_status_message(job.id, status.message_id)
    stored = await h.services.jobs.get(job.id)
    assert stored is not None
    assert status.custom_ids == [f"job:cancel:{job.id}"]
    assert status.mentions_users == []  # the status message pings nobody

    await h.notifier.job_queued(stored, 2)
    assert h.world.edits == []

    await h.notifier.job_queued(stored, 1)
    [edit] = h.world.edits_of(status.message_id)
    assert edit.embed is not None and "Position in queue: **1**" in (edit.embed.description or "")


async def test_generating_shows_relative_timestamps_and_ignores_a_wobbling_eta(
    harness: Harness,
) -> None:
    h = harness
    job = await add_job(h)
    await h.notifier.job_queued(job, 1)
    job = await move_job(h, job, JobState.PROCESSING, provider_eta=300.0)
    await h.notifier.job_started(job)
    [started] = h.world.edits
    text = started.embed.description if started.embed else ""
    assert "Started <t:" in (text or "") and "Expected ready <t:" in (text or "")
    assert started.custom_ids == [f"job:cancel:{job.id}"]

    await h.notifier.job_progress(job, 10.0, 290.0)  # the same finish time, give or take
    assert len(h.world.edits) == 1
    await h.notifier.job_progress(job, 20.0, 900.0)  # ten minutes later than promised
    assert len(h.world.edits) == 2


async def test_changes_inside_the_edit_interval_are_held_and_the_newest_is_shown(
    make_harness: Callable[..., Any],
) -> None:
    h = await make_harness(status_edit_interval_seconds=0.1)
    job = await add_job(h)
    await h.notifier.job_queued(job, 3)  # posts
    await h.notifier.job_queued(job, 2)  # too soon after the post: held
    job = await move_job(h, job, JobState.PROCESSING)
    await h.notifier.job_started(job)  # replaces the held change
    assert h.world.edits == []
    await asyncio.sleep(0.15)
    [edit] = h.world.edits
    assert edit.embed is not None and edit.embed.title == "⚙️ Generating"


async def test_the_final_edit_is_never_held(make_harness: Callable[..., Any]) -> None:
    h = await make_harness(status_edit_interval_seconds=60)
    job = await add_job(h)
    await h.notifier.job_queued(job, 1)
    job = await move_job(h, job, JobState.FAILED)
    await h.notifier.job_failed(job, "provider_failed", "No person was found in the video.", False)
    [edit] = h.world.edits
    assert edit.embed is not None and edit.embed.title == "❌ Failed"
    assert edit.custom_ids == []


async def test_a_late_progress_report_does_not_undo_a_cancellation(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await h.notifier.job_queued(job, 1)
    job = await move_job(h, job, JobState.CANCELLED)
    await h.notifier.job_cancelled(job, by_user_id=USER)
    await h.notifier.job_progress(job, 30.0, 60.0)  # a poll that was already in flight
    assert [e.embed.title for e in h.world.edits if e.embed] == ["🚫 Cancelled"]


async def test_a_deleted_status_message_is_replaced(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await h.notifier.job_queued(job, 2)
    [first] = h.world.sent_in(CHANNEL)
    h.world.fail_edits(first.message_id, not_found(10008))

    posted = await h.notifier.job_queued(job, 1)

    [_, second] = h.world.sent_in(CHANNEL)
    assert posted == StatusPosted(second.message_id)
    assert "Position in queue: **1**" in second.text


async def test_status_in_a_forbidden_channel_goes_to_dms_and_the_channel_is_left_alone(
    harness: Harness,
) -> None:
    h = harness
    h.world.fail_sends(CHANNEL, forbidden(50001), always=True)
    first = await add_job(h)
    posted = await h.notifier.job_queued(first, 1)
    dm = h.world.dm_channel_id(USER)
    assert posted is not None
    assert [s.message_id for s in h.world.sent_in(dm)] == [posted.message_id]
    tries = h.world.calls.count(f"send:{CHANNEL}")
    second = await add_job(h)
    await h.notifier.job_queued(second, 2)
    assert h.world.calls.count(f"send:{CHANNEL}") == tries  # not hammered again
    assert len(h.world.sent_in(dm)) == 2


async def test_a_discord_outage_while_posting_status_does_not_raise(harness: Harness) -> None:
    h = harness
    h.world.fail_sends(CHANNEL, server_error())
    job = await add_job(h)
    posted = await h.notifier.job_queued(job, 1)  # must not raise: enqueueing goes on
    assert posted is None


# --------------------------------------------------------------------------------------------------
# Delivery


async def test_clip_is_posted_as_a_file_mentioning_the_user(
    harness: Harness, small_clip: Path
) -> None:
    h = harness
    job = await delivering_job(h)
    clip = clip_of(small_clip)
    receipt = await h.notifier.job_succeeded(job, clip)

    [posted] = results(h)
    assert (receipt.method, receipt.message_id, receipt.delivered) == (
        "file",
        posted.message_id,
        True,
    )
    assert posted.file_name == f"animation-{job.id}.mp4"
    assert posted.file_size == clip.size_bytes
    assert posted.content is not None and posted.content.startswith(f"<@{USER}> your animation")
    assert posted.mentions_users == [USER]
    assert posted.nonce == f"job-{job.id}"
    assert posted.custom_ids == [f"job:retry:{job.id}", f"job:other:{job.id}"]
    [done] = h.world.edits
    assert done.embed is not None and done.embed.title == "✅ Done" and done.custom_ids == []


async def test_a_recorded_delivery_is_not_posted_again(harness: Harness, small_clip: Path) -> None:
    h = harness
    job = await delivering_job(h)
    job = replace(job, result_message_id=4242, delivery="file")
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert (receipt.method, receipt.message_id) == ("file", 4242)
    assert results(h) == []


async def test_too_large_for_the_server_is_reencoded_to_fit(
    harness: Harness, noisy_clip: Path
) -> None:
    h = harness
    h.world.guild_upload_limits[GUILD] = 1 * MB
    clip = clip_of(noisy_clip)
    assert clip.size_bytes is not None and clip.size_bytes > 1 * MB
    job = await delivering_job(h)
    receipt = await h.notifier.job_succeeded(job, clip)

    [posted] = results(h)
    assert receipt.method == "reencoded"
    assert posted.file_size is not None and posted.file_size <= 1 * MB
    assert "made smaller" in (posted.content or "") and CLIP_URL in (posted.content or "")
    leftovers = await asyncio.to_thread(lambda: sorted(p.name for p in noisy_clip.parent.iterdir()))
    assert leftovers == ["result.mp4"]  # the re-encode was removed after posting


async def test_when_no_reencode_fits_the_link_is_posted_with_its_expiry(
    harness: Harness, noisy_clip: Path
) -> None:
    h = harness
    h.world.guild_upload_limits[GUILD] = 8_000
    job = await delivering_job(h)
    receipt = await h.notifier.job_succeeded(job, clip_of(noisy_clip))
    [posted] = results(h)
    assert receipt.method == "link" and posted.file_name is None
    content = posted.content or ""
    assert CLIP_URL in content and "The link expires <t:" in content and "save it" in content
    expires = int(content.split("The link expires <t:")[1].split(":")[0])
    assert expires == pytest.approx(time.time() + 24 * 3600, abs=60)


async def test_without_a_local_copy_the_link_is_posted(harness: Harness) -> None:
    h = harness
    job = await delivering_job(h)
    receipt = await h.notifier.job_succeeded(job, clip_of(None))
    assert receipt.method == "link"
    assert CLIP_URL in (results(h)[0].content or "")


async def test_discord_refusing_the_size_falls_back(harness: Harness, small_clip: Path) -> None:
    h = harness
    job = await delivering_job(h)
    h.world.fail_sends(CHANNEL, too_large(), too_large())  # the file, then its re-encode
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert receipt.method == "link"


async def test_the_interactions_larger_limit_is_used_while_it_is_valid(
    harness: Harness, noisy_clip: Path
) -> None:
    h = harness
    h.world.guild_upload_limits[GUILD] = 1 * MB
    job = await delivering_job(h)
    interaction = h.interaction(USER, filesize_limit=50 * MB)
    h.notifier.remember_interaction(job.id, interaction)

    clip = clip_of(noisy_clip)
    receipt = await h.notifier.job_succeeded(job, clip)

    assert receipt.method == "interaction-file"
    [posted] = [s for s in h.world.followups() if s.file_name]
    assert posted.file_size == clip.size_bytes and not posted.ephemeral
    assert posted.mentions_users == [USER]


async def test_forbidden_channel_falls_back_to_the_interaction(
    harness: Harness, small_clip: Path
) -> None:
    h = harness
    job = await delivering_job(h)
    h.notifier.remember_interaction(job.id, h.interaction(USER))
    h.world.fail_sends(CHANNEL, forbidden(50013), always=True)
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert receipt.method == "interaction-file" and receipt.delivered


async def test_forbidden_channel_without_interaction_falls_back_to_dm(
    harness: Harness, small_clip: Path
) -> None:
    h = harness
    job = await delivering_job(h)
    h.world.fail_sends(CHANNEL, forbidden(50001), always=True)
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert receipt.method == "dm-file"
    [posted] = [s for s in h.world.sent_in(h.world.dm_channel_id(USER)) if s.file_name]
    assert posted.nonce == f"job-{job.id}" and posted.mentions_users == [USER]


async def test_an_expired_interaction_is_not_used(harness: Harness, small_clip: Path) -> None:
    h = harness
    job = await delivering_job(h)
    old = h.interaction(USER, age=timedelta(minutes=16))
    h.notifier.remember_interaction(job.id, old)
    h.world.fail_sends(CHANNEL, forbidden(), always=True)
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert receipt.method == "dm-file"
    assert old.followup.send.await_count == 0


async def test_deleted_channel_and_closed_dms_mean_undelivered(
    harness: Harness, small_clip: Path
) -> None:
    h = harness
    job = await delivering_job(h)
    h.world.fail_sends(CHANNEL, not_found(10003), always=True)
    h.world.fail_dms(USER, forbidden(50007))
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert (receipt.method, receipt.message_id, receipt.delivered) == ("undelivered", None, False)


async def test_a_discord_outage_raises_so_the_runner_retries(
    harness: Harness, small_clip: Path
) -> None:
    h = harness
    job = await delivering_job(h)
    h.world.fail_sends(CHANNEL, server_error())
    with pytest.raises(discord.DiscordServerError):
        await h.notifier.job_succeeded(job, clip_of(small_clip))
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))  # the retry
    assert receipt.method == "file"


async def test_dm_jobs_are_delivered_in_the_dm(harness: Harness, small_clip: Path) -> None:
    h = harness
    dm = h.world.dm_channel_id(USER)
    job = await delivering_job(h, guild_id=None, channel_id=dm)
    receipt = await h.notifier.job_succeeded(job, clip_of(small_clip))
    assert receipt.method == "file"
    assert [s.file_name for s in results(h, dm)] == [f"animation-{job.id}.mp4"]


# --------------------------------------------------------------------------------------------------
# Failures and alerts


async def test_failure_is_explained_and_says_nothing_was_charged(harness: Harness) -> None:
    h = harness
    job = await add_job(h)
    await h.notifier.job_queued(job, 1)
    # A reason with no coaching (tests/test_coaching.py covers the coached ones) is shown as is.
    code, detail = FailureCode.PROVIDER_FAILED, "the render server crashed"
    job = await move_job(h, job, JobState.FAILED, failure_code=code, failure_reason=detail)
    reason = "ModelsLab could not make it: the render server crashed"
    await h.notifier.job_failed(job, code, detail, False)

    [edit] = h.world.edits
    assert edit.embed is not None and reason in (edit.embed.description or "")
    assert "Nothing was charged." in (edit.embed.description or "")
    [notice] = results(h)
    assert (notice.content or "").startswith(f"<@{USER}> job #{job.id} didn't work out.")
    assert reason in (notice.content or "") and "Nothing was charged." in (notice.content or "")
    assert notice.custom_ids == [f"job:retry:{job.id}", f"job:other:{job.id}"]
    assert notice.mentions_users == [USER] and notice.nonce == f"fail-{job.id}"


async def test_failure_notice_falls_back_to_dm(harness: Harness) -> None:
    h = harness
    code = FailureCode.TIMEOUT
    job = await move_job(h, await add_job(h), JobState.FAILED, failure_code=code)
    h.world.fail_sends(CHANNEL, forbidden(50013), always=True)
    await h.notifier.job_failed(job, code, None, False)
    [notice] = h.world.sent_in(h.world.dm_channel_id(USER))
    assert "Generation took too long" in (notice.content or "")
