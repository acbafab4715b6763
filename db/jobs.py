"""The jobs table: inserting requests, guarded state transitions, and the runner's queries."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, TypedDict, Unpack

from db.connection import Executor, Row
from domain import DeliveryRoute, FailureCode, Job, JobState, Mode, NewJob, Orientation


class JobChanges(TypedDict, total=False):
    """The fields a job update may change; the type checker verifies every caller's names."""

    status_message_id: int | None
    result_message_id: int | None
    delivery: DeliveryRoute | None
    provider_job_id: str | None
    provider_eta: float | None
    attempts: int
    polls: int
    transient_errors: int
    next_attempt_at: float | None
    deadline_at: float | None
    charged_seconds: float
    result_url: str | None
    result_path: str | None
    failure_code: FailureCode | None
    failure_reason: str | None
    finished_at: float | None
    media_purged_at: float | None
    ready_at: float | None
    webhook_secret: str | None
    webhook_at: float | None


# The timestamp column each state's transition stamps.
_STAMP = {
    JobState.SUBMITTING: "submitting_at",
    JobState.PROCESSING: "processing_at",
    JobState.DELIVERING: "delivering_at",
    JobState.SUCCEEDED: "finished_at",
    JobState.FAILED: "finished_at",
    JobState.CANCELLED: "finished_at",
}


def job_from_row(row: Row) -> Job:
    data = dict(row)
    data["state"] = JobState(data["state"])
    data["mode"] = Mode(data["mode"])
    data["orientation"] = Orientation(data["orientation"])
    if data["failure_code"] is not None:
        data["failure_code"] = FailureCode(data["failure_code"])
    if data["delivery"] is not None:
        data["delivery"] = DeliveryRoute(data["delivery"])
    return Job(**data)


_COLUMNS = frozenset(f.name for f in fields(Job))
_NEW_COLUMNS = tuple(f.name for f in fields(NewJob))


def _assignments(values: dict[str, Any]) -> str:
    unknown = set(values) - _COLUMNS
    if unknown:
        raise ValueError(f"unknown job columns: {sorted(unknown)}")
    return ", ".join(f"{name} = :{name}" for name in values)


class JobsRepository:
    """Jobs queries on an executor (the database, or a transaction)."""

    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def insert(self, job: NewJob) -> int:
        """Insert a queued job and return its id."""
        names = ", ".join(_NEW_COLUMNS)
        marks = ", ".join(f":{n}" for n in _NEW_COLUMNS)
        job_id = await self._db.fetchval(
            f"INSERT INTO jobs ({names}) VALUES ({marks}) RETURNING id",  # noqa: S608 - fixed names
            asdict(job),
        )
        if job_id is None:
            raise RuntimeError("insert into jobs returned no row id")
        return int(job_id)

    async def get(self, job_id: int) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else job_from_row(row)

    async def transition(
        self,
        job_id: int,
        expected: JobState | tuple[JobState, ...],
        new: JobState,
        now: float,
        **changes: Unpack[JobChanges],
    ) -> bool:
        """Move a job to `new` only if it is still in `expected`; True if this call moved it."""
        expected_states = (expected,) if isinstance(expected, JobState) else expected
        for state in expected_states:
            if not state.can_move_to(new):
                raise ValueError(f"a job cannot move from {state} to {new}")
        values: dict[str, Any] = {"state": new.value, **changes}
        if new in _STAMP:
            values[_STAMP[new]] = now
        marks = ", ".join(f":expected{i}" for i in range(len(expected_states)))
        params = {**values, **{f"expected{i}": s.value for i, s in enumerate(expected_states)}}
        params["job_id"] = job_id
        result = await self._db.execute(
            f"UPDATE jobs SET {_assignments(values)} "  # noqa: S608 - validated column names
            f"WHERE id = :job_id AND state IN ({marks})",
            params,
        )
        return result.rowcount == 1

    async def update(self, job_id: int, expected: JobState, **changes: Unpack[JobChanges]) -> bool:
        """Change fields of a job that is still in `expected` (no state change)."""
        params = {**changes, "job_id": job_id, "expected": expected.value}
        result = await self._db.execute(
            f"UPDATE jobs SET {_assignments(dict(changes))} "  # noqa: S608 - validated column names
            "WHERE id = :job_id AND state = :expected",
            params,
        )
        return result.rowcount == 1

    async def by_webhook_secret(self, secret: str) -> Job | None:
        row = await self._db.fetchone("SELECT * FROM jobs WHERE webhook_secret = ?", (secret,))
        return None if row is None else job_from_row(row)

    async def prompt_poll(self, job_id: int, now: float) -> bool:
        """A webhook arrived: poll this processing job now (it never changes anything else)."""
        result = await self._db.execute(
            "UPDATE jobs SET next_attempt_at = CASE WHEN next_attempt_at < :now "
            "THEN next_attempt_at ELSE :now END, "
            "webhook_at = :now WHERE id = :id AND state = 'processing'",
            {"id": job_id, "now": now},
        )
        return result.rowcount == 1

    async def provider_job_taken(self, provider_job_id: str) -> bool:
        """Whether some job already follows this provider job."""
        value = await self._db.fetchval(
            "SELECT 1 FROM jobs WHERE provider_job_id = ? LIMIT 1", (provider_job_id,)
        )
        return value is not None

    async def adopt(
        self,
        job_id: int,
        *,
        provider_job_id: str,
        result_url: str,
        result_path: str | None,
        now: float,
    ) -> bool:
        """domain.ADOPTION: a job failed as submit_outcome_unknown whose provider job exists and
        finished moves failed -> delivering, free of charge (cost 0). True if this call moved it."""
        result = await self._db.execute(
            """
            UPDATE jobs SET state = 'delivering', provider_job_id = :provider_job_id,
                   result_url = :result_url, result_path = :result_path, cost_seconds = 0,
                   charged_seconds = 0, failure_code = NULL, failure_reason = NULL,
                   ready_at = :now, delivering_at = :now, webhook_at = :now,
                   next_attempt_at = :now, transient_errors = 0
            WHERE id = :id AND state = 'failed' AND failure_code = 'submit_outcome_unknown'
              AND provider_job_id IS NULL
            """,
            {
                "id": job_id,
                "provider_job_id": provider_job_id,
                "result_url": result_url,
                "result_path": result_path,
                "now": now,
            },
        )
        return result.rowcount == 1

    async def set_status_message(self, job_id: int, message_id: int | None) -> None:
        await self._db.execute(
            "UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def count_at_provider(self) -> int:
        """Jobs the provider is holding (or may be holding) for us right now: being submitted,
        or processing without a finished clip yet."""
        return int(
            await self._db.fetchval(
                "SELECT COUNT(*) FROM jobs WHERE state = 'submitting' "
                "OR (state = 'processing' AND result_url IS NULL)"
            )
        )

    async def next_fair_queued(self, now: float) -> Job | None:
        """The next queued job to submit: round-robin across users (the user served least
        recently goes first), first-in-first-out within one user."""
        row = await self._db.fetchone(
            """
            SELECT j.* FROM jobs AS j
            WHERE j.state = 'queued'
              AND (j.next_attempt_at IS NULL OR j.next_attempt_at <= :now)
              AND j.id = (SELECT MIN(q.id) FROM jobs AS q
                          WHERE q.user_id = j.user_id AND q.state = 'queued')
            ORDER BY COALESCE((SELECT MAX(s.submitting_at) FROM jobs AS s
                               WHERE s.user_id = j.user_id), 0), j.id
            LIMIT 1
            """,
            {"now": now},
        )
        return None if row is None else job_from_row(row)

    async def due_polls(
        self, now: float, exclude: tuple[int, ...] = (), limit: int = 50
    ) -> list[Job]:
        """Processing jobs whose next poll time has come, oldest first, except `exclude`."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state = 'processing' AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at LIMIT ?",
            (now, limit + len(exclude)),
        )
        return [job_from_row(r) for r in rows if r["id"] not in exclude][:limit]

    async def due_deliveries(self, now: float, exclude: tuple[int, ...] = ()) -> list[Job]:
        """Delivering jobs whose next attempt has come, except `exclude`."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state = 'delivering' "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id",
            (now,),
        )
        return [job_from_row(r) for r in rows if r["id"] not in exclude]

    async def next_wake_at(self, exclude: tuple[int, ...] = ()) -> float | None:
        """The earliest time a queued retry, a poll or a delivery retry becomes due, ignoring
        the jobs in `exclude` (those being worked on right now)."""
        marks = ", ".join("?" for _ in exclude)
        skip = f"AND id NOT IN ({marks})" if exclude else ""
        value = await self._db.fetchval(
            "SELECT MIN(next_attempt_at) FROM jobs "  # noqa: S608 - placeholders only
            f"WHERE state IN ('queued', 'processing', 'delivering') {skip}",
            exclude,
        )
        return None if value is None else float(value)

    async def count_in_states(self, *states: JobState) -> int:
        marks = ", ".join("?" for _ in states)
        return int(
            await self._db.fetchval(
                f"SELECT COUNT(*) FROM jobs WHERE state IN ({marks})",  # noqa: S608
                tuple(s.value for s in states),
            )
        )

    async def in_states(self, *states: JobState) -> list[Job]:
        marks = ", ".join("?" for _ in states)
        rows = await self._db.fetchall(
            f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY id",  # noqa: S608
            tuple(s.value for s in states),
        )
        return [job_from_row(r) for r in rows]

    async def queue_position(self, job_id: int) -> int:
        """1-based place among queued jobs (by id); 0 when the job is not queued."""
        return int(
            await self._db.fetchval(
                """
                SELECT CASE WHEN (SELECT state FROM jobs WHERE id = :id) = 'queued'
                       THEN (SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND id <= :id)
                       ELSE 0 END
                """,
                {"id": job_id},
            )
        )

    async def queued_head(self, limit: int) -> list[Job]:
        """The first `limit` queued jobs, in queue order."""
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state = 'queued' ORDER BY id LIMIT ?", (limit,)
        )
        return [job_from_row(r) for r in rows]

    async def queued_stale(self, created_before: float) -> list[Job]:
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE state = 'queued' AND created_at < ? ORDER BY id",
            (created_before,),
        )
        return [job_from_row(r) for r in rows]

    async def recent_for_user(
        self, user_id: int, guild_id: int | None = None, limit: int = 10, any_guild: bool = True
    ) -> list[Job]:
        """The user's latest jobs, newest first (in one guild when any_guild is False)."""
        if any_guild:
            rows = await self._db.fetchall(
                "SELECT * FROM jobs WHERE user_id = ? ORDER BY id DESC LIMIT ?", (user_id, limit)
            )
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM jobs WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ? "
                "ORDER BY id DESC LIMIT ?",
                (user_id, guild_id, limit),
            )
        return [job_from_row(r) for r in rows]

    async def media_to_purge(self, finished_before: float, limit: int = 200) -> list[Job]:
        rows = await self._db.fetchall(
            "SELECT * FROM jobs WHERE media_purged_at IS NULL AND finished_at IS NOT NULL "
            "AND finished_at < ? ORDER BY finished_at LIMIT ?",
            (finished_before, limit),
        )
        return [job_from_row(r) for r in rows]

    async def claim_side_by_side(self, job_id: int, now: float) -> bool:
        """Record that the side-by-side video of a delivered clip is being made; False when it
        was already made (or claimed), or the job did not succeed."""
        result = await self._db.execute(
            "UPDATE jobs SET side_by_side_at = ? "
            "WHERE id = ? AND state = 'succeeded' AND side_by_side_at IS NULL",
            (now, job_id),
        )
        return result.rowcount == 1

    async def release_side_by_side(self, job_id: int) -> None:
        """Give a claimed side-by-side back (it could not be made or posted)."""
        await self._db.execute("UPDATE jobs SET side_by_side_at = NULL WHERE id = ?", (job_id,))

    async def mark_media_purged(self, job_id: int, now: float) -> None:
        await self._db.execute("UPDATE jobs SET media_purged_at = ? WHERE id = ?", (now, job_id))
