"""Observed generation times, read from the jobs table: how long the provider took (from our
accepted submit to the first answer saying the clip was ready) for each kind of job."""

from __future__ import annotations

from db.connection import Executor


class PollHistoryRepository:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def generation_seconds(
        self, mode: str, orientation: str, min_video: float, max_video: float, limit: int
    ) -> list[float]:
        """The latest `limit` generation times of jobs of this mode and orientation whose
        reference video lasted from `min_video` (inclusive) to `max_video` (exclusive) seconds."""
        rows = await self._db.fetchall(
            "SELECT ready_at - processing_at AS took FROM jobs "
            "WHERE mode = :mode AND orientation = :orientation AND ready_at IS NOT NULL "
            "AND processing_at IS NOT NULL AND video_seconds >= :lo AND video_seconds < :hi "
            "ORDER BY ready_at DESC LIMIT :limit",
            {
                "mode": mode,
                "orientation": orientation,
                "lo": min_video,
                "hi": max_video,
                "limit": limit,
            },
        )
        return [float(r["took"]) for r in rows if r["took"] is not None and r["took"] >= 0]

    async def recent_ready_by_webhook(self, limit: int) -> tuple[int, int]:
        """Of the latest `limit` clips found ready, (how many, how many a webhook announced)."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN webhook_at IS NOT NULL AND "
            "webhook_at <= ready_at THEN 1 ELSE 0 END), 0) AS hooked FROM (SELECT ready_at, "
            "webhook_at FROM jobs WHERE ready_at IS NOT NULL ORDER BY ready_at DESC LIMIT ?) "
            "AS recent",
            (limit,),
        )
        if row is None:
            return 0, 0
        return int(row["n"]), int(row["hooked"])
