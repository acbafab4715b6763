"""Provider-gate benchmark: how many submits reach ModelsLab while the operator's key is refused.

Queues N jobs from several users against the fake ModelsLab with a revoked key, runs the real
runner (real clock, real SQLite file) for S seconds, and prints the submits sent, the most sent for
one job, and the operator alerts raised. With the gate working, that is at most one submit per
job in the first burst (no more than MAX_CONCURRENT_JOBS), then one probe per
OPERATOR_PAUSE_SECONDS.

    .venv/bin/python -m bench.provider_gate_bench [--jobs 20] [--seconds 10] [--pause 300]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from db.stores import open_database
from services.app import build_services
from services.quota import Requester
from settings import Secret, Settings
from tests.fakes.modelslab_server import FakeModelsLab
from tests.fakes.notifier import RecordingNotifier
from tests.helpers import new_job


async def run(jobs: int, seconds: float, pause: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeModelsLab(api_key="the-new-key")  # ours has been revoked
        await fake.start()
        parts = urlsplit(fake.base_url)
        settings = Settings(
            discord_token=Secret("unused"),
            modelslab_api_key=Secret("the-revoked-key"),
            modelslab_base_url=fake.base_url,
            database_path=Path(tmp) / "bench.db",
            media_dir=Path(tmp) / "media",
            operator_pause_seconds=pause,
            quota_max_active_jobs=jobs,
            quota_daily_seconds=100_000,
            quota_monthly_seconds=1_000_000,
            media_host_allowlist=(f"{parts.scheme}://{parts.netloc}",),
        )
        db = await open_database(settings.database_path)
        notifier = RecordingNotifier()
        async with aiohttp.ClientSession() as session:
            services = build_services(
                settings=settings, db=db, session=session, notifier=notifier, alert_sender=notifier
            )
            for i in range(jobs):
                job = new_job(user_id=i % 3, prompt=f"job-{i}", created_at=time.time())
                await services.quota.enqueue(job, Requester(i % 3, job.guild_id))
            await services.runner.start()
            await asyncio.sleep(seconds)
            await services.runner.stop()
        await db.close()
        await fake.close()
    submits = fake.submits()
    per_job = Counter(r.json.get("prompt") for r in submits)
    alerts = notifier.alerts_about("New jobs are paused")
    print(f"jobs queued                 {jobs}")
    print(f"seconds run                 {seconds:g} (OPERATOR_PAUSE_SECONDS={pause:g})")
    print(f"submits sent                {len(submits)}")
    print(f"most submits for one job    {max(per_job.values(), default=0)}")
    print(f"operator alerts             {len(alerts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pause", type=float, default=Settings.operator_pause_seconds)
    args = parser.parse_args()
    asyncio.run(run(args.jobs, args.seconds, args.pause))


if __name__ == "__main__":
    main()
