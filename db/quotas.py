"""Quota ledger queries. The ledger is the jobs table itself: an active job reserves its
cost_seconds, a succeeded job is charged charged_seconds, failed and cancelled jobs count
nothing."""

from __future__ import annotations

from db.connection import Executor

# What one job counts against a quota right now.
_COUNTED = """
    CASE WHEN state IN ('queued', 'submitting', 'processing', 'delivering') THEN cost_seconds
         WHEN state = 'succeeded' THEN charged_seconds
         ELSE 0 END
"""


class QuotaRepository:
    """Usage figures for quota checks; run them inside the enqueue transaction."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def user_usage_entries(
        self, user_id: int, guild_id: int | None, since: float
    ) -> list[tuple[float, float]]:
        """(created_at, seconds) of the user's counted jobs in this scope since `since`, oldest
        first. The scope is one server, or DMs when guild_id is None. A usage reset by an admin
        moves `since` forward."""
        rows = await self._db.fetchall(
            f"""
            SELECT created_at, {_COUNTED} AS seconds FROM jobs
            WHERE user_id = :user AND guild_id IS NOT DISTINCT FROM :guild
              AND created_at >= :since
              AND created_at >= COALESCE(
                  (SELECT reset_at FROM usage_resets WHERE user_id = :user AND guild_key = :key),
                  0)
            ORDER BY created_at
            """,  # noqa: S608 - constant expression
            {"user": user_id, "guild": guild_id, "key": guild_id or 0, "since": since},
        )
        return [(float(r["created_at"]), float(r["seconds"])) for r in rows if r["seconds"] > 0]

    async def user_active_count(self, user_id: int, guild_id: int | None) -> int:
        """Jobs of this user in this scope that are not finished yet."""
        return int(
            await self._db.fetchval(
                "SELECT COUNT(*) FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ? "
                "AND state IN "
                "('queued', 'submitting', 'processing', 'delivering')",
                (user_id, guild_id),
            )
        )

    async def global_usage_entries(self, since: float) -> list[tuple[float, float]]:
        """(created_at, seconds) of everyone's counted jobs since `since`, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT created_at, {_COUNTED} AS seconds FROM jobs "  # noqa: S608
            "WHERE created_at >= ? ORDER BY created_at",
            (since,),
        )
        return [(float(r["created_at"]), float(r["seconds"])) for r in rows if r["seconds"] > 0]

    async def global_usage(self, since: float) -> float:
        value = await self._db.fetchval(
            f"SELECT COALESCE(SUM({_COUNTED}), 0) FROM jobs WHERE created_at >= ?",  # noqa: S608
            (since,),
        )
        return float(value)

    async def reset_user(self, user_id: int, guild_id: int | None, now: float) -> None:
        """Forget the user's usage in this scope before `now`."""
        await self._db.execute(
            "INSERT INTO usage_resets (user_id, guild_key, reset_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, guild_key) DO UPDATE SET reset_at = excluded.reset_at",
            (user_id, guild_id or 0, now),
        )
