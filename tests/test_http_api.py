"""The operator's HTTP endpoint: /healthz and Prometheus /metrics, on real sockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from db.connection import Database
from db.stores import open_database
from domain import JobState
from services.app import build_services
from services.http_api import HttpApi, database_answers
from services.quota import Requester
from settings import Settings
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job
from tests.test_runner import engine_settings, wait_for


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start an HttpApi on a free loopback port; returns its base URL."""
    started: list[HttpApi] = []

    async def start(**kw: Any) -> str:
        api = HttpApi(host="127.0.0.1", port=0, **kw)
        await api.start()
        started.append(api)
        return f"http://127.0.0.1:{api.port}"

    yield start
    for api in started:
        await api.stop()


async def _metrics() -> bytes:
    return b""


async def test_healthz_is_ok_when_everything_answers(
    serve: Callable[..., Awaitable[str]], db: Database, session: aiohttp.ClientSession
) -> None:
    async def runner_alive() -> bool:
        return True

    base = await serve(
        checks={
            "gateway": lambda: True,
            "database": lambda: database_answers(db),
            "runner": runner_alive,
        },
        metrics=_metrics,
    )
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {"status": "ok", "checks": {"gateway": True, "database": True, "runner": True}}


async def test_healthz_is_503_when_the_database_is_closed(
    serve: Callable[..., Awaitable[str]], tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    closed = await open_database(tmp_path / "closed.db")
    await closed.close()
    base = await serve(
        checks={
            "gateway": lambda: True,
            "database": lambda: database_answers(closed),
            "runner": lambda: True,
        },
        metrics=_metrics,
    )
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["failing"] == ["database"] and body["checks"]["gateway"] is True


async def test_healthz_is_503_when_the_gateway_is_down(
    serve: Callable[..., Awaitable[str]], db: Database, session: aiohttp.ClientSession
) -> None:
    def broken() -> bool:
        raise RuntimeError("a check that raises counts as failing")

    base = await serve(
        checks={
            "gateway": lambda: False,
            "database": lambda: database_answers(db),
            "runner": broken,
        },
        metrics=_metrics,
    )
    async with session.get(f"{base}/healthz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["failing"] == ["gateway", "runner"]


async def test_metrics_parse_and_count_a_finished_job(
    serve: Callable[..., Awaitable[str]],
    db: Database,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
) -> None:
    settings = engine_settings(make_settings, fake, global_daily_seconds_cap=3600)
    notifier = RecordingNotifier()
    services = build_services(
        settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
    )
    for user_id in (1, 2):
        job = new_job(created_at=time.time(), user_id=user_id)
        await services.quota.enqueue(job, Requester(user_id, job.guild_id))
    # One of the two fails at the provider.
    fake.queue_next(FakeJobSpec())
    fake.queue_next(FakeJobSpec(outcome="failed"))
    await services.runner.start()
    try:

        async def finished() -> bool:
            stats = await services.stats.queue_state()
            return not stats.by_state

        await wait_for(finished)
    finally:
        await services.runner.stop()
    base = await serve(checks={}, metrics=services.metrics.render)
    async with session.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert samples[("kling_jobs", (("state", "succeeded"),))] == 1
    assert samples[("kling_jobs", (("state", "failed"),))] == 1
    assert samples[("kling_queue_depth", ())] == 0
    assert samples[("kling_provider_in_flight", ())] == 0
    assert samples[("kling_provider_calls_total", (("call", "submit"),))] == 2
    assert samples[("kling_provider_calls_total", (("call", "fetch"),))] >= 2
    assert samples[("kling_seconds_charged_today", ())] == 5.0
    assert samples[("kling_global_daily_cap_seconds", ())] == 3600
    assert samples[("kling_request_to_clip_seconds_count", ())] == 1
    assert samples[("kling_ready_to_posted_seconds_count", ())] == 1
    assert families["kling_provider_calls"].type == "counter"
    assert families["kling_ready_to_posted_seconds"].type == "histogram"


async def test_metrics_count_provider_errors_by_kind(
    serve: Callable[..., Awaitable[str]],
    db: Database,
    fake: FakeModelsLab,
    session: aiohttp.ClientSession,
    make_settings: Callable[..., Settings],
) -> None:
    settings = engine_settings(make_settings, fake)
    notifier = RecordingNotifier()
    services = build_services(
        settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
    )
    fake.script_faults("fetch", ["503", "503"])
    job = new_job(created_at=time.time())
    job_id = await services.quota.enqueue(job, Requester(job.user_id, job.guild_id))
    await services.runner.start()
    try:

        async def done() -> bool:
            row = await db.fetchone("SELECT state FROM jobs WHERE id = ?", (job_id,))
            return row is not None and row["state"] == JobState.SUCCEEDED.value

        await wait_for(done)
    finally:
        await services.runner.stop()
    text = (await services.metrics.render()).decode()
    errors = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "kling_provider_errors_total"
    ]
    assert [(s.labels, s.value) for s in errors] == [({"call": "fetch", "kind": "transient"}, 2.0)]
    # No cap configured: the gauge says so with +Inf.
    cap = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "kling_global_daily_cap_seconds"
    ]
    assert cap[0].value == float("inf")
