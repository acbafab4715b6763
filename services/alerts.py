"""Operator alerts: where they go, and making sure each one is sent once per event.

An alert key names one event (for example `spend:80:cap600:day20412`). `first_time(key)` claims the
key in bot_state, so the same event is never announced twice, even across restarts. Spending
alerts fire at 80 % and 100 % of the current global daily cap; their key carries the cap and the
UTC day, so a new cap or a new day is a new event.

An alert is a fact (`SpendingReached`, `DispatchPaused`) whose values the Discord layer words
(cogs/alerts.py), or a short note in plain words with no Discord markup, shown as it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from db.connection import Database, Executor
from db.policy import PolicyRepository
from db.quotas import QuotaRepository
from services.quota import DAY, global_cap
from settings import Settings

log = logging.getLogger(__name__)

STATE_ALERT_TARGET = "alert_target"  # "channel:<id>" or "dm:<user id>"; unset = owners' DMs
SENT_PREFIX = "alert_sent:"
SPENDING_THRESHOLDS = (80, 100)  # percent of the global daily cap, lowest first


@dataclass(frozen=True)
class AlertTarget:
    """Where operator alerts go: a channel, or one user's DMs."""

    kind: str  # "channel" or "dm"
    id: int

    def __post_init__(self) -> None:
        if self.kind not in ("channel", "dm"):
            raise ValueError(f"unknown alert target kind {self.kind!r}")

    def encode(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> AlertTarget | None:
        """The stored form back; None for nothing stored or anything unreadable."""
        if not raw:
            return None
        kind, _, ident = raw.partition(":")
        if kind not in ("channel", "dm") or not ident.isdigit():
            return None
        return cls(kind, int(ident))


@dataclass(frozen=True)
class SpendingReached:
    """Spending reached `percent` of the global daily cap: `used` of `cap` seconds of video in
    the last 24 hours."""

    percent: int
    used: float
    cap: float


@dataclass(frozen=True)
class DispatchPaused:
    """The provider refused the account (`reason`: "invalid_key", "no_credits", "forbidden"):
    new jobs wait, and one probe job goes out every `retry_every` seconds."""

    reason: str
    retry_every: float


OperatorAlert = SpendingReached | DispatchPaused | str


async def read_target(executor: Executor) -> AlertTarget | None:
    """The configured alert target (None: the owners' DMs)."""
    return AlertTarget.decode(await PolicyRepository(executor).get_state(STATE_ALERT_TARGET))


async def write_target(executor: Executor, target: AlertTarget | None, now: float) -> None:
    """Store the alert target; None goes back to the owners' DMs. Callers audit the change."""
    value = None if target is None else target.encode()
    await PolicyRepository(executor).set_state(STATE_ALERT_TARGET, value, now)


class AlertSender(Protocol):
    """Puts an alert in front of the operator (cogs/alerts.py does it on Discord)."""

    async def send_alert(self, target: AlertTarget | None, alert: OperatorAlert) -> str | None:
        """Send to `target` (None: the owners' DMs). Returns where it went, or None when it
        reached nobody. Never raises for delivery trouble."""


class AlertService:
    """Alert bookkeeping and dispatch, free of discord.py: each event is announced once, to the
    configured target, through the sender it was given."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        sender: AlertSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._settings = settings
        self._sender = sender
        self._clock = clock

    async def raise_alert(self, key: str, alert: OperatorAlert) -> None:
        """Announce event `key` once (ever, across restarts). Trouble is logged, never raised:
        an alert about a problem must not become a second problem."""
        try:
            if not await self.first_time(key):
                log.debug("operator alert %s already sent", key)
                return
            where = None
            if self._sender is not None:
                where = await self._sender.send_alert(await self.get_target(), alert)
        except Exception:
            log.exception("operator alert %s failed: %s", key, alert)
            return
        if where is None:
            log.error("operator alert %s reached nobody: %s", key, alert)
        else:
            log.info("operator alert %s sent to %s", key, where)

    async def test_alert(self, message: str) -> str | None:
        """Send `message` to the current target now (not deduplicated); where it went, or None."""
        if self._sender is None:
            return None
        return await self._sender.send_alert(await self.get_target(), message)

    async def announce_spending(self) -> None:
        """After a new job: alert when spending crosses 80 % or 100 % of the global cap."""
        try:
            alerts = await self.spending_alerts()
        except Exception:
            log.exception("spending alert check failed")
            return
        for key, alert in alerts:
            await self.raise_alert(key, alert)

    async def first_time(self, key: str) -> bool:
        """Claim `key`: True only for the first caller ever, so an alert is sent once."""
        return await PolicyRepository(self._db).claim_state(SENT_PREFIX + key, "1", self._clock())

    async def already_sent(self, key: str) -> bool:
        return await PolicyRepository(self._db).get_state(SENT_PREFIX + key) is not None

    async def spending_alerts(self) -> list[tuple[str, SpendingReached]]:
        """(key, alert) for the spending threshold just reached and not announced yet.

        At most one alert is returned: the highest threshold reached. Lower thresholds it
        covers are marked as sent, so 100 % is never followed by a stale 80 % message."""
        now = self._clock()
        cap = await global_cap(self._db, self._settings)
        if cap is None or cap <= 0:
            return []
        used = await QuotaRepository(self._db).global_usage(now - DAY)
        reached = [p for p in SPENDING_THRESHOLDS if used >= cap * p / 100 - 1e-9]
        if not reached:
            return []
        keys = {p: spending_key(p, cap, now) for p in reached}
        top = reached[-1]
        if await self.already_sent(keys[top]):
            return []
        for lower in reached[:-1]:
            await self.first_time(keys[lower])
        return [(keys[top], SpendingReached(top, used, cap))]

    async def get_target(self) -> AlertTarget | None:
        """Where alerts go (None: the owners' DMs)."""
        return await read_target(self._db)

    async def set_target(self, target: AlertTarget | None) -> None:
        """Store the alert target without an audit entry. Owner commands go through
        ControlService.set_alert_target instead, which records who changed it."""
        await write_target(self._db, target, self._clock())


def spending_key(percent: int, cap: float, now: float) -> str:
    """One event per threshold, cap value and UTC day."""
    return f"spend:{percent}:cap{cap:g}:day{int(now // DAY)}"
