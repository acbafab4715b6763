"""Shared fixtures: settings with shrunk timings, a real migrated SQLite file, the fake provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from db.connection import Database, open_database
from settings import Secret, Settings
from tests.fakes.notifier import RecordingNotifier

DISCORD_TOKEN = "discord-token-for-tests-only"
API_KEY = "test-key"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        base = Settings(
            discord_token=Secret(DISCORD_TOKEN),
            modelslab_api_key=Secret(API_KEY),
            database_path=tmp_path / "bot.db",
            media_dir=tmp_path / "media",
            poll_interval_min_seconds=0.01,
            poll_interval_max_seconds=0.05,
            job_timeout_seconds=5.0,
            status_edit_interval_seconds=0.0,
            request_timeout_seconds=2.0,
            submit_timeout_seconds=2.0,
            operator_pause_seconds=0.2,
            transient_retry_limit=4,
            quota_daily_seconds=60,
            quota_monthly_seconds=600,
            quota_max_active_jobs=3,
        )
        return replace(base, **overrides)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(tmp_path / "bot.db")
    yield database
    await database.close()


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    from tests.fakes.modelslab_server import FakeModelsLab

    server = FakeModelsLab(api_key=API_KEY)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()
