"""Charging what arrived: the delivered clip's real length (rounded up, pro multiplied), never
more than was reserved, nothing when it did not arrive."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cogs.status import done_card
from domain import Job, JobState, Mode, Orientation
from services.charges import charge_for, clip_seconds
from tests.fakes.modelslab_server import FakeModelsLab
from tests.media_factory import make_text_as_video, make_video
from tests.test_runner import Engine, make_engine  # noqa: F401 - the fixture

_JOB = Job(
    id=1,
    user_id=1,
    guild_id=10,
    channel_id=100,
    image_url="u",
    image_path="p",
    image_kind="png",
    image_bytes=1,
    image_width=512,
    image_height=768,
    video_url="u",
    video_path="p",
    video_kind="mp4",
    video_bytes=1,
    video_width=480,
    video_height=640,
    video_seconds=4.2,
    orientation=Orientation.IMAGE,
    mode=Mode.STD,
    prompt="dance",
    model_id="m",
    cost_seconds=5.0,
    created_at=0.0,
    state=JobState.DELIVERING,
    status_message_id=None,
    result_message_id=None,
    delivery=None,
    provider_job_id="9",
    provider_eta=None,
    attempts=1,
    polls=1,
    transient_errors=0,
    next_attempt_at=None,
    deadline_at=None,
    charged_seconds=0.0,
    result_url=None,
    result_path=None,
    failure_code=None,
    failure_reason=None,
    submitting_at=None,
    processing_at=None,
    delivering_at=None,
    finished_at=None,
    media_purged_at=None,
)


@pytest.mark.parametrize(
    ("seconds", "mode", "cost", "expected"),
    [
        (3.0, Mode.STD, 5.0, 3.0),  # shorter than reserved: the clip's length
        (3.2, Mode.STD, 5.0, 4.0),  # rounded up to the second
        (3.0004, Mode.STD, 5.0, 3.0),  # container rounding is not a second more
        (3.0, Mode.PRO, 10.0, 6.0),  # pro multiplied
        (7.0, Mode.STD, 5.0, 5.0),  # never more than was reserved
        (None, Mode.STD, 5.0, 5.0),  # not measurable: the reservation
    ],
)
def test_charge_is_the_clip_length_capped_by_the_reservation(
    seconds: float | None, mode: Mode, cost: float, expected: float
) -> None:
    job = replace(_JOB, mode=mode, cost_seconds=cost)
    assert charge_for(job, seconds, 2.0, delivered=True) == expected


def test_nothing_is_charged_for_a_clip_that_did_not_arrive() -> None:
    assert charge_for(_JOB, 3.0, 2.0, delivered=False) == 0.0


def test_clip_seconds_probes_a_real_clip_and_gives_up_on_junk(tmp_path: Path) -> None:
    seconds = clip_seconds(make_video(tmp_path / "c.mp4", seconds=3, fps=4))
    assert seconds == pytest.approx(3.0, abs=0.3)
    assert clip_seconds(make_text_as_video(tmp_path / "junk.mp4")) is None
    assert clip_seconds(None) is None


def test_done_card_says_what_was_charged() -> None:
    shorter = done_card(_JOB, None, 3.0).embed.description or ""
    assert "Charged 3 s of quota" in shorter and "5 s reserved" in shorter
    assert "Charged 5 s of quota." in (done_card(_JOB, None, 5.0).embed.description or "")
    assert "Nothing was charged." in (done_card(_JOB, None, 0.0).embed.description or "")


async def test_a_short_clip_is_charged_its_own_length(
    make_engine,  # noqa: F811
    fake: FakeModelsLab,
    tmp_path: Path,
) -> None:
    fake.set_clip(make_video(tmp_path / "short.mp4", seconds=3, fps=4).read_bytes())
    engine: Engine = await make_engine()
    job_id = await engine.add()  # reserves 5 s (a 4.2 s reference)
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert job.cost_seconds == 5.0 and job.charged_seconds == 3.0
    ((_, clip),) = engine.notifier.delivered
    assert clip.charge_seconds == 3.0


async def test_a_short_pro_clip_is_charged_its_length_times_the_multiplier(
    make_engine,  # noqa: F811
    fake: FakeModelsLab,
    tmp_path: Path,
) -> None:
    fake.set_clip(make_video(tmp_path / "short.mp4", seconds=3, fps=4).read_bytes())
    engine: Engine = await make_engine(pro_cost_multiplier=2.0)
    job_id = await engine.add(mode="pro", cost_seconds=10.0)
    await engine.services.runner.start()
    job = await engine.until(job_id, JobState.SUCCEEDED)
    assert job.charged_seconds == 6.0
