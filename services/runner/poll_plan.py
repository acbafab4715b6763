"""Poll plans: when to ask ModelsLab whether a job's clip is ready. Pure functions, no I/O.

A plan is a list of offsets (seconds after the provider accepted the job) at which to poll.

- Today's schedule (`simple_offsets`), used until enough jobs of a kind are known: the first poll
  near the provider's estimate (clamped to the poll bounds), then waits doubling to the maximum.
- The planned schedule (`planned_offsets`), once `MIN_HISTORY` generation times of the same kind
  (mode, orientation, reference-video length bucket) are known. Each poll is placed so that it has
  about the same chance `r` of finding the clip ready, given it was not ready at the previous
  poll: the next poll comes when the share of history finished since then reaches r of what was
  still running. So polls are sparse while clips are rarely ready (early), densest where most
  clips finish, and back off past the usual range. `r` is the smallest (densest plan) whose
  expected number of polls, under the same history, is no more than today's schedule would make
  for this job: the plan moves polls from where they are wasted to where they pay, at no more
  calls. Every wait, the first one included, stays within [min, max] (POLL_INTERVAL_MIN_SECONDS,
  POLL_INTERVAL_MAX_SECONDS): no job goes unlooked-at for longer than the maximum.
- While webhooks are arriving (`fallback_offsets`), polling is only the fallback for a lost
  webhook: every `WEBHOOK_SLOWDOWN` times POLL_INTERVAL_MAX_SECONDS, the one case where a wait
  may exceed the maximum (a webhook, not the poll, is expected to announce the clip).

Generation times are what the bot observed (accepted -> first seen ready), so they include the
poll lag of the plan that observed them; the plan's density near the usual finish keeps that small,
and webhooks make it near zero.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Jobs of a kind that must be known before their polls are planned from history.
MIN_HISTORY = 20
# How many of the latest generation times of a kind are used.
HISTORY_LIMIT = 200
# Reference-video length buckets (seconds): jobs are compared with jobs of similar input length.
LENGTH_BUCKETS: tuple[tuple[float, float], ...] = (
    (0.0, 5.0),
    (5.0, 10.0),
    (10.0, 20.0),
    (20.0, 1e9),
)
# A plan never lists more polls than this; past its end polls come every maximum wait.
MAX_PLANNED_POLLS = 400
# While webhooks announce finished clips, the fallback polls wait this many maximum waits.
WEBHOOK_SLOWDOWN = 4.0
# The usual range ends where this share of history is still running: a sparse tail of samples
# says little, so from there the waits double up to the maximum.
TAIL_SHARE = 0.05
_BISECTION_STEPS = 24


def length_bucket(video_seconds: float) -> tuple[float, float]:
    for low, high in LENGTH_BUCKETS:
        if low <= video_seconds < high:
            return low, high
    return LENGTH_BUCKETS[-1]


@dataclass(frozen=True)
class Bounds:
    """The shortest and longest wait before a poll."""

    low: float
    high: float

    def clamp(self, seconds: float) -> float:
        return min(max(seconds, self.low), self.high)


class Distribution:
    """Observed generation times as a continuous distribution: the empirical CDF, linear between
    the sorted samples (from 0 at time 0 to 1 at the largest sample)."""

    def __init__(self, samples: Sequence[float]) -> None:
        values = sorted(s for s in samples if s >= 0)
        if not values:
            raise ValueError("a distribution needs at least one sample")
        self._times = [0.0, *values]
        n = len(values)
        self._probs = [i / n for i in range(n + 1)]

    def __len__(self) -> int:
        return len(self._times) - 1

    @property
    def largest(self) -> float:
        return self._times[-1]

    def cdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        if t >= self._times[-1]:
            return 1.0
        i = bisect.bisect_right(self._times, t)
        t0, t1 = self._times[i - 1], self._times[i]
        p0, p1 = self._probs[i - 1], self._probs[i]
        return p0 if t1 == t0 else p0 + (p1 - p0) * (t - t0) / (t1 - t0)

    def survival(self, t: float) -> float:
        return 1.0 - self.cdf(t)

    def quantile(self, q: float) -> float:
        if q <= 0:
            return 0.0
        if q >= 1:
            return self._times[-1]
        n = len(self)
        position = q * n
        i = int(position)
        t0, t1 = self._times[i], self._times[min(i + 1, n)]
        return t0 + (t1 - t0) * (position - i)


@dataclass(frozen=True)
class PollPlan:
    """Poll offsets after acceptance, and the shortest and longest wait between polls (the
    longest is also the wait past the end of the plan)."""

    offsets: tuple[float, ...]
    bounds: Bounds

    def next_offset(self, elapsed: float, planned: float | None = None) -> float:
        """The next planned poll after a poll at `elapsed` seconds since acceptance, that was
        planned for `planned` (None: unplanned): at least the shortest wait after the planned
        time (at least half of it after the real one), at most the longest wait away; past the
        plan, every longest wait. Times count from acceptance, not from the last poll, so a
        late poll (call latency) neither pushes later ones back nor makes a planned one skipped."""
        earliest = elapsed + self.bounds.low
        if planned is not None and planned <= elapsed:
            earliest = max(planned + self.bounds.low, elapsed + self.bounds.low / 2)
        i = bisect.bisect_left(self.offsets, earliest - 1e-9)
        if i < len(self.offsets):
            return min(self.offsets[i], elapsed + self.bounds.high)
        last = self.offsets[-1] if self.offsets else 0.0
        steps = max(math.ceil((earliest - last) / self.bounds.high - 1e-9), 1)
        return min(last + steps * self.bounds.high, elapsed + self.bounds.high)


def simple_offsets(eta: float | None, bounds: Bounds, horizon: float) -> list[float]:
    """Today's schedule up to `horizon`: the first poll near the estimate, then waits of that
    much, doubling (first, first, 2 first, 4 first, ...) up to the maximum."""
    first = bounds.clamp(eta or bounds.low)
    offsets = [first]
    step = 0
    while offsets[-1] < horizon and len(offsets) < MAX_PLANNED_POLLS:
        offsets.append(offsets[-1] + bounds.clamp(first * 2.0**step))
        step += 1
    return offsets


def fallback_bounds(bounds: Bounds) -> Bounds:
    """The waits while webhooks announce finished clips: `WEBHOOK_SLOWDOWN` maximum waits."""
    slow = bounds.high * WEBHOOK_SLOWDOWN
    return Bounds(slow, slow)


def fallback_offsets(bounds: Bounds, horizon: float) -> list[float]:
    """A poll every `WEBHOOK_SLOWDOWN` maximum waits: the safety net for a lost webhook."""
    slow = fallback_bounds(bounds).high
    count = min(int(horizon / slow) + 1, MAX_PLANNED_POLLS)
    return [slow * (k + 1) for k in range(count)]


def expected_polls(dist: Distribution, offsets: Sequence[float]) -> float:
    """How many polls a job makes on average under `dist`: the first always, each later one
    only if the clip was not ready at the one before."""
    total = 1.0
    for offset in offsets[:-1]:
        still_running = dist.survival(offset)
        if still_running <= 0:
            break
        total += still_running
    return total


def equal_chance_offsets(dist: Distribution, chance: float, bounds: Bounds) -> list[float]:
    """Polls each finding a not-yet-ready clip ready with about `chance`, through the usual
    range; past it, waits doubling to the maximum until history ends."""
    offsets: list[float] = []
    t, wait = 0.0, bounds.high
    while len(offsets) < MAX_PLANNED_POLLS and t < dist.largest:
        running = dist.survival(t)
        if running > TAIL_SHARE:
            wait = bounds.clamp(dist.quantile(1.0 - running * (1.0 - chance)) - t)
        else:
            wait = bounds.clamp(wait * 2)
        t += wait
        offsets.append(t)
    return offsets


def planned_offsets(dist: Distribution, eta: float | None, bounds: Bounds) -> list[float]:
    """The densest equal-chance plan that makes no more polls, on average under `dist`, than
    today's schedule would for a job with this estimate."""
    budget = expected_polls(dist, simple_offsets(eta, bounds, dist.largest))
    sparsest = equal_chance_offsets(dist, 1.0, bounds)
    if expected_polls(dist, sparsest) > budget:
        return sparsest
    low, high = 0.0, 1.0  # the answer lies in (low, high]
    best = sparsest
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        offsets = equal_chance_offsets(dist, middle, bounds)
        if expected_polls(dist, offsets) <= budget:
            high, best = middle, offsets
        else:
            low = middle
    return best


def make_plan(
    history: Sequence[float] | None,
    eta: float | None,
    bounds: Bounds,
    *,
    webhooks_arriving: bool = False,
    min_history: int = MIN_HISTORY,
) -> PollPlan:
    """The plan for one job, from the generation times of its kind (None or too few: today's
    schedule), its provider estimate, and whether webhooks are announcing finished clips."""
    known = history is not None and len(history) >= min_history
    if webhooks_arriving:
        return PollPlan(tuple(fallback_offsets(bounds, 0.0)), fallback_bounds(bounds))
    if not known or history is None:
        return PollPlan(tuple(simple_offsets(eta, bounds, bounds.high)), bounds)
    return PollPlan(tuple(planned_offsets(Distribution(history), eta, bounds)), bounds)
