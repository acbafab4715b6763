"""Runner benchmark: N jobs from M users against the fake ModelsLab with generation time T and
provider queue limit C. Prints makespan against the ideal ceil(N/C)*T, provider calls per job,
peak RSS and event-loop lag p99.

    .venv/bin/python -m bench.runner_bench [--jobs 1000] [--users 50] [--gen 0.5] [--limit 5]

The fake provider runs in this same process and event loop, so the figures include its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from db.stores import open_database
from domain import JobState
from services.app import build_services
from services.quota import Requester
from settings import Secret, Settings
from tests.fakes.modelslab_server import FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job


async def measure_loop_lag(samples: list[float], stop: asyncio.Event, every: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(every)
        samples.append(loop.time() - start - every)


async def run(jobs: int, users: int, gen: float, limit: int) -> None:
    poll_max = gen / 20
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeModelsLab(
            api_key="bench-key", queue_limit=limit, generation_seconds=gen, eta=gen
        )
        await fake.start()
        parts = urlsplit(fake.base_url)
        settings = Settings(
            discord_token=Secret("unused"),
            modelslab_api_key=Secret("bench-key"),
            modelslab_base_url=fake.base_url,
            database_path=Path(tmp) / "bench.db",
            media_dir=Path(tmp) / "media",
            max_concurrent_jobs=limit,
            poll_interval_min_seconds=poll_max / 5,
            poll_interval_max_seconds=poll_max,
            status_edit_interval_seconds=10,
            quota_daily_seconds=10**9,
            quota_monthly_seconds=10**9,
            quota_max_active_jobs=10**6,
            media_host_allowlist=(f"{parts.scheme}://{parts.netloc}",),
        )
        db = await open_database(settings.database_path)
        notifier = RecordingNotifier()
        async with aiohttp.ClientSession() as session:
            services = build_services(
                settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
            )
            now = time.time()
            for i in range(jobs):
                user = i % users
                job = replace(new_job(), user_id=user, created_at=now, prompt=f"job {i}")
                await services.quota.enqueue(job, Requester(user, job.guild_id))
            lag: list[float] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(measure_loop_lag(lag, stop))
            started = time.perf_counter()
            await services.runner.start()
            while await db.fetchval(  # noqa: ASYNC110 - the database is the truth here
                "SELECT COUNT(*) FROM jobs WHERE state IN (?, ?, ?, ?)",
                tuple(s.value for s in JobState if not s.is_terminal),
            ):
                await asyncio.sleep(0.05)
            makespan = time.perf_counter() - started
            stop.set()
            await sampler
            await services.runner.stop()
        succeeded = await db.fetchval("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
        await db.close()
        await fake.close()

    api_calls = len([r for r in fake.requests if "/media/" not in r.path])
    ideal = math.ceil(jobs / limit) * gen
    lag_ms = sorted(x * 1000 for x in lag)
    p99 = lag_ms[min(len(lag_ms) - 1, int(len(lag_ms) * 0.99))]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    print(f"jobs={jobs} users={users} T={gen}s C={limit} poll_max={poll_max:.3f}s")
    print(f"succeeded: {succeeded}/{jobs}; provider peak concurrency: {fake.max_concurrent_seen}")
    print(f"makespan: {makespan:.1f}s  ideal: {ideal:.1f}s  ratio: {makespan / ideal:.3f}")
    print(
        f"provider calls per job: {api_calls / jobs:.2f}  "
        f"(target <= T/POLL_INTERVAL_MAX_SECONDS + 3 = {gen / poll_max + 3:.1f})"
    )
    print(f"peak RSS: {rss_mb:.0f} MiB; CPU time: {cpu:.1f} s ({cpu / makespan:.0%} of one core)")
    print(f"event-loop lag: p50 {statistics.median(lag_ms):.2f} ms  p99 {p99:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--gen", type=float, default=0.5, help="generation time T in seconds")
    parser.add_argument("--limit", type=int, default=5, help="provider queue limit C")
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.users, args.gen, args.limit))


if __name__ == "__main__":
    main()
