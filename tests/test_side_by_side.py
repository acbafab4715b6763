"""Side by side: the motion reference and the generated clip in one video, same height and time,
fitted to the upload limit; the owner's button, once per clip, after a restart too."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from cogs.buttons import run_job_action
from cogs.side_by_side import SideBySideButton, run_side_by_side
from db.connection import Database
from domain import Job, JobState
from services.media import probe_video
from services.side_by_side import make_side_by_side
from tests.fakes.discord_fakes import (
    FakeCdn,
    Harness,
    add_job,
    build_harness,
    move_job,
    server_error,
)
from tests.fakes.modelslab_server import FakeModelsLab
from tests.media_factory import make_noisy_video, make_video
from tests.test_round_trip import result_clip, start_animation, until_finished  # noqa: F401

OWNER, STRANGER, CHANNEL = 1, 2, 100


# --------------------------------------------------------------------------------------------------
# The video


@pytest.mark.parametrize(
    ("ref_size", "clip_size"),
    [((480, 640), (720, 960)), ((640, 480), (480, 640)), ((360, 640), (360, 640))],
)
def test_two_panels_same_height_and_the_clip_length(
    tmp_path: Path, ref_size: tuple[int, int], clip_size: tuple[int, int]
) -> None:
    ref = make_video(tmp_path / "ref.mp4", width=ref_size[0], height=ref_size[1], seconds=4)
    clip = make_video(
        tmp_path / "clip.mp4", width=clip_size[0], height=clip_size[1], seconds=3, fps=8
    )
    made = make_side_by_side(ref, clip, tmp_path / "sbs.mp4", 2_000_000)
    info = probe_video(made.path)
    assert abs(info.width - 2 * made.panel_width) <= 4
    assert info.height == made.height == min(ref_size[1], clip_size[1])
    assert info.duration_seconds == pytest.approx(3.0, abs=0.2)
    assert not info.has_audio and info.size_bytes <= 2_000_000


def test_a_reference_shorter_than_the_clip_holds_its_last_frame(tmp_path: Path) -> None:
    ref = make_video(tmp_path / "ref.mp4", seconds=1, fps=4)
    clip = make_video(tmp_path / "clip.mp4", seconds=4, fps=5)
    made = make_side_by_side(ref, clip, tmp_path / "sbs.mp4", 2_000_000)
    assert probe_video(made.path).duration_seconds == pytest.approx(4.0, abs=0.2)


def test_fits_the_limit_given(tmp_path: Path) -> None:
    ref = make_noisy_video(tmp_path / "ref.mp4", width=320, height=240, seconds=3)
    clip = make_noisy_video(tmp_path / "clip.mp4", width=320, height=240, seconds=3)
    assert ref.stat().st_size + clip.stat().st_size > 1_000_000
    made = make_side_by_side(ref, clip, tmp_path / "sbs.mp4", 250_000)
    assert made.path.stat().st_size <= 250_000
    assert probe_video(made.path).duration_seconds == pytest.approx(3.0, abs=0.2)


def test_an_impossible_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    ref = make_video(tmp_path / "ref.mp4", seconds=3)
    clip = make_video(tmp_path / "clip.mp4", seconds=3)
    with pytest.raises(ValueError, match="does not fit"):
        make_side_by_side(ref, clip, tmp_path / "sbs.mp4", 20_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "ref.mp4"]


# --------------------------------------------------------------------------------------------------
# The button


def test_custom_id_round_trips_through_the_template() -> None:
    button = SideBySideButton(2**63 - 1)
    assert len(button.custom_id) <= 100 and button.template.fullmatch(button.custom_id)


async def delivered(h: Harness) -> Job:
    """A succeeded job whose reference and clip are kept under MEDIA_DIR."""
    folder = h.settings.media_dir / "job-files"
    folder.mkdir(parents=True, exist_ok=True)
    ref = make_video(folder / "ref.mp4", seconds=4)
    job = await add_job(h, video_path=str(ref))
    clip = make_video(folder / f"result-{job.id}.mp4", seconds=3, fps=8)
    return await move_job(h, job, JobState.SUCCEEDED, result_path=str(clip))


def last_reply(h: Harness) -> str:
    [*_, last] = h.world.followups()
    assert last.ephemeral
    return last.content or ""


def posted(h: Harness, job_id: int) -> list[str]:
    name = f"side-by-side-{job_id}.mp4"
    return [s.content or "" for s in h.world.sent_in(CHANNEL) if s.file_name == name]


async def test_the_owner_gets_it_once_as_a_reply(harness: Harness) -> None:
    h = harness
    job = await delivered(h)
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert last_reply(h) == f"Posted the side-by-side video of job #{job.id}."
    [content] = posted(h, job.id)
    assert "motion on the left" in content
    sent = h.world.channel(CHANNEL).send.await_args
    assert sent is not None and "reference" in sent.kwargs
    stored = await h.services.jobs.get(job.id)
    assert stored is not None and stored.side_by_side_at is not None
    assert stored.charged_seconds == job.charged_seconds  # costs no quota
    assert not any(p.name.startswith("side-by-side") for p in h.settings.media_dir.rglob("*"))

    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert last_reply(h) == f"The side-by-side video of job #{job.id} was already posted."
    assert len(posted(h, job.id)) == 1


async def test_only_the_owner_may_press(harness: Harness) -> None:
    job = await delivered(harness)
    await run_side_by_side(harness.interaction(STRANGER, command=None), job.id)
    assert last_reply(harness).startswith("Only the person who started")
    assert posted(harness, job.id) == []


async def test_purged_media_is_said_plainly(harness: Harness) -> None:
    job = await delivered(harness)
    Path(job.video_path).unlink()  # noqa: ASYNC240 - test set-up
    await run_side_by_side(harness.interaction(OWNER, command=None), job.id)
    assert "no longer kept" in last_reply(harness)
    stored = await harness.services.jobs.get(job.id)
    assert stored is not None and stored.side_by_side_at is None


async def test_a_failed_post_gives_the_press_back(harness: Harness) -> None:
    h = harness
    job = await delivered(h)
    h.world.fail_sends(CHANNEL, RuntimeError("outage"))
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert "Something went wrong" in last_reply(h)
    stored = await h.services.jobs.get(job.id)
    assert stored is not None and stored.side_by_side_at is None
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert len(posted(h, job.id)) == 1


async def test_works_after_a_restart_and_remembers_it_was_made(
    harness: Harness, db: Database, session: aiohttp.ClientSession, cdn: FakeCdn
) -> None:
    job = await delivered(harness)
    restarted = await build_harness(settings=harness.settings, db=db, session=session, cdn=cdn)
    await run_side_by_side(restarted.interaction(OWNER, command=None), job.id)
    assert len(posted(restarted, job.id)) == 1
    again = await build_harness(settings=harness.settings, db=db, session=session, cdn=cdn)
    await run_side_by_side(again.interaction(OWNER, command=None), job.id)
    assert "already posted" in last_reply(again)


async def test_on_the_delivered_clip_and_on_a_retry_result(
    harness: Harness,
    fake: FakeModelsLab,
    result_clip: bytes,  # noqa: F811
    tmp_path: Path,
) -> None:
    h = harness
    fake.set_clip(result_clip)
    job = await start_animation(h, tmp_path)
    await h.services.runner.start()
    await until_finished(h, job.id)
    [clip] = [s for s in h.world.sent_in(CHANNEL) if s.file_name == f"animation-{job.id}.mp4"]
    assert f"job:sbs:{job.id}" in clip.custom_ids

    await run_job_action(h.interaction(OWNER, command=None), "retry", job.id)
    [retry] = [j for j in await h.services.jobs.recent(OWNER) if j.retry_of == job.id]
    done = await until_finished(h, retry.id)
    assert done.state is JobState.SUCCEEDED
    [again] = [s for s in h.world.sent_in(CHANNEL) if s.file_name == f"animation-{retry.id}.mp4"]
    assert f"job:sbs:{retry.id}" in again.custom_ids
    await run_side_by_side(h.interaction(OWNER, command=None), retry.id)
    assert len(posted(h, retry.id)) == 1
    made = next(
        s for s in h.world.sent_in(CHANNEL) if s.file_name == f"side-by-side-{retry.id}.mp4"
    )
    assert made.file_size is not None and made.file_size <= h.world.guild(10).filesize_limit


# --------------------------------------------------------------------------------------------------
# A motion reference fetched again from its message (library motions, purged uploads)


async def delivered_from(h: Harness, tmp_path: Path, **job: object) -> Job:
    """A succeeded job whose clip is kept; the reference is wherever `job` says."""
    folder = h.settings.media_dir / "job-files"
    folder.mkdir(parents=True, exist_ok=True)
    made = await add_job(h, **job)
    clip = make_video(folder / f"result-{made.id}.mp4", seconds=3, fps=8)
    return await move_job(h, made, JobState.SUCCEEDED, result_path=str(clip))


def leftovers(h: Harness) -> list[str]:
    return [p.name for p in h.settings.media_dir.rglob("side-by-side*")]


async def test_a_library_motion_is_fetched_again_from_its_message(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    await h.add_motion("Wave", make_video(tmp_path / "wave.mp4", seconds=4, fps=4))
    [motion] = (await h.services.motions.library(10)).own
    # A day later the link stored when the motion was added is dead: only the message works.
    h.cdn.advance(25 * 3600)
    job = await delivered_from(
        h,
        tmp_path,
        video_path="",
        motion_id=motion.id,
        video_channel_id=motion.source.channel_id,
        video_message_id=motion.source.message_id,
        video_attachment_id=motion.source.attachment_id,
    )
    calls_before = len(h.world.calls)
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert last_reply(h) == f"Posted the side-by-side video of job #{job.id}."
    [made] = [s for s in h.world.sent_in(CHANNEL) if s.file_name == f"side-by-side-{job.id}.mp4"]
    assert made.file_size is not None and made.file_size <= h.world.guild(10).filesize_limit
    after = h.world.calls[calls_before:]
    fetch = after.index(f"fetch:{motion.source.message_id}")
    assert (
        after.index("cdn:motion-wave.mp4") > fetch
    )  # streamed from the fresh link, after the fetch
    assert leftovers(h) == []  # neither the fetched reference nor the made video is kept


async def test_a_purged_upload_with_a_known_message_is_fetched_again(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    message = h.world.member_message(CHANNEL, [make_video(tmp_path / "dance.mp4", seconds=4)])
    [attachment] = message.attachments
    job = await delivered_from(
        h,
        tmp_path,
        video_path=str(h.settings.media_dir / "gone" / "video.input"),  # no longer on disk
        video_channel_id=CHANNEL,
        video_message_id=message.id,
        video_attachment_id=attachment.id,
    )
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert len(posted(h, job.id)) == 1
    assert f"fetch:{message.id}" in h.world.calls


async def test_a_vanished_motion_message_or_an_outage_gives_the_press_back(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    message = h.world.member_message(CHANNEL, [make_video(tmp_path / "dance.mp4", seconds=4)])
    [attachment] = message.attachments
    job = await delivered_from(
        h,
        tmp_path,
        video_path="",
        video_channel_id=CHANNEL,
        video_message_id=message.id,
        video_attachment_id=attachment.id,
    )
    h.world.fail_fetches(CHANNEL, server_error())
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert last_reply(h).startswith("**Try again later**: I couldn't fetch the motion")
    stored = await h.services.jobs.get(job.id)
    assert stored is not None and stored.side_by_side_at is None

    h.world.delete_message(CHANNEL, message.id)
    await run_side_by_side(h.interaction(OWNER, command=None), job.id)
    assert "no longer kept" in last_reply(h)
    assert posted(h, job.id) == [] and leftovers(h) == []
    stored = await h.services.jobs.get(job.id)
    assert stored is not None and stored.side_by_side_at is None
