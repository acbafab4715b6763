"""Per-server settings, role tiers, per-user overrides and blocks, allowed channels, and the
operator's persistent state (bot_state). guild_key is the guild id, or 0 for the DM scope."""

from __future__ import annotations

from dataclasses import dataclass

from db.connection import Executor


@dataclass(frozen=True)
class LimitRow:
    """Limits stored for one scope; None means "not set here, fall through"."""

    daily_seconds: int | None
    monthly_seconds: int | None
    max_active_jobs: int | None


@dataclass(frozen=True)
class GuildSettings(LimitRow):
    guild_id: int
    paused: bool


@dataclass(frozen=True)
class RoleTier(LimitRow):
    role_id: int


@dataclass(frozen=True)
class UserOverride(LimitRow):
    user_id: int
    blocked: bool
    block_reason: str | None


def guild_key(guild_id: int | None) -> int:
    return guild_id or 0


class PolicyRepository:
    """Reads and writes of the control tables. Callers record audit entries themselves."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    # --- server settings -------------------------------------------------------------------
    async def guild_settings(self, guild_id: int) -> GuildSettings | None:
        row = await self._db.fetchone(
            "SELECT guild_id, daily_seconds, monthly_seconds, max_active_jobs, paused "
            "FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return None
        return GuildSettings(
            guild_id=row["guild_id"],
            daily_seconds=row["daily_seconds"],
            monthly_seconds=row["monthly_seconds"],
            max_active_jobs=row["max_active_jobs"],
            paused=bool(row["paused"]),
        )

    async def set_guild_limits(self, guild_id: int, limits: LimitRow, now: float) -> None:
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, daily_seconds, monthly_seconds, "
            "max_active_jobs, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET daily_seconds = excluded.daily_seconds, "
            "monthly_seconds = excluded.monthly_seconds, "
            "max_active_jobs = excluded.max_active_jobs, updated_at = excluded.updated_at",
            (guild_id, limits.daily_seconds, limits.monthly_seconds, limits.max_active_jobs, now),
        )

    async def set_guild_paused(self, guild_id: int, paused: bool, now: float) -> None:
        await self._db.execute(
            "INSERT INTO guild_settings (guild_id, paused, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET paused = excluded.paused, "
            "updated_at = excluded.updated_at",
            (guild_id, int(paused), now),
        )

    # --- role tiers ----------------------------------------------------------------------------
    async def role_tiers(self, guild_id: int) -> list[RoleTier]:
        rows = await self._db.fetchall(
            "SELECT role_id, daily_seconds, monthly_seconds, max_active_jobs FROM role_limits "
            "WHERE guild_id = ? ORDER BY role_id",
            (guild_id,),
        )
        return [
            RoleTier(
                role_id=r["role_id"],
                daily_seconds=r["daily_seconds"],
                monthly_seconds=r["monthly_seconds"],
                max_active_jobs=r["max_active_jobs"],
            )
            for r in rows
        ]

    async def set_role_tier(self, guild_id: int, tier: RoleTier, now: float) -> None:
        await self._db.execute(
            "INSERT INTO role_limits (guild_id, role_id, daily_seconds, monthly_seconds, "
            "max_active_jobs, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_id, role_id) DO UPDATE SET "
            "daily_seconds = excluded.daily_seconds, monthly_seconds = excluded.monthly_seconds, "
            "max_active_jobs = excluded.max_active_jobs, updated_at = excluded.updated_at",
            (
                guild_id,
                tier.role_id,
                tier.daily_seconds,
                tier.monthly_seconds,
                tier.max_active_jobs,
                now,
            ),
        )

    async def remove_role_tier(self, guild_id: int, role_id: int) -> bool:
        result = await self._db.execute(
            "DELETE FROM role_limits WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
        )
        return result.rowcount > 0

    # --- per-user overrides and blocks -----------------------------------------------------------
    async def user_override(self, guild_id: int | None, user_id: int) -> UserOverride | None:
        row = await self._db.fetchone(
            "SELECT user_id, daily_seconds, monthly_seconds, max_active_jobs, blocked, "
            "block_reason FROM user_limits WHERE guild_key = ? AND user_id = ?",
            (guild_key(guild_id), user_id),
        )
        if row is None:
            return None
        return UserOverride(
            user_id=row["user_id"],
            daily_seconds=row["daily_seconds"],
            monthly_seconds=row["monthly_seconds"],
            max_active_jobs=row["max_active_jobs"],
            blocked=bool(row["blocked"]),
            block_reason=row["block_reason"],
        )

    async def set_user_limits(
        self, guild_id: int | None, user_id: int, limits: LimitRow, now: float
    ) -> None:
        await self._db.execute(
            "INSERT INTO user_limits (guild_key, user_id, daily_seconds, monthly_seconds, "
            "max_active_jobs, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (guild_key, user_id) DO UPDATE SET "
            "daily_seconds = excluded.daily_seconds, monthly_seconds = excluded.monthly_seconds, "
            "max_active_jobs = excluded.max_active_jobs, updated_at = excluded.updated_at",
            (
                guild_key(guild_id),
                user_id,
                limits.daily_seconds,
                limits.monthly_seconds,
                limits.max_active_jobs,
                now,
            ),
        )

    async def set_user_blocked(
        self, guild_id: int | None, user_id: int, blocked: bool, reason: str | None, now: float
    ) -> None:
        await self._db.execute(
            "INSERT INTO user_limits (guild_key, user_id, blocked, block_reason, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_key, user_id) DO UPDATE SET "
            "blocked = excluded.blocked, block_reason = excluded.block_reason, "
            "updated_at = excluded.updated_at",
            (guild_key(guild_id), user_id, int(blocked), reason, now),
        )

    # --- allowed channels ----------------------------------------------------------------------
    async def allowed_channels(self, guild_id: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT channel_id FROM allowed_channels WHERE guild_id = ? ORDER BY channel_id",
            (guild_id,),
        )
        return [r["channel_id"] for r in rows]

    async def set_channel_allowed(self, guild_id: int, channel_id: int, allowed: bool) -> bool:
        """Add or remove a channel; True if anything changed."""
        if allowed:
            result = await self._db.execute(
                "INSERT INTO allowed_channels (guild_id, channel_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (guild_id, channel_id),
            )
        else:
            result = await self._db.execute(
                "DELETE FROM allowed_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
        return result.rowcount > 0

    # --- operator state ------------------------------------------------------------------------
    async def get_state(self, key: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if value is None else str(value)

    async def set_state(self, key: str, value: str | None, now: float) -> None:
        if value is None:
            await self._db.execute("DELETE FROM bot_state WHERE key = ?", (key,))
        else:
            await self._db.execute(
                "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (key, value, now),
            )

    async def claim_state(self, key: str, value: str, now: float) -> bool:
        """Set key to value unless it already holds it: True only for the first caller.
        Used to send each operator alert once per event."""
        result = await self._db.execute(
            "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at "
            "WHERE bot_state.value IS DISTINCT FROM excluded.value",
            (key, value, now),
        )
        return result.rowcount > 0
