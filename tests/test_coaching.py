"""Failure coaching: provider refusals and failures that match Kling's input advice are told in
plain words with what to change; the raw reason stays in the log."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from cogs.status import failure_text, failure_words
from domain import FailureCode, Job, JobState
from services.coaching import Advice, advice_for
from tests.fakes.discord_fakes import Harness, add_job
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab, FakeResponse
from tests.test_charges import _JOB

CHANNEL = 100


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ("No human detected in the image", Advice.FULL_BODY),
        ("Failed to detect human pose in the image", Advice.FULL_BODY),
        ("Full body not visible in the image", Advice.FULL_BODY),
        ("The character's body is cut off", Advice.FULL_BODY),
        ("Multiple people detected in the video", Advice.SEVERAL_PEOPLE),
        ("More than one person found in the image", Advice.SEVERAL_PEOPLE),
        ("Only one person is allowed in the reference video", Advice.SEVERAL_PEOPLE),
        ("Scene cut detected in the reference video", Advice.CUT_OR_CAMERA_MOVE),
        ("The video contains multiple cuts", Advice.CUT_OR_CAMERA_MOVE),
        ("Camera movement too large", Advice.CUT_OR_CAMERA_MOVE),
        ("The character is too small in the image", Advice.CHARACTER_TOO_SMALL),
        ("The person in the image is too small", Advice.CHARACTER_TOO_SMALL),
        ("The subject occupies less than 5% of the image", Advice.CHARACTER_TOO_SMALL),
    ],
)
@pytest.mark.parametrize("code", [FailureCode.INPUT, FailureCode.PROVIDER_FAILED])
def test_reasons_map_to_advice(reason: str, advice: Advice, code: FailureCode) -> None:
    assert advice_for(code, reason) is advice


@pytest.mark.parametrize(
    "reason",
    [
        "Video generation failed, please try again.",
        "Unable to fetch image from provided URL",
        "Image dimensions too small",
        "",
        None,
    ],
)
def test_unknown_reasons_have_no_advice(reason: str | None) -> None:
    assert advice_for(FailureCode.PROVIDER_FAILED, reason) is None


def test_only_input_problems_are_coached() -> None:
    assert advice_for(FailureCode.TIMEOUT, "Multiple people detected") is None
    assert advice_for(None, "Multiple people detected") is None


def _failed(code: FailureCode, reason: str | None) -> Job:
    return replace(_JOB, state=JobState.FAILED, failure_code=code, failure_reason=reason)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("No human detected in the image", "whole body"),
        ("Multiple people detected in the video", "more than one person"),
        ("Scene cut detected in the reference video", "continuous shot"),
        ("The character is too small in the image", "too small in the picture"),
    ],
)
def test_coached_failure_says_what_and_how_without_the_raw_reason(reason: str, words: str) -> None:
    job = _failed(FailureCode.PROVIDER_FAILED, reason)
    text = failure_words(job)
    assert words in text and "/animate again" in text
    assert reason not in text
    notice = failure_text(job, text, charged=False)
    assert "Nothing was charged." in notice and "Press Retry" not in notice


def test_unknown_reason_is_shown_as_before() -> None:
    job = _failed(FailureCode.PROVIDER_FAILED, "Video generation failed, please try again.")
    text = failure_words(job)
    assert text == "ModelsLab could not make it: Video generation failed, please try again."
    assert "Press Retry" in failure_text(job, text, charged=False)


async def _until_failed(h: Harness, job_id: int) -> Job:
    for _ in range(500):
        job = await h.services.jobs.get(job_id)
        assert job is not None
        if job.state is JobState.FAILED and not h.services.runner.is_working_on(job_id):
            return job
        await asyncio.sleep(0.01)
    raise AssertionError("job did not fail")


async def test_submit_refusal_is_coached_end_to_end(
    harness: Harness, fake: FakeModelsLab, caplog: pytest.LogCaptureFixture
) -> None:
    raw = "Multiple people detected in the reference video"
    fake.script_faults("submit", [FakeResponse(400, {"status": "error", "message": raw})])
    job = await add_job(harness)
    with caplog.at_level(logging.INFO):
        await harness.services.runner.start()
        failed = await _until_failed(harness, job.id)
    assert failed.failure_code is FailureCode.INPUT and failed.failure_reason == raw
    [notice] = [s for s in harness.world.sent_in(CHANNEL) if "didn't work out" in (s.text or "")]
    assert "more than one person" in notice.text and raw not in notice.text
    assert any(raw in r.getMessage() and "several_people" in r.getMessage() for r in caplog.records)


async def test_provider_failure_is_coached_end_to_end(
    harness: Harness, fake: FakeModelsLab
) -> None:
    raw = "No human body detected in the character image"
    fake.queue_next(FakeJobSpec(outcome="failed", failure_message=raw))
    job = await add_job(harness)
    await harness.services.runner.start()
    failed = await _until_failed(harness, job.id)
    assert failed.failure_code is FailureCode.PROVIDER_FAILED
    [notice] = [s for s in harness.world.sent_in(CHANNEL) if "didn't work out" in (s.text or "")]
    assert "whole body" in notice.text and raw not in notice.text
    final = harness.world.edits_of(failed.status_message_id or 0)[-1].embed
    assert final is not None and "whole body" in (final.description or "")
    assert raw not in (final.description or "")
