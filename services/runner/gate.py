"""The provider gate: the one place that decides whether a submit may be sent to ModelsLab now.

Two things close it:
- an operator failure (a refused key, no credits, a forbidden plan): nothing is submitted except
  one probe every `OPERATOR_PAUSE_SECONDS` (or at once when the operator resumes), however many
  jobs wait;
- a full provider queue (429): nothing is submitted until `retry_after` has passed, and afterwards
  no more of our jobs are kept at the provider than it had room for when it refused, plus one more
  for each submit it accepts since (so jobs go out as fast as its queue frees up, not faster).

The runner asks the gate for a permit before it claims a job and checks the permit again at the
moment of sending; a refusal closes the gate *before* the refused job goes back to the queue. The
global pause (an operator command stored in the database) is checked by the runner beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Permit:
    """Leave to send one submit. A probe is the single submit allowed while paused."""

    probe: bool = False


class ProviderGate:
    def __init__(
        self, *, clock: Callable[[], float], pause_seconds: float, max_in_flight: int
    ) -> None:
        self._clock = clock
        self._pause_seconds = pause_seconds
        self._max_in_flight = max_in_flight
        self._hold_until = 0.0
        self._paused: str | None = None
        self._next_probe_at = 0.0
        self._probe_out = False
        # After a 429: how many of our jobs the provider's queue holds. None: no limit learned.
        self._room: int | None = None

    # --- what the runner asks -------------------------------------------------------------------
    @property
    def paused_reason(self) -> str | None:
        """The operator failure that paused submits, or None."""
        return self._paused

    def acquire(self, in_flight: int) -> Permit | None:
        """A permit to claim and submit one job, or None while the gate is closed.
        `in_flight` is how many of our jobs the provider holds (or may hold) right now."""
        now = self._clock()
        if now < self._hold_until:
            return None
        if self._paused is not None:
            if self._probe_out or now < self._next_probe_at:
                return None
            self._probe_out = True
            self._next_probe_at = now + self._pause_seconds
            return Permit(probe=True)
        if in_flight >= self._limit():
            return None
        return Permit()

    def admits(self, permit: Permit) -> bool:
        """Checked at the moment of sending: is this permit still good?"""
        if self._clock() < self._hold_until:
            return False
        if permit.probe:
            return self._paused is not None and self._probe_out
        return self._paused is None

    def release(self, permit: Permit) -> None:
        """A permit that was not used (no job to claim, or the gate closed before sending)."""
        if permit.probe and self._probe_out:
            self._probe_out = False
            self._next_probe_at = self._clock()

    def next_change_at(self) -> float | None:
        """When the gate may open by itself (end of a hold, the next probe), if it is closed."""
        now = self._clock()
        if now < self._hold_until:
            return self._hold_until
        if self._paused is not None and not self._probe_out:
            return self._next_probe_at
        return None

    # --- what the provider said -----------------------------------------------------------------
    def accepted(self, permit: Permit) -> None:
        """The provider took a submit: an operator pause is over, and one more job fits."""
        self._paused = None
        self._probe_out = False
        if self._room is not None:
            self._room += 1
            if self._room >= self._max_in_flight:
                self._room = None

    def refused_by_operator_failure(self, reason: str) -> bool:
        """Pause submits (the key, credits or plan). True if this starts a new pause, so the
        caller alerts and logs once per pause, not once per refused submit."""
        first = self._paused is None
        self._paused = reason
        self._probe_out = False
        self._next_probe_at = self._clock() + self._pause_seconds
        return first

    def queue_full(self, retry_after: float) -> None:
        """A 429: hold every submit for `retry_after`."""
        self._hold_until = max(self._hold_until, self._clock() + retry_after)

    def learn_room(self, ours_at_provider: int) -> None:
        """After a 429: keep no more than `ours_at_provider` (at least one) of our jobs at the
        provider until it accepts more."""
        room = max(ours_at_provider, 1)
        self._room = room if self._room is None else min(self._room, room)

    def submit_ended(self, permit: Permit) -> None:
        """A submit ended without an answer about the gate (input error, transient error)."""
        if permit.probe:
            self._probe_out = False

    def probe_now(self) -> None:
        """The operator says the problem is fixed: send one probe now (not the whole queue)."""
        self._hold_until = 0.0
        self._room = None
        if self._paused is not None:
            self._next_probe_at = self._clock()  # a probe already out counts as this one

    def _limit(self) -> int:
        return self._max_in_flight if self._room is None else min(self._room, self._max_in_flight)
