"""Shared fixtures: settings with shrunk timings, a real migrated SQLite file, the fake provider,
and the Discord-layer harness (fake CDN, fake Discord, real services) built on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from db.connection import Database
from settings import Secret, Settings
from tests.fakes.notifier import RecordingNotifier
from tests.stores import KINDS, StoreFactory

if TYPE_CHECKING:
    from tests.fakes.discord_fakes import FakeCdn, Harness
    from tests.fakes.modelslab_server import FakeModelsLab

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


@pytest.fixture(params=KINDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """The test's own job store, SQLite and (with TEST_DATABASE_URL) PostgreSQL: every test that
    uses a database runs on each."""
    factory = StoreFactory(request.param, tmp_path)
    yield factory
    await factory.cleanup()


@pytest.fixture
async def db(stores: StoreFactory) -> Database:
    return await stores.open()


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


# --------------------------------------------------------------------------------------------------
# The Discord layer (imported lazily: most tests never touch discord.py)


@pytest.fixture
async def cdn() -> AsyncIterator[FakeCdn]:
    from tests.fakes.discord_fakes import FakeCdn

    async with FakeCdn() as server:
        yield server


@pytest.fixture
def bot_owner_ids() -> frozenset[int]:
    """`owner_ids` in the harness settings; a test module overrides this fixture to set owners."""
    return frozenset()


@pytest.fixture
def harness_settings(
    make_settings: Callable[..., Settings],
    cdn: FakeCdn,
    fake: FakeModelsLab,
    bot_owner_ids: frozenset[int],
) -> Callable[..., Settings]:
    """Settings that allow media from the fake CDN and the fake provider, and talk to the latter."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "media_host_allowlist": (cdn.origin, fake.origin),
            "modelslab_base_url": fake.base_url,
            "owner_ids": bot_owner_ids,
        }
        return make_settings(**(base | overrides))

    return make


@pytest.fixture
async def make_harness(
    harness_settings: Callable[..., Settings],
    db: Database,
    session: aiohttp.ClientSession,
    cdn: FakeCdn,
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_harness(publish_image=..., **settings_overrides)``. Each harness's runner is
    stopped at teardown (a no-op unless the test started it)."""
    from tests.fakes.discord_fakes import build_harness

    built: list[Harness] = []

    from tests.fakes.discord_fakes import PRODUCTION

    async def make(*, publish_image: Any = PRODUCTION, **overrides: Any) -> Harness:
        h = await build_harness(
            settings=harness_settings(**overrides),
            db=db,
            session=session,
            cdn=cdn,
            publish_image=publish_image,
        )
        built.append(h)
        return h

    yield make
    for h in built:
        await h.services.runner.stop()


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> Harness:
    return await make_harness()
