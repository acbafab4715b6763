"""Aggregate queries over the jobs table for /animate-admin stats and the operator's views.

Every query takes `guild_id`: one server's jobs, or None for every server and DMs together.
Windows are on `created_at`, the same clock the quota ledger uses.
"""

from __future__ import annotations

from db.connection import Dialect, Executor
from domain import ACTIVE_STATES

_SCOPE = "(CAST(:guild AS BIGINT) IS NULL OR guild_id = :guild)"
SECONDS_PER_DAY = 86400


def _day_number(dialect: Dialect) -> str:
    """UTC day number of created_at (PostgreSQL's CAST rounds, SQLite's truncates)."""
    if dialect is Dialect.POSTGRES:
        return "CAST(FLOOR(created_at / :day) AS BIGINT)"
    return "CAST(created_at / :day AS INTEGER)"


class StatsRepository:
    """Read-only figures; cheap enough to run on demand (the window columns are indexed)."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def jobs_by_state(self, since: float, guild_id: int | None = None) -> dict[str, int]:
        """How many jobs created since `since` are in each state."""
        rows = await self._db.fetchall(
            f"SELECT state, COUNT(*) AS n FROM jobs WHERE created_at >= :since AND {_SCOPE} "  # noqa: S608
            "GROUP BY state",
            {"since": since, "guild": guild_id},
        )
        return {r["state"]: int(r["n"]) for r in rows}

    async def seconds_generated(self, since: float, guild_id: int | None = None) -> float:
        """Charged seconds of the succeeded jobs created since `since`."""
        value = await self._db.fetchval(
            "SELECT COALESCE(SUM(charged_seconds), 0) FROM jobs "  # noqa: S608
            f"WHERE state = 'succeeded' AND created_at >= :since AND {_SCOPE}",
            {"since": since, "guild": guild_id},
        )
        return float(value)

    async def failures_by_code(self, since: float, guild_id: int | None = None) -> dict[str, int]:
        """Failed jobs created since `since`, counted by failure code, most frequent first."""
        rows = await self._db.fetchall(
            "SELECT COALESCE(failure_code, 'unknown') AS code, COUNT(*) AS n FROM jobs "  # noqa: S608
            f"WHERE state = 'failed' AND created_at >= :since AND {_SCOPE} "
            "GROUP BY code ORDER BY n DESC, code",
            {"since": since, "guild": guild_id},
        )
        return {r["code"]: int(r["n"]) for r in rows}

    async def median_turnaround(self, since: float, guild_id: int | None = None) -> float | None:
        """Median seconds from request to delivered clip (finished_at - created_at) of the
        succeeded jobs created since `since`; None when there are none."""
        params = {"since": since, "guild": guild_id}
        where = (
            f"state = 'succeeded' AND finished_at IS NOT NULL AND created_at >= :since AND {_SCOPE}"
        )
        count = int(await self._db.fetchval(f"SELECT COUNT(*) FROM jobs WHERE {where}", params))  # noqa: S608
        if count == 0:
            return None
        # The middle row, or the two middle rows for an even count.
        rows = await self._db.fetchall(
            f"SELECT finished_at - created_at AS took FROM jobs WHERE {where} "  # noqa: S608
            "ORDER BY took LIMIT :take OFFSET :skip",
            {**params, "take": 2 - count % 2, "skip": (count - 1) // 2},
        )
        values = [float(r["took"]) for r in rows]
        return sum(values) / len(values)

    async def seconds_by_day(
        self, since: float, guild_id: int | None = None
    ) -> list[tuple[int, float]]:
        """(UTC day number since the epoch, charged seconds) of succeeded jobs created since
        `since`, oldest day first; days without any are left out."""
        rows = await self._db.fetchall(
            f"SELECT {_day_number(self._db.dialect)} AS day, SUM(charged_seconds) AS seconds "  # noqa: S608
            f"FROM jobs WHERE state = 'succeeded' AND created_at >= :since AND {_SCOPE} "
            "GROUP BY day ORDER BY day",
            {"since": since, "guild": guild_id, "day": SECONDS_PER_DAY},
        )
        return [(int(r["day"]), float(r["seconds"])) for r in rows]

    async def top_motions(
        self, since: float, guild_id: int | None = None, limit: int = 5
    ) -> list[tuple[str, int]]:
        """(motion name, jobs) of the library motions most used by jobs created since `since`."""
        rows = await self._db.fetchall(
            "SELECT m.name AS name, COUNT(*) AS n FROM jobs JOIN motions AS m "  # noqa: S608
            f"ON m.id = jobs.motion_id WHERE jobs.created_at >= :since AND {_SCOPE} "
            "GROUP BY m.id ORDER BY n DESC, m.name LIMIT :limit",
            {"since": since, "guild": guild_id, "limit": limit},
        )
        return [(r["name"], int(r["n"])) for r in rows]

    async def active_counts(self) -> dict[str, int]:
        """Unfinished jobs of everyone, by state (the queue as the runner sees it)."""
        marks = ", ".join("?" for _ in ACTIVE_STATES)
        rows = await self._db.fetchall(
            f"SELECT state, COUNT(*) AS n FROM jobs WHERE state IN ({marks}) GROUP BY state",  # noqa: S608
            tuple(s.value for s in ACTIVE_STATES),
        )
        return {r["state"]: int(r["n"]) for r in rows}

    async def oldest_queued_at(self) -> float | None:
        """When the longest-waiting queued job was requested."""
        value = await self._db.fetchval("SELECT MIN(created_at) FROM jobs WHERE state = 'queued'")
        return None if value is None else float(value)
