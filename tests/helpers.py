"""Small builders shared by tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain import NewJob

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
