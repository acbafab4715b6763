"""Acknowledgement benchmark: N concurrent /animate invocations on fake Discord objects.

Each invocation is its own task, as discord.py dispatches interactions, all created at once.
Measured per invocation from the moment its task is created:
  - time to defer: until `interaction.response.defer` is called (Discord allows 3 s; target p99
    under 50 ms);
  - time to the queued receipt: until the private "Job #N is queued" followup is sent, after both
    uploads were downloaded from a loopback CDN, probed in threads, the quota transaction ran and
    the status message was posted.

    .venv/bin/python -m bench.ack_bench [--n 200] [--latency 0.0]

Self-contained: starts its own loopback CDN, uses a temporary directory and SQLite file. The job
runner is not started (no provider calls): this measures the command path only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from db.stores import open_database
from settings import Secret, Settings
from tests.fakes.discord_fakes import FakeCdn, FakeDiscord, Harness, build_harness
from tests.media_factory import make_image, make_video

DEFER_TARGET_P99 = 0.050
FIRST_USER = 10_000  # one user per invocation, so per-user limits do not refuse any


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Timing:
    """Seconds from task creation to the first call of each fake, per invocation."""

    started: float
    defer: float | None = None
    receipt: float | None = None


def on_first_call(mock: Any, timing: Timing, field: str) -> None:
    """Wrap an AsyncMock of the fakes: note when it is first awaited, then let it run."""
    original = mock.side_effect

    async def side_effect(*args: Any, **kwargs: Any) -> Any:
        if getattr(timing, field) is None:
            setattr(timing, field, time.perf_counter() - timing.started)
        return await original(*args, **kwargs)

    mock.side_effect = side_effect


async def invoke_all(h: Harness, n: int, image_path: Path, video_path: Path) -> list[Timing]:
    """Build every fake first (spec'd mocks are slow to make), then create one task per
    invocation in a tight loop, as a burst of interactions would, and wait for them."""
    requests = [
        (h.interaction(user_id=FIRST_USER + user), h.upload(image_path), h.upload(video_path))
        for user in range(n)
    ]
    timings: list[Timing] = []
    tasks = []
    for interaction, image, video in requests:
        timing = Timing(started=time.perf_counter())
        on_first_call(interaction.response.defer, timing, "defer")
        on_first_call(interaction.followup.send, timing, "receipt")
        tasks.append(asyncio.create_task(h.animate(interaction, image, video)))
        timings.append(timing)
    await asyncio.gather(*tasks)
    return timings


async def count_queued(h: Harness, n: int) -> int:
    return sum([len(await h.services.jobs.recent(FIRST_USER + u, limit=1)) for u in range(n)])


async def run(n: int, latency: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image_path = await asyncio.to_thread(make_image, folder / "hero.png")
        video_path = await asyncio.to_thread(make_video, folder / "dance.mp4", seconds=4.0, fps=4)
        async with FakeCdn() as cdn, aiohttp.ClientSession() as session:
            settings = Settings(
                discord_token=Secret("unused"),
                modelslab_api_key=Secret("unused"),
                modelslab_base_url="http://127.0.0.1:9",  # never called: the runner is not started
                database_path=folder / "bench.db",
                media_dir=folder / "media",
                media_host_allowlist=(cdn.origin,),
                status_edit_interval_seconds=10,
            )
            db = await open_database(settings.database_path)
            try:
                world = FakeDiscord(latency=latency)
                h = await build_harness(
                    settings=settings, db=db, session=session, cdn=cdn, world=world
                )
                began = time.perf_counter()
                timings = await invoke_all(h, n, image_path, video_path)
                elapsed = time.perf_counter() - began
                queued = await count_queued(h, n)
            finally:
                await db.close()
    report(n, latency, timings, elapsed, queued)


def report(n: int, latency: float, timings: list[Timing], elapsed: float, queued: int) -> None:
    defers = [t.defer for t in timings if t.defer is not None]
    receipts = [t.receipt for t in timings if t.receipt is not None]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:8.1f} ms"

    print(f"/animate x{n} concurrent, fake Discord latency {latency * 1000:.0f} ms per call")
    print(
        f"  time to defer          p50 {ms(percentile(defers, 50))}   "
        f"p99 {ms(percentile(defers, 99))}"
    )
    print(
        f"  time to queued receipt p50 {ms(percentile(receipts, 50))}   "
        f"p99 {ms(percentile(receipts, 99))}"
    )
    print(f"  jobs queued: {queued}/{n}, receipts: {len(receipts)}/{n}, wall time {elapsed:.2f} s")
    verdict = "met" if percentile(defers, 99) < DEFER_TARGET_P99 else "NOT met"
    print(f"  target defer p99 < {DEFER_TARGET_P99 * 1000:.0f} ms: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="concurrent invocations")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds each fake Discord call takes"
    )
    args = parser.parse_args()
    asyncio.run(run(args.n, args.latency))


if __name__ == "__main__":
    main()
