"""What an admin or owner change may be, and how it reads.

- Refusals: a `ControlError` carries a `ControlRefusal` and its values; the Discord layer words
  it (cogs/refusals.py).
- Checks on the values given (whole numbers within bounds, a cap in seconds or "none").
- A change's before and after (`Change.old`, `Change.new`, kept in the audit log) are short plain
  words. A user, role, channel or DM in them is written as a reference `kind:id` (`user:1`,
  `role:2`, `channel:3`, `dm:4`), the same form as the audit entry's target, which the Discord
  layer shows as a mention. The engine writes no Discord markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from db.policy import LimitRow
from services.alerts import AlertTarget
from services.quota import QuotaLimit

MAX_SECONDS = 1_000_000  # a limit above this is a typo, not a policy
MAX_ACTIVE_JOBS = 100
MAX_REASON_CHARS = 200
MAX_AUDIT_ENTRIES = 25
NO_CAP = "none"


class ControlRefusal(StrEnum):
    """Why a change cannot be made."""

    NOT_WHOLE = "not_whole"  # `limit` is not a whole number
    NEGATIVE = "negative"  # `limit` is below zero
    TOO_LARGE = "too_large"  # `limit` is over `maximum`
    NOTHING_GIVEN = "nothing_given"  # no daily, monthly or active value at all
    CAP_NOT_A_NUMBER = "cap_not_a_number"  # a cap that is neither whole seconds nor "none"
    TIER_INCOMPLETE = "tier_incomplete"  # a role tier needs all three values
    NO_TIER = "no_tier"  # role `subject_id` has no tier here
    NO_PERSONAL_LIMITS = "no_personal_limits"  # user `subject_id` has none here
    OWNER_EXEMPT = "owner_exempt"  # bot owners can't be blocked
    REASON_TOO_LONG = "reason_too_long"  # a block reason over `maximum` characters
    NOT_BLOCKED = "not_blocked"  # user `subject_id` is not blocked here
    CHANNEL_NOT_LISTED = "channel_not_listed"  # channel `subject_id` is not on the list


class ControlError(Exception):
    """A change that cannot be made. The facts are attributes; the Discord layer words them
    (cogs/refusals.py). str() is a short note for the log."""

    def __init__(
        self,
        reason: ControlRefusal,
        *,
        limit: QuotaLimit | None = None,
        maximum: int | None = None,
        subject_id: int | None = None,
    ) -> None:
        details = [
            f"{name} {value}"
            for name, value in (("limit", limit), ("maximum", maximum), ("id", subject_id))
            if value is not None
        ]
        super().__init__(reason.value + (f" ({', '.join(details)})" if details else ""))
        self.reason = reason
        self.limit = limit
        self.maximum = maximum
        self.subject_id = subject_id


@dataclass(frozen=True)
class Change:
    """What a change did, for the reply: old and new are short plain words (with `kind:id`
    references), as the audit log keeps them."""

    action: str
    target: str | None
    old: str | None
    new: str | None

    @property
    def changed(self) -> bool:
        return self.old != self.new


def describe_limits(row: LimitRow, unset: str = "default") -> str:
    """`daily 60 s · 30-day 600 s · at once 2`, with `unset` for a value that falls through."""

    def seconds(value: int | float | None) -> str:
        return unset if value is None else f"{value:g} s"

    active = unset if row.max_active_jobs is None else f"{row.max_active_jobs}"
    return (
        f"daily {seconds(row.daily_seconds)} · 30-day {seconds(row.monthly_seconds)} · "
        f"at once {active}"
    )


def is_unset(row: LimitRow | None) -> bool:
    return row is None or (
        row.daily_seconds is None and row.monthly_seconds is None and row.max_active_jobs is None
    )


def amount(limit: QuotaLimit, value: int | None, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControlError(ControlRefusal.NOT_WHOLE, limit=limit)
    if value < 0:
        raise ControlError(ControlRefusal.NEGATIVE, limit=limit)
    if value > maximum:
        raise ControlError(ControlRefusal.TOO_LARGE, limit=limit, maximum=maximum)
    return value


def limit_row(daily: int | None, monthly: int | None, max_active: int | None) -> LimitRow:
    return LimitRow(
        daily_seconds=amount(QuotaLimit.DAILY, daily, MAX_SECONDS),
        monthly_seconds=amount(QuotaLimit.MONTHLY, monthly, MAX_SECONDS),
        max_active_jobs=amount(QuotaLimit.ACTIVE, max_active, MAX_ACTIVE_JOBS),
    )


def merge(current: LimitRow | None, update: LimitRow) -> LimitRow:
    """`update`'s values where given, else the current ones."""

    def pick(attr: str) -> int | None:
        value = getattr(update, attr)
        if value is None and current is not None:
            value = getattr(current, attr)
        return value

    return LimitRow(pick("daily_seconds"), pick("monthly_seconds"), pick("max_active_jobs"))


def require_some(row: LimitRow) -> None:
    if is_unset(row):
        raise ControlError(ControlRefusal.NOTHING_GIVEN)


def block_text(blocked: bool, reason: str | None) -> str:
    if not blocked:
        return "not blocked"
    return f"blocked ({reason})" if reason else "blocked"


def parse_cap(value: int | str | None) -> str | None:
    """The stored form of a cap: None (use the configuration), "none", or whole seconds."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in (NO_CAP, "off", "unlimited"):
            return NO_CAP
        if not text.isdigit():
            raise ControlError(ControlRefusal.CAP_NOT_A_NUMBER)
        value = int(text)
    return str(amount(QuotaLimit.GLOBAL, value, MAX_SECONDS * 100))


def server_limits_text(row: LimitRow | None) -> str:
    if row is None or is_unset(row):
        return "bot defaults"
    return describe_limits(row, unset="default")


def cap_text(stored: str | None, configured: int | None) -> str:
    """The cap in force: the stored run-time value, else `configured` (from the configuration)."""
    if stored == NO_CAP:
        return "no cap"
    if stored is not None:
        return f"{stored} s per 24 h"
    if configured is None:
        return "no cap (configuration)"
    return f"{configured} s per 24 h (configuration)"


def paused_text(paused: bool) -> str:
    return "paused" if paused else "running"


def override_text(row: LimitRow | None) -> str:
    if row is None or is_unset(row):
        return "no personal limits"
    return describe_limits(row, unset="not set")


def channels_text(channels: list[int]) -> str:
    if not channels:
        return "every channel"
    return ", ".join(f"channel:{c}" for c in channels)


def target_text(target: AlertTarget | None) -> str:
    return "owners' DMs" if target is None else target.encode()
