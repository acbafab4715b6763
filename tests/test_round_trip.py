"""End to end: /animate on a fake interaction -> job queued -> the real Runner (built by
build_services with DiscordNotifier) against the fake ModelsLab -> the clip posted as a file that
mentions the user, the status message walked through its states, the quota charged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from domain import Job, JobState
from services.quota import Requester
from tests.fakes.discord_fakes import Harness, forbidden
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab
from tests.media_factory import make_image, make_video

USER, GUILD, CHANNEL = 1, 10, 100


@pytest.fixture(scope="module")
def result_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real MP4 for the fake provider to hand back."""
    return make_video(tmp_path_factory.mktemp("out") / "out.mp4", seconds=3, fps=4).read_bytes()


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


async def start_animation(h: Harness, tmp_path: Path, **interaction_kw: object) -> Job:
    image = h.upload(make_image(tmp_path / "hero.png"))
    video = h.upload(make_video(tmp_path / "dance.mp4", seconds=4, fps=4))
    await h.animate(h.interaction(USER, **interaction_kw), image, video, mode="pro")  # type: ignore[arg-type]
    [job] = await h.services.jobs.recent(USER)
    assert job.state is JobState.QUEUED
    return job


async def test_interaction_to_clip_posted_as_a_file(
    harness: Harness, fake: FakeModelsLab, result_clip: bytes, tmp_path: Path
) -> None:
    h = harness
    fake.set_clip(result_clip)
    job = await start_animation(h, tmp_path)
    [status] = h.world.sent_in(CHANNEL)
    assert "Job #" in (h.world.followups()[0].content or "")

    await h.services.runner.start()
    done = await until_finished(h, job.id)

    assert done.state is JobState.SUCCEEDED
    [submit] = fake.submits()
    assert submit.json["init_image"] == job.image_url and submit.json["mode"] == "pro"
    [clip] = [s for s in h.world.sent_in(CHANNEL) if s.file_name]
    assert clip.content is not None and clip.content.startswith(f"<@{USER}> your animation")
    assert clip.mentions_users == [USER] and clip.file_size == len(result_clip)
    assert clip.custom_ids == [f"job:retry:{job.id}", f"job:other:{job.id}", f"job:sbs:{job.id}"]
    assert (done.delivery, done.result_message_id) == ("file", clip.message_id)
    # The 4 s reference reserved 8 s (pro); the clip that arrived is 3 s long: 6 s charged.
    assert done.cost_seconds == 8.0 and done.charged_seconds == 6.0

    titles = [e.embed.title for e in h.world.edits_of(status.message_id) if e.embed]
    assert titles[0] == "⚙️ Generating" and titles[-1] == "✅ Done"
    final = h.world.edits_of(status.message_id)[-1].embed
    assert final is not None and "Charged 6 s of quota" in (final.description or "")
    usage = await h.services.quota.usage(Requester(USER, GUILD))
    assert usage.used_today == 6.0 and usage.active_jobs == 0


async def test_round_trip_when_the_channel_refuses_falls_back_to_the_interaction(
    harness: Harness, fake: FakeModelsLab, result_clip: bytes, tmp_path: Path
) -> None:
    h = harness
    fake.set_clip(result_clip)
    h.world.fail_sends(CHANNEL, forbidden(50013), always=True)  # e.g. a user install
    job = await start_animation(h, tmp_path)
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert done.state is JobState.SUCCEEDED and done.delivery == "interaction-file"
    [clip] = [s for s in h.world.followups() if s.file_name]
    assert not clip.ephemeral and clip.mentions_users == [USER]


async def test_round_trip_in_a_dm(
    harness: Harness, fake: FakeModelsLab, result_clip: bytes, tmp_path: Path
) -> None:
    h = harness
    fake.set_clip(result_clip)
    dm = h.world.dm_channel_id(USER)
    job = await start_animation(h, tmp_path, guild_id=None, channel_id=dm)
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert (done.state, done.guild_id, done.delivery) == (JobState.SUCCEEDED, None, "file")
    assert [s.file_name for s in h.world.sent_in(dm) if s.file_name] == [f"animation-{job.id}.mp4"]


async def test_round_trip_failure_is_told_and_not_charged(
    harness: Harness, fake: FakeModelsLab, tmp_path: Path
) -> None:
    h = harness
    fake.queue_next(FakeJobSpec(outcome="failed", failure_message="No person detected"))
    job = await start_animation(h, tmp_path)
    await h.services.runner.start()
    done = await until_finished(h, job.id)
    assert done.state is JobState.FAILED and done.charged_seconds == 0
    [notice] = [s for s in h.world.sent_in(CHANNEL) if s.embed is None]
    # A known input problem is coached in plain words; the provider's words stay in the log.
    assert "whole body" in (notice.content or "")
    assert "No person detected" not in (notice.content or "")
    assert "Nothing was charged." in (notice.content or "")
    usage = await h.services.quota.usage(Requester(USER, GUILD))
    assert usage.used_today == 0
