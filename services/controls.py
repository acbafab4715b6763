"""Every admin and owner change, each one method: validate, write, and record the audit entry in
the same transaction, so a change and its record exist together or not at all.

Scopes: `guild_id` is a server, or None for the DM scope (a user's personal budget in DMs and user
installs, stored with guild_key 0). Bot-wide changes (global pause, cap, alert target) are audited
under the same bot-wide key.

Global cap values (`set_global_cap`): a whole number of seconds is the cap per rolling 24 hours;
0 is a cap of zero, which refuses every new job (prefer a global pause, which says so plainly);
"none" means no cap at all, even if GLOBAL_DAILY_SECONDS_CAP is set; None forgets the run-time
value and falls back to GLOBAL_DAILY_SECONDS_CAP from the configuration.

What a change may be and how it reads (refusals, value checks, the audit words) is in
services/control_rules.py; the read side is services/control_views.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from db.audit import AuditRepository
from db.connection import Transaction
from db.policy import LimitRow, PolicyRepository, RoleTier
from db.quotas import QuotaRepository
from services.alerts import AlertTarget, read_target, write_target
from services.control_rules import (
    MAX_REASON_CHARS,
    Change,
    ControlError,
    ControlRefusal,
    block_text,
    cap_text,
    channels_text,
    describe_limits,
    is_unset,
    limit_row,
    merge,
    override_text,
    parse_cap,
    paused_text,
    require_some,
    server_limits_text,
    target_text,
)
from services.control_views import ControlReads
from services.quota import DAY, MONTH, STATE_GLOBAL_CAP, STATE_GLOBAL_PAUSED


class ControlService(ControlReads):
    """Admin and owner changes, each audited in the same transaction; the reads are inherited
    from ControlReads."""

    async def _change(
        self,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target: str | None,
        apply: Callable[[Transaction, float], Awaitable[tuple[str | None, str | None]]],
    ) -> Change:
        """Run `apply` (which returns old and new) and audit it, in one transaction. A change
        that changes nothing is not recorded."""
        now = self._clock()
        async with self._db.transaction() as tx:
            old, new = await apply(tx, now)
            if old != new:
                await AuditRepository(tx).record(guild_id, actor_id, action, target, old, new, now)
        return Change(action, target, old, new)

    # --- server defaults ------------------------------------------------------------------------
    async def set_server_limits(
        self,
        guild_id: int,
        actor_id: int,
        *,
        daily: int | None = None,
        monthly: int | None = None,
        max_active: int | None = None,
    ) -> Change:
        """Set the server's default limits for members; a value left out keeps its setting."""
        update = limit_row(daily, monthly, max_active)
        require_some(update)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            new = merge(current, update)
            await policy.set_guild_limits(guild_id, new, now)
            return server_limits_text(current), server_limits_text(new)

        return await self._change(guild_id, actor_id, "server.limits", "server", apply)

    async def reset_server_limits(self, guild_id: int, actor_id: int) -> Change:
        """Forget the server's own limits: the bot's defaults apply again."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            cleared = LimitRow(None, None, None)
            if not is_unset(current):
                await policy.set_guild_limits(guild_id, cleared, now)
            return server_limits_text(current), server_limits_text(cleared)

        return await self._change(guild_id, actor_id, "server.limits", "server", apply)

    async def set_server_paused(self, guild_id: int, actor_id: int, paused: bool) -> Change:
        """Pause or resume new jobs in one server (jobs already queued still run)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.guild_settings(guild_id)
            was = current is not None and current.paused
            if was != paused:
                await policy.set_guild_paused(guild_id, paused, now)
            return paused_text(was), paused_text(paused)

        return await self._change(guild_id, actor_id, "server.pause", "server", apply)

    # --- role tiers -----------------------------------------------------------------------------
    async def set_role_tier(
        self,
        guild_id: int,
        actor_id: int,
        role_id: int,
        *,
        daily: int,
        monthly: int,
        max_active: int,
    ) -> Change:
        """Give a role its own limits; members get the most generous of their roles."""
        limits = limit_row(daily, monthly, max_active)
        if None in (limits.daily_seconds, limits.monthly_seconds, limits.max_active_jobs):
            raise ControlError(ControlRefusal.TIER_INCOMPLETE)
        tier = RoleTier(
            role_id=role_id,
            daily_seconds=limits.daily_seconds,
            monthly_seconds=limits.monthly_seconds,
            max_active_jobs=limits.max_active_jobs,
        )

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await _find_tier(policy, guild_id, role_id)
            await policy.set_role_tier(guild_id, tier, now)
            old = "no tier" if current is None else describe_limits(current)
            return old, describe_limits(tier)

        return await self._change(guild_id, actor_id, "role.tier", f"role:{role_id}", apply)

    async def remove_role_tier(self, guild_id: int, actor_id: int, role_id: int) -> Change:
        """Remove a role's tier; its members fall back to other roles or the server default."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await _find_tier(policy, guild_id, role_id)
            if current is None:
                raise ControlError(ControlRefusal.NO_TIER, subject_id=role_id)
            await policy.remove_role_tier(guild_id, role_id)
            return describe_limits(current), "no tier"

        return await self._change(guild_id, actor_id, "role.tier", f"role:{role_id}", apply)

    # --- users ----------------------------------------------------------------------------------
    async def set_user_limits(
        self,
        guild_id: int | None,
        actor_id: int,
        user_id: int,
        *,
        daily: int | None = None,
        monthly: int | None = None,
        max_active: int | None = None,
    ) -> Change:
        """Give one user their own limits (over roles and the server default); a value left
        out keeps its setting."""
        update = limit_row(daily, monthly, max_active)
        require_some(update)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            new = merge(current, update)
            await policy.set_user_limits(guild_id, user_id, new, now)
            return override_text(current), override_text(new)

        return await self._change(guild_id, actor_id, "user.limits", f"user:{user_id}", apply)

    async def clear_user_limits(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Remove a user's own limits (a block stays as it is)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            if is_unset(current):
                raise ControlError(ControlRefusal.NO_PERSONAL_LIMITS, subject_id=user_id)
            cleared = LimitRow(None, None, None)
            await policy.set_user_limits(guild_id, user_id, cleared, now)
            return override_text(current), override_text(cleared)

        return await self._change(guild_id, actor_id, "user.limits", f"user:{user_id}", apply)

    async def block_user(
        self, guild_id: int | None, actor_id: int, user_id: int, reason: str | None = None
    ) -> Change:
        """Stop a user from starting jobs in this scope; they are told the reason, if any."""
        if user_id in self._settings.owner_ids:
            raise ControlError(ControlRefusal.OWNER_EXEMPT)
        reason = (reason or "").strip() or None
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise ControlError(ControlRefusal.REASON_TOO_LONG, maximum=MAX_REASON_CHARS)
        return await self._set_blocked(guild_id, actor_id, user_id, True, reason)

    async def unblock_user(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Let a blocked user start jobs again."""
        return await self._set_blocked(guild_id, actor_id, user_id, False, None)

    async def _set_blocked(
        self, guild_id: int | None, actor_id: int, user_id: int, blocked: bool, reason: str | None
    ) -> Change:
        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            current = await policy.user_override(guild_id, user_id)
            was_blocked = current is not None and current.blocked
            if not blocked and not was_blocked:
                raise ControlError(ControlRefusal.NOT_BLOCKED, subject_id=user_id)
            old = block_text(was_blocked, current.block_reason if current else None)
            new = block_text(blocked, reason)
            if old != new:
                await policy.set_user_blocked(guild_id, user_id, blocked, reason, now)
            return old, new

        action = "user.block" if blocked else "user.unblock"
        return await self._change(guild_id, actor_id, action, f"user:{user_id}", apply)

    async def reset_usage(self, guild_id: int | None, actor_id: int, user_id: int) -> Change:
        """Forgive a user's usage so far in this scope (daily and 30-day)."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            quotas = QuotaRepository(tx)
            day = await quotas.user_usage_entries(user_id, guild_id, now - DAY)
            month = await quotas.user_usage_entries(user_id, guild_id, now - MONTH)
            old = f"{sum(s for _, s in day):g} s today · {sum(s for _, s in month):g} s in 30 days"
            new = "0 s today · 0 s in 30 days"
            if old != new:
                await quotas.reset_user(user_id, guild_id, now)
            return old, new

        return await self._change(guild_id, actor_id, "user.reset", f"user:{user_id}", apply)

    # --- channels -------------------------------------------------------------------------------
    async def allow_channel(self, guild_id: int, actor_id: int, channel_id: int) -> Change:
        """Add a channel to the list where new jobs may be started (an empty list: everywhere)."""
        return await self._set_channel(guild_id, actor_id, channel_id, True)

    async def disallow_channel(self, guild_id: int, actor_id: int, channel_id: int) -> Change:
        """Remove a channel from the list; removing the last one allows every channel again."""
        return await self._set_channel(guild_id, actor_id, channel_id, False)

    async def _set_channel(
        self, guild_id: int, actor_id: int, channel_id: int, allowed: bool
    ) -> Change:
        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            before = await policy.allowed_channels(guild_id)
            if not allowed and channel_id not in before:
                raise ControlError(ControlRefusal.CHANNEL_NOT_LISTED, subject_id=channel_id)
            await policy.set_channel_allowed(guild_id, channel_id, allowed)
            return channels_text(before), channels_text(await policy.allowed_channels(guild_id))

        return await self._change(guild_id, actor_id, "channel", f"channel:{channel_id}", apply)

    # --- bot-wide (owner) -----------------------------------------------------------------------
    async def set_global_paused(self, actor_id: int, paused: bool) -> Change:
        """Pause or resume new jobs everywhere. Queued jobs wait; nothing is lost."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            was = await policy.get_state(STATE_GLOBAL_PAUSED) == "1"
            if was != paused:
                await policy.set_state(STATE_GLOBAL_PAUSED, "1" if paused else None, now)
            return paused_text(was), paused_text(paused)

        return await self._change(None, actor_id, "global.pause", "bot", apply)

    async def set_global_cap(self, actor_id: int, cap: int | str | None) -> Change:
        """Set the bot-wide daily cap at run time (see the module docstring for the values)."""
        stored = parse_cap(cap)

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            policy = PolicyRepository(tx)
            before = await policy.get_state(STATE_GLOBAL_CAP)
            if before != stored:
                await policy.set_state(STATE_GLOBAL_CAP, stored, now)
            configured = self._settings.global_daily_seconds_cap
            return cap_text(before, configured), cap_text(stored, configured)

        return await self._change(None, actor_id, "global.cap", "bot", apply)

    async def set_alert_target(self, actor_id: int, target: AlertTarget | None) -> Change:
        """Send operator alerts to a channel or one person's DMs; None: the owners' DMs."""

        async def apply(tx: Transaction, now: float) -> tuple[str, str]:
            before = await read_target(tx)
            if before != target:
                await write_target(tx, target, now)
            return target_text(before), target_text(target)

        return await self._change(None, actor_id, "global.alerts", "bot", apply)


async def _find_tier(policy: PolicyRepository, guild_id: int, role_id: int) -> RoleTier | None:
    for tier in await policy.role_tiers(guild_id):
        if tier.role_id == role_id:
            return tier
    return None
