"""The poll planner (services/runner/poll_plan.py): pure functions, no I/O."""

from __future__ import annotations

import bisect
import math
import random
import statistics

import pytest

from services.runner.poll_plan import (
    Bounds,
    Distribution,
    expected_polls,
    length_bucket,
    make_plan,
    planned_offsets,
    simple_offsets,
)

BOUNDS = Bounds(5.0, 30.0)


def lognormal(n: int, median: float, spread: float, seed: int = 7) -> list[float]:
    """`n` generation times, log-normal with this median; 90 % of them within `spread` times."""
    sigma = math.log(spread) / (2 * 1.645)
    rnd = random.Random(seed)
    return [median * math.exp(rnd.gauss(0.0, sigma)) for _ in range(n)]


def gaps(offsets: tuple[float, ...] | list[float]) -> list[float]:
    return [b - a for a, b in zip((0.0, *offsets), offsets, strict=False)]


def lag_and_polls(offsets: tuple[float, ...], bounds: Bounds, done: float) -> tuple[float, int]:
    """For a clip ready `done` seconds after acceptance: how late it is seen, and after how many
    polls (past the plan, one every maximum wait)."""
    i = bisect.bisect_left(offsets, done)
    if i < len(offsets):
        return offsets[i] - done, i + 1
    extra = math.ceil((done - offsets[-1]) / bounds.high)
    return offsets[-1] + extra * bounds.high - done, len(offsets) + extra


def test_distribution_quantile_and_cdf_are_inverse() -> None:
    dist = Distribution([10.0, 20.0, 30.0, 40.0])
    assert dist.cdf(0) == 0 and dist.cdf(40) == 1 and dist.cdf(100) == 1
    assert dist.survival(20.0) == pytest.approx(0.5)
    for q in (0.1, 0.25, 0.5, 0.9):
        assert dist.cdf(dist.quantile(q)) == pytest.approx(q)
    with pytest.raises(ValueError):
        Distribution([])


def test_too_little_history_keeps_todays_schedule() -> None:
    history = lognormal(19, 240, 10)
    plan = make_plan(history, 10.0, BOUNDS)
    assert plan.offsets == tuple(simple_offsets(10.0, BOUNDS, BOUNDS.high))
    # Today's: the first poll near the estimate (clamped), then waits doubling to the maximum.
    assert plan.offsets == (10.0, 20.0, 40.0)
    assert [plan.next_offset(e) for e in (40.0, 70.0)] == [70.0, 100.0]
    assert make_plan(None, 1000.0, BOUNDS).offsets[0] == 30.0
    assert make_plan(None, None, BOUNDS).offsets[0] == 5.0


def test_planned_waits_stay_within_the_bounds() -> None:
    plan = make_plan(lognormal(200, 240, 10), 10.0, BOUNDS)
    waits = gaps(plan.offsets)
    assert min(waits) >= BOUNDS.low - 1e-9
    assert max(waits) <= BOUNDS.high + 1e-9
    # Past the plan, polls go on every maximum wait, counted from acceptance: a late poll
    # does not push the next ones back.
    last = plan.offsets[-1]
    assert plan.next_offset(last + 1) == pytest.approx(last + 30)
    assert plan.next_offset(last + 28) == pytest.approx(last + 58)
    assert plan.next_offset(last + 61) == pytest.approx(last + 90)


def test_plan_is_sparse_early_dense_at_the_usual_finish_and_backs_off_after() -> None:
    history = lognormal(200, 240, 10)
    bounds = Bounds(2.0, 120.0)
    plan = make_plan(history, 10.0, bounds)
    dist = Distribution(history)
    waits = dict(zip(plan.offsets, gaps(plan.offsets), strict=True))
    middle = [w for o, w in waits.items() if dist.quantile(0.3) <= o <= dist.quantile(0.7)]
    late = [w for o, w in waits.items() if o > dist.quantile(0.95)]
    # Early the waits are the longest allowed; where most clips finish they are much shorter;
    # past the usual range they grow back to the longest.
    first = gaps(plan.offsets)[0]
    assert first >= 0.75 * bounds.high
    assert len(middle) >= 4 and statistics.mean(middle) < 0.5 * first
    assert late and late[-1] == pytest.approx(bounds.high)
    assert all(b >= a - 1e-6 for a, b in zip(late, late[1:], strict=False))


def test_plan_makes_no_more_polls_than_todays_schedule() -> None:
    history = lognormal(200, 240, 10)
    dist = Distribution(history)
    for eta in (None, 10.0, 240.0, 960.0):
        today = expected_polls(dist, simple_offsets(eta, BOUNDS, dist.largest))
        planned = expected_polls(dist, planned_offsets(dist, eta, BOUNDS))
        assert planned <= today + 1e-9


def test_plan_sees_clips_sooner_for_the_same_calls() -> None:
    """On fresh jobs from the same distribution: a lower median lag at no more polls, with the
    maximum wait about half the typical generation time."""
    bounds = Bounds(6.0, 120.0)
    history = lognormal(200, 240, 10, seed=1)
    jobs = lognormal(2000, 240, 10, seed=2)
    rnd = random.Random(3)
    today_lags, today_polls, plan_lags, plan_polls = [], [], [], []
    for done in jobs:
        eta = rnd.choice((10.0, 960.0, done))  # the provider's estimate: often wrong
        today = tuple(simple_offsets(eta, bounds, bounds.high * 40))
        plan = make_plan(history, eta, bounds)
        lag, polls = lag_and_polls(today, bounds, done)
        today_lags.append(lag)
        today_polls.append(polls)
        lag, polls = lag_and_polls(plan.offsets, bounds, done)
        plan_lags.append(lag)
        plan_polls.append(polls)
    assert statistics.median(plan_lags) < 0.85 * statistics.median(today_lags)
    assert statistics.mean(plan_polls) <= statistics.mean(today_polls) * 1.02


def test_next_offset_keeps_the_minimum_wait_after_an_unplanned_poll() -> None:
    plan = make_plan(lognormal(100, 240, 10), 10.0, BOUNDS)
    for elapsed in (0.0, 3.0, 100.0, 217.3, 400.0):
        nxt = plan.next_offset(elapsed)
        assert BOUNDS.low - 1e-9 <= nxt - elapsed <= BOUNDS.high + 1e-9
        assert nxt in plan.offsets or nxt == pytest.approx(elapsed + BOUNDS.high)


def test_webhooks_arriving_make_polls_sparse() -> None:
    """Polls are only the safety net for a lost webhook: every 4 maximum waits."""
    for history in (lognormal(100, 240, 10), None):
        plan = make_plan(history, 10.0, BOUNDS, webhooks_arriving=True)
        assert [plan.next_offset(e) for e in (0.0, 120.0, 130.0)] == [120.0, 240.0, 250.0]


def test_length_buckets() -> None:
    assert length_bucket(3.0) == (0.0, 5.0)
    assert length_bucket(5.0) == (5.0, 10.0)
    assert length_bucket(29.9) == (20.0, 1e9)


def test_a_late_poll_does_not_skip_the_next_planned_one() -> None:
    plan = make_plan(None, 10.0, BOUNDS)  # 10, 20, 40, 70, 100 ...
    # The poll planned for 20 s ran at 26 s: the next is still the one planned for 40 s...
    assert plan.next_offset(26.0, planned=20.0) == 40.0
    # ...even when it ran so late that 40 s is under the shortest wait away (but not under half).
    assert plan.next_offset(36.0, planned=20.0) == 40.0
    # Later still, the next grid point (70 s) is more than the longest wait away: 38 + 30.
    assert plan.next_offset(38.0, planned=20.0) == 68.0
    # Without a planned time (a poll a webhook asked for): the full shortest wait.
    assert plan.next_offset(36.0) == 66.0
    assert plan.next_offset(12.0) == 20.0 and plan.next_offset(16.0) == 40.0
