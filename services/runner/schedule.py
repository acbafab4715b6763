"""The poll schedule the recorder writes into each processing job: the plan (poll_plan.py) for
the job's kind, from generation times kept in the jobs table, so it survives restarts.

History and plans are cached per kind of job and refreshed when a clip of that kind is found
ready (this process) or after `CACHE_SECONDS` (other processes sharing the database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from db.poll_history import PollHistoryRepository
from domain import Job
from services.runner.poll_plan import (
    HISTORY_LIMIT,
    MIN_HISTORY,
    Bounds,
    PollPlan,
    length_bucket,
    make_plan,
)
from settings import Settings

CACHE_SECONDS = 60.0
# Webhooks count as arriving when at least half of the latest clips found ready were announced.
WEBHOOK_WINDOW = 10
WEBHOOK_SHARE = 0.5

Kind = tuple[str, str, float, float]  # mode, orientation, length bucket


@dataclass
class _Known:
    loaded_at: float
    samples: list[float]
    plans: dict[float | None, PollPlan] = field(default_factory=dict)


class PollSchedule:
    def __init__(
        self,
        *,
        history: PollHistoryRepository,
        settings: Settings,
        clock: Callable[[], float],
        webhooks_enabled: bool = False,
    ) -> None:
        self._history = history
        self._bounds = Bounds(
            settings.poll_interval_min_seconds, settings.poll_interval_max_seconds
        )
        self._min_history = settings.poll_plan_min_history
        self._clock = clock
        self._webhooks_enabled = webhooks_enabled
        self._known: dict[Kind, _Known] = {}
        self._hooks: tuple[float, bool] | None = None  # (loaded_at, arriving)

    @property
    def bounds(self) -> Bounds:
        return self._bounds

    async def next_poll_at(self, job: Job, now: float, planned: float | None = None) -> float:
        """When to poll this processing job next, after a poll (or its acceptance) at `now`
        that was planned for `planned`."""
        started = job.processing_at if job.processing_at is not None else now
        plan = await self.plan_for(job)
        was = None if planned is None else planned - started
        return started + plan.next_offset(max(now - started, 0.0), was)

    async def plan_for(self, job: Job) -> PollPlan:
        webhooks = await self._webhooks_arriving()
        known = await self._known_for(_kind_of(job))
        eta = None if job.provider_eta is None else round(job.provider_eta, 3)
        key = None if webhooks else eta
        plan = None if webhooks else known.plans.get(key)
        if plan is None:
            plan = make_plan(
                known.samples,
                eta,
                self._bounds,
                webhooks_arriving=webhooks,
                min_history=self._min_history,
            )
            if not webhooks:
                known.plans[key] = plan
        return plan

    def clip_ready(self, job: Job) -> None:
        """A clip of this kind was found ready: its time joins the history on the next plan."""
        self._known.pop(_kind_of(job), None)
        self._hooks = None

    async def _known_for(self, kind: Kind) -> _Known:
        now = self._clock()
        known = self._known.get(kind)
        if known is None or now - known.loaded_at > CACHE_SECONDS:
            mode, orientation, low, high = kind
            samples = await self._history.generation_seconds(
                mode, orientation, low, high, HISTORY_LIMIT
            )
            known = _Known(now, samples)
            self._known[kind] = known
        return known

    async def _webhooks_arriving(self) -> bool:
        if not self._webhooks_enabled:
            return False
        now = self._clock()
        if self._hooks is None or now - self._hooks[0] > CACHE_SECONDS:
            count, hooked = await self._history.recent_ready_by_webhook(WEBHOOK_WINDOW)
            arriving = count >= WEBHOOK_WINDOW // 2 and hooked >= WEBHOOK_SHARE * count
            self._hooks = (now, arriving)
        return self._hooks[1]


def _kind_of(job: Job) -> Kind:
    low, high = length_bucket(job.video_seconds)
    return (str(job.mode), str(job.orientation), low, high)


__all__ = ["MIN_HISTORY", "PollSchedule"]
