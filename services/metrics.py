"""Prometheus metrics of the engine, on a registry of its own (never the global one).

Events are counted as they happen (provider calls and their errors, webhooks, clips posted);
figures that live in the database (jobs by state, queue depth, jobs at the provider, seconds
charged today, the cap) are read when /metrics is scraped, so every process reports the truth.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import exposition as _exposition

from db.connection import Database
from db.jobs import JobsRepository
from db.stats import StatsRepository
from domain import Job, JobState
from services.modelslab import (
    InputError,
    ModelsLabError,
    OperatorError,
    OutcomeUnknownError,
    RateLimitedError,
    TransientError,
)
from services.quota import DAY, global_cap
from settings import Settings

CONTENT_TYPE = _exposition.CONTENT_TYPE_LATEST

_REQUEST_TO_CLIP_BUCKETS = (30, 60, 120, 180, 240, 300, 450, 600, 900, 1200, 1800, 3600)
_READY_TO_POSTED_BUCKETS = (0.5, 1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 120, 300)


def error_kind(exc: ModelsLabError) -> str:
    """A provider error's kind, as the metrics label it."""
    if isinstance(exc, RateLimitedError):
        return "rate_limited"
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, OperatorError):
        return f"operator_{exc.reason}"
    if isinstance(exc, InputError):
        return "input"
    if isinstance(exc, OutcomeUnknownError):
        return "outcome_unknown"
    return "other"


class Metrics:
    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self._calls = Counter(
            "kling_provider_calls", "Calls to ModelsLab, by call.", ["call"], registry=r
        )
        self._errors = Counter(
            "kling_provider_errors",
            "ModelsLab calls that failed, by call and kind of error.",
            ["call", "kind"],
            registry=r,
        )
        self._webhooks = Counter(
            "kling_webhooks",
            "Webhook calls received, by what came of them.",
            ["result"],
            registry=r,
        )
        self._request_to_clip = Histogram(
            "kling_request_to_clip_seconds",
            "From the request to the clip posted, for delivered jobs.",
            buckets=_REQUEST_TO_CLIP_BUCKETS,
            registry=r,
        )
        self._ready_to_posted = Histogram(
            "kling_ready_to_posted_seconds",
            "From the provider reporting the clip ready to the clip posted.",
            buckets=_READY_TO_POSTED_BUCKETS,
            registry=r,
        )
        self._jobs = Gauge("kling_jobs", "Stored jobs, by state.", ["state"], registry=r)
        self._queue = Gauge("kling_queue_depth", "Jobs waiting in the queue.", registry=r)
        self._in_flight = Gauge(
            "kling_provider_in_flight",
            "Jobs being submitted or generated at ModelsLab right now.",
            registry=r,
        )
        self._charged = Gauge(
            "kling_seconds_charged_today",
            "Seconds of video charged for jobs requested in the last 24 hours.",
            registry=r,
        )
        self._cap = Gauge(
            "kling_global_daily_cap_seconds",
            "The operator's bot-wide daily cap in seconds (+Inf: no cap).",
            registry=r,
        )

    # --- events ---------------------------------------------------------------------------------
    def provider_call(self, call: str, error: ModelsLabError | None) -> None:
        self._calls.labels(call=call).inc()
        if error is not None:
            self._errors.labels(call=call, kind=error_kind(error)).inc()

    def webhook(self, result: str) -> None:
        self._webhooks.labels(result=result).inc()

    def clip_posted(self, job: Job, posted_at: float) -> None:
        self._request_to_clip.observe(max(posted_at - job.created_at, 0.0))
        if job.ready_at is not None:
            self._ready_to_posted.observe(max(posted_at - job.ready_at, 0.0))

    # --- scrape ---------------------------------------------------------------------------------
    async def render(self) -> bytes:
        """The metrics in Prometheus' text format, database figures read now."""
        jobs, stats = JobsRepository(self._db), StatsRepository(self._db)
        counts = await stats.jobs_by_state(since=float("-inf"))
        for state in JobState:
            self._jobs.labels(state=state.value).set(counts.get(state.value, 0))
        self._queue.set(counts.get(JobState.QUEUED.value, 0))
        self._in_flight.set(await jobs.count_at_provider())
        now = self._clock()
        self._charged.set(await stats.seconds_generated(now - DAY))
        cap = await global_cap(self._db, self._settings)
        self._cap.set(math.inf if cap is None else cap)
        return generate_latest(self.registry)
