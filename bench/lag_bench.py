"""Lag benchmark: how long a finished clip waits before it is posted, and what that costs in
provider calls, for today's poll schedule, the schedule planned from history, and webhooks.

    .venv/bin/python -m bench.lag_bench [--jobs 300] [--gen 1.0] [--spread 10] [--max-ratio 0.125]

N jobs run against the fake ModelsLab (in this process, on loopback) three times with the same
generation times and provider estimates:
- today:    the first poll near the provider's estimate, then waits doubling to the maximum;
- planned:  polls planned from 200 earlier generation times of the same kind (as a bot that has
            been running a while has them in its database);
- webhooks: the planned schedule, and the fake calls the bot's webhook when a clip is ready.

Generation times are log-normal with median T and 90 % of them within a factor `spread` (from
T/sqrt(spread) to T*sqrt(spread)). The provider's estimate is often wrong: 40 % of jobs get the
true time (within 20 %), 30 % a tenth of T ("10 s" for a job that takes minutes), 30 % four times
T ("960 s"). POLL_INTERVAL_MAX_SECONDS is `max-ratio` * T (production: 30 s against a typical
4 minutes, 1/8) and POLL_INTERVAL_MIN_SECONDS a sixth of that (5 s).

Lag is from the moment the fake provider's job was done to the moment the bot recorded the clip
as posted; calls are the submits and polls the provider answered, per job.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from db.connection import Database
from db.jobs import JobsRepository
from db.stores import open_database
from domain import JobState
from services.app import build_services
from services.http_api import HttpApi
from services.quota import Requester
from settings import Secret, Settings
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job, walk_to

HISTORY = 200


@dataclass(frozen=True)
class Figures:
    name: str
    median_lag: float
    p90_lag: float
    calls_per_job: float
    succeeded: int
    seconds: float


def draw(count: int, gen: float, spread: float, rnd: random.Random) -> list[float]:
    sigma = math.log(spread) / (2 * 1.645)
    return [gen * math.exp(rnd.gauss(0.0, sigma)) for _ in range(count)]


def estimate(true_seconds: float, gen: float, rnd: random.Random) -> float:
    pick = rnd.random()
    if pick < 0.4:
        return true_seconds * math.exp(rnd.gauss(0.0, 0.2))
    return gen / 10 if pick < 0.7 else gen * 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed_history(db: Database, times: list[float]) -> None:
    """Earlier finished jobs of the same kind, as the database of a running bot holds them."""
    repo = JobsRepository(db)
    start = time.time() - 7 * 86400
    for i, took in enumerate(times):
        at = start + i * 60
        job_id = await repo.insert(replace(new_job(), user_id=10**6, created_at=at))
        await walk_to(repo, job_id, JobState.SUCCEEDED, at, ready_at=at + took, charged_seconds=0.0)


async def run_phase(
    name: str, specs: list[FakeJobSpec], history: list[float] | None, args: Any
) -> Figures:
    poll_max = args.gen * args.max_ratio
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeModelsLab(
            api_key="bench-key",
            queue_limit=args.limit,
            generation_seconds=args.gen,
            time_func=time.time,
        )
        await fake.start()
        for spec in specs:
            fake.queue_next(spec)
        webhooks = name == "webhooks"
        fake.send_webhooks = webhooks
        port = free_port()
        parts = urlsplit(fake.base_url)
        settings = Settings(
            discord_token=Secret("unused"),
            modelslab_api_key=Secret("bench-key"),
            modelslab_base_url=fake.base_url,
            database_path=Path(tmp) / "bench.db",
            media_dir=Path(tmp) / "media",
            max_concurrent_jobs=args.limit,
            poll_interval_min_seconds=poll_max / 6,
            poll_interval_max_seconds=poll_max,
            job_timeout_seconds=args.gen * 100,
            status_edit_interval_seconds=10,
            quota_daily_seconds=10**9,
            quota_monthly_seconds=10**9,
            quota_max_active_jobs=10**6,
            media_host_allowlist=(f"{parts.scheme}://{parts.netloc}",),
            poll_plan_min_history=10**9 if history is None else 20,
            http_port=port if webhooks else None,
            public_base_url=f"http://127.0.0.1:{port}" if webhooks else None,
        )
        db = await open_database(settings.database_path)
        if history is not None:
            await seed_history(db, history)
        notifier = RecordingNotifier()
        async with aiohttp.ClientSession() as session:
            services = build_services(
                settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
            )
            api = HttpApi(
                host="127.0.0.1",
                port=port,
                checks={},
                metrics=services.metrics.render,
                webhooks=services.webhooks,
            )
            if webhooks:
                await api.start()
            ids = []
            now = time.time()
            for i in range(len(specs)):
                job = replace(new_job(), user_id=i % 50, created_at=now, prompt=f"job {i}")
                ids.append(await services.quota.enqueue(job, Requester(job.user_id, job.guild_id)))
            started = time.perf_counter()
            await services.runner.start()
            repo = JobsRepository(db)
            while await repo.count_in_states(  # noqa: ASYNC110 - the database is the truth here
                JobState.QUEUED, JobState.SUBMITTING, JobState.PROCESSING, JobState.DELIVERING
            ):
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            await services.runner.stop()
            await api.stop()
            lags = []
            for job_id in ids:
                job = await repo.get(job_id)
                if job is None or job.state is not JobState.SUCCEEDED or job.finished_at is None:
                    continue
                done_at = fake.jobs[job.provider_job_id or ""].done_at
                lags.append(job.finished_at - done_at)
        await db.close()
        await fake.close()
    calls = len([r for r in fake.requests if r.kind in ("submit", "fetch")])
    lags.sort()
    return Figures(
        name=name,
        median_lag=statistics.median(lags),
        p90_lag=lags[min(len(lags) - 1, int(len(lags) * 0.9))],
        calls_per_job=calls / len(specs),
        succeeded=len(lags),
        seconds=seconds,
    )


async def run(args: Any) -> None:
    rnd = random.Random(args.seed)
    times = draw(args.jobs, args.gen, args.spread, rnd)
    specs = [
        FakeJobSpec(generation_seconds=t, eta=round(estimate(t, args.gen, rnd), 4)) for t in times
    ]
    history = draw(HISTORY, args.gen, args.spread, rnd)
    poll_max = args.gen * args.max_ratio
    print(
        f"jobs={args.jobs} T={args.gen}s spread={args.spread}x C={args.limit} "
        f"POLL_INTERVAL_MAX={poll_max:.4f}s (T*{args.max_ratio:g}) "
        f"POLL_INTERVAL_MIN={poll_max / 6:.4f}s"
    )
    results = []
    for name, hist in (("today", None), ("planned", history), ("webhooks", history)):
        results.append(await run_phase(name, specs, hist, args))
    base = results[0]
    head = f"{'schedule':<10} {'median lag':>12} {'p90 lag':>10} {'calls/job':>10}"
    print(f"{head} {'vs today':>9}  ok  run")
    for r in results:
        print(
            f"{r.name:<10} {r.median_lag / args.gen:>11.1%}T {r.p90_lag / args.gen:>9.1%}T "
            f"{r.calls_per_job:>10.2f} {r.median_lag / base.median_lag:>8.2f}x "
            f"{r.succeeded:>4} {r.seconds:>4.0f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--gen", type=float, default=1.0, help="median generation time T (s)")
    parser.add_argument(
        "--spread", type=float, default=10.0, help="90 %% of times within this factor"
    )
    parser.add_argument("--max-ratio", type=float, default=0.125, help="POLL_INTERVAL_MAX / T")
    parser.add_argument("--limit", type=int, default=10, help="provider queue limit C")
    parser.add_argument("--seed", type=int, default=13)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
