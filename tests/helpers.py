"""Small builders shared by tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from db.jobs import JobsRepository
from domain import JobState, NewJob

_BASE = NewJob(
    user_id=1,
    guild_id=10,
    channel_id=100,
    image_url="http://127.0.0.1/image.png",
    image_path="/nonexistent/image.png",
    image_kind="png",
    image_bytes=1000,
    image_width=512,
    image_height=768,
    video_url="http://127.0.0.1/video.mp4",
    video_path="/nonexistent/video.mp4",
    video_kind="mp4",
    video_bytes=2000,
    video_width=480,
    video_height=640,
    video_seconds=4.2,
    orientation="image",
    mode="std",
    prompt="dance",
    model_id="kling-motion-control",
    cost_seconds=5.0,
    created_at=1_000.0,
)


def new_job(**overrides: Any) -> NewJob:
    return replace(_BASE, **overrides)


# The way each state is reached from `queued`, through allowed moves only.
_PATH_TO = {
    JobState.SUBMITTING: (JobState.SUBMITTING,),
    JobState.PROCESSING: (JobState.SUBMITTING, JobState.PROCESSING),
    JobState.DELIVERING: (JobState.SUBMITTING, JobState.PROCESSING, JobState.DELIVERING),
    JobState.SUCCEEDED: (
        JobState.SUBMITTING,
        JobState.PROCESSING,
        JobState.DELIVERING,
        JobState.SUCCEEDED,
    ),
    JobState.FAILED: (JobState.FAILED,),
    JobState.CANCELLED: (JobState.CANCELLED,),
}


async def walk_to(
    repo: JobsRepository, job_id: int, state: JobState, now: float, **changes: Any
) -> bool:
    """Move a queued job to `state` through the allowed moves; `changes` go with the last."""
    path = _PATH_TO[state]
    current = JobState.QUEUED
    for step in path[:-1]:
        if not await repo.transition(job_id, current, step, now):
            return False
        current = step
    return await repo.transition(job_id, current, path[-1], now, **changes)
