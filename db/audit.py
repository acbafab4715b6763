"""The audit log: every admin and owner change, who made it, the old and new value, and when.
guild_key is the guild id, or 0 for bot-wide (owner) changes and the DM scope."""

from __future__ import annotations

from db.connection import Executor
from db.policy import guild_key
from domain import AuditEntry


class AuditRepository:
    """Append and read audit entries. Run `record` in the same transaction as the change."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def record(
        self,
        guild_id: int | None,
        actor_id: int,
        action: str,
        target: str | None,
        old: str | None,
        new: str | None,
        now: float,
    ) -> int:
        """Append one entry and return its id."""
        entry_id = await self._db.fetchval(
            "INSERT INTO audit_log (guild_key, actor_id, action, target, old_value, new_value, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (guild_key(guild_id), actor_id, action, target, old, new, now),
        )
        return int(entry_id)

    async def latest(self, guild_id: int | None, limit: int = 10) -> list[AuditEntry]:
        """The newest `limit` entries of one server (or of the bot-wide scope), newest first."""
        rows = await self._db.fetchall(
            "SELECT id, guild_key, actor_id, action, target, old_value, new_value, created_at "
            "FROM audit_log WHERE guild_key = ? ORDER BY id DESC LIMIT ?",
            (guild_key(guild_id), limit),
        )
        return [
            AuditEntry(
                id=r["id"],
                guild_id=r["guild_key"] or None,
                actor_id=r["actor_id"],
                action=r["action"],
                target=r["target"],
                old_value=r["old_value"],
                new_value=r["new_value"],
                created_at=float(r["created_at"]),
            )
            for r in rows
        ]
