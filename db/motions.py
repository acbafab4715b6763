"""The motion library (`motions`) and who curates it (`motion_curators`).

library_key is the server's id, or 0 for the bot-wide library. Removed motions keep their row
(jobs and stats refer to them) and are left out of every query here except `get`. A motion's
uses are the jobs that were queued with it.
"""

from __future__ import annotations

from db.connection import Executor, Row
from db.policy import guild_key
from domain import HostedFile, Motion

_SELECT = (
    "SELECT m.*, (SELECT COUNT(*) FROM jobs AS j WHERE j.motion_id = m.id) AS uses "
    "FROM motions AS m"
)


def name_key(name: str) -> str:
    """The form names are compared in: case-insensitive for every script, not just ASCII."""
    return name.casefold()


def _contains_pattern(needle: str) -> str:
    """A LIKE pattern matching names that contain `needle` ('!' escapes LIKE's wildcards)."""
    escaped = needle.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def motion_from_row(row: Row) -> Motion:
    return Motion(
        id=row["id"],
        guild_id=row["library_key"] or None,
        name=row["name"],
        description=row["description"],
        source=HostedFile(row["channel_id"], row["message_id"], row["attachment_id"]),
        filename=row["filename"],
        video_kind=row["video_kind"],
        video_bytes=row["video_bytes"],
        video_width=row["video_width"],
        video_height=row["video_height"],
        video_seconds=float(row["video_seconds"]),
        has_audio=bool(row["has_audio"]),
        added_by=row["added_by"],
        added_at=float(row["added_at"]),
        unavailable_at=row["unavailable_at"],
        uses=int(row["uses"]),
    )


class MotionsRepository:
    """Motion and curator queries on an executor (the database, or a transaction)."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    # --- motions --------------------------------------------------------------------------------
    async def insert(self, motion: Motion) -> int:
        """Insert a motion (its id and uses are ignored) and return its id."""
        source = motion.source
        motion_id = await self._db.fetchval(
            "INSERT INTO motions (library_key, name, name_key, description, channel_id, "
            "message_id, attachment_id, filename, video_kind, video_bytes, video_width, "
            "video_height, video_seconds, has_audio, added_by, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                guild_key(motion.guild_id),
                motion.name,
                name_key(motion.name),
                motion.description,
                source.channel_id,
                source.message_id,
                source.attachment_id,
                motion.filename,
                motion.video_kind,
                motion.video_bytes,
                motion.video_width,
                motion.video_height,
                motion.video_seconds,
                int(motion.has_audio),
                motion.added_by,
                motion.added_at,
            ),
        )
        if motion_id is None:
            raise RuntimeError("insert into motions returned no row id")
        return int(motion_id)

    async def get(self, motion_id: int) -> Motion | None:
        """Any motion by id, removed or not."""
        row = await self._db.fetchone(f"{_SELECT} WHERE m.id = ?", (motion_id,))  # noqa: S608
        return None if row is None else motion_from_row(row)

    async def named(self, guild_id: int | None, name: str) -> Motion | None:
        """The motion called `name` (any case) in one library, available or not."""
        row = await self._db.fetchone(
            f"{_SELECT} WHERE m.library_key = ? AND m.name_key = ? "  # noqa: S608
            "AND m.removed_at IS NULL",
            (guild_key(guild_id), name_key(name)),
        )
        return None if row is None else motion_from_row(row)

    async def library(self, guild_id: int | None) -> list[Motion]:
        """Every motion of one library (unavailable ones too), by name."""
        rows = await self._db.fetchall(
            f"{_SELECT} WHERE m.library_key = ? AND m.removed_at IS NULL "  # noqa: S608
            "ORDER BY m.name_key",
            (guild_key(guild_id),),
        )
        return [motion_from_row(r) for r in rows]

    async def count(self, guild_id: int | None) -> int:
        return int(
            await self._db.fetchval(
                "SELECT COUNT(*) FROM motions WHERE library_key = ? AND removed_at IS NULL",
                (guild_key(guild_id),),
            )
        )

    async def offered(
        self, guild_id: int | None, needle: str = "", limit: int = 25, *, own_first: bool = True
    ) -> list[Motion]:
        """Available motions whose name contains `needle` (any case) offered where `guild_id`
        is (None: a DM): the server's own and the bot-wide ones, most used first, then by
        name; with `own_first`, all of the server's own before the bot-wide ones."""
        rows = await self._db.fetchall(
            f"""
            {_SELECT}
            WHERE m.removed_at IS NULL AND m.unavailable_at IS NULL
              AND m.library_key IN (:own, 0)
              AND m.name_key LIKE :pattern ESCAPE '!'
            ORDER BY CASE WHEN :own_first = 1 AND m.library_key = 0 THEN 1 ELSE 0 END,
                     uses DESC, CASE WHEN m.library_key = 0 THEN 1 ELSE 0 END, m.name_key
            LIMIT :limit
            """,  # noqa: S608 - a fixed select
            {
                "own": guild_key(guild_id),
                "pattern": _contains_pattern(name_key(needle)),
                "limit": limit,
                "own_first": int(own_first),
            },
        )
        return [motion_from_row(r) for r in rows]

    async def remove(self, motion_id: int, now: float) -> bool:
        result = await self._db.execute(
            "UPDATE motions SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
            (now, motion_id),
        )
        return result.rowcount == 1

    async def mark_unavailable(self, motion_id: int, now: float) -> bool:
        """The motion's message or channel is gone. True if this call marked it."""
        result = await self._db.execute(
            "UPDATE motions SET unavailable_at = ? WHERE id = ? AND unavailable_at IS NULL",
            (now, motion_id),
        )
        return result.rowcount == 1

    # --- curators -------------------------------------------------------------------------------
    async def curator_roles(self, guild_id: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT role_id FROM motion_curators WHERE guild_id = ? ORDER BY role_id", (guild_id,)
        )
        return [int(r["role_id"]) for r in rows]

    async def set_curator(self, guild_id: int, role_id: int, curator: bool) -> bool:
        """Make a role a curator or not; True if that changed anything."""
        if curator:
            result = await self._db.execute(
                "INSERT INTO motion_curators (guild_id, role_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (guild_id, role_id),
            )
        else:
            result = await self._db.execute(
                "DELETE FROM motion_curators WHERE guild_id = ? AND role_id = ?",
                (guild_id, role_id),
            )
        return result.rowcount == 1
