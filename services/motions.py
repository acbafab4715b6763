"""The motion library: clips members animate with instead of uploading a video.

Each server has its own library (its curators add and remove motions), and the owners keep a
bot-wide one, offered in every server after the server's own and in DMs. A motion's clip is an
attachment of a message the bot posted; the message is stored with the clip's probe results, so
using a motion downloads nothing, and its link is fetched fresh whenever it is needed
(services/links.py). A motion whose message is found gone is marked unavailable: it is no longer
offered, and curators see it flagged in the list.

Refusals are `MotionError`s carrying what went wrong (`MotionProblem`) and the facts; the
Discord layer words them (cogs/motion_text.py). Adds, removals and curator changes are written
to the audit log in the same transaction as the change.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from db.audit import AuditRepository
from db.connection import Database
from db.motions import MotionsRepository
from domain import HostedFile, Motion, Orientation
from services.controls import Change
from services.links import InputGoneError, LinkRefresher, RefreshFailedError
from services.media import VIDEO_MAX_SECONDS, VideoInfo

NAME_MAX_CHARS = 32
DESCRIPTION_MAX_CHARS = 100
# Each library holds at least 200 motions; past this many it is a dump, not a library.
LIBRARY_MAX_MOTIONS = 500
# Autocomplete answers with at most this many choices (Discord's limit).
SUGGESTIONS_MAX = 25
# Letters (any script), digits and a little punctuation; it must start with a letter or digit.
_NAME = re.compile(r"^\w[\w .'()!&+\-]*$")
_BY_ID = re.compile(r"^#(\d{1,19})$")


class MotionProblem(enum.StrEnum):
    BAD_NAME = "bad_name"
    NAME_TAKEN = "name_taken"
    LIBRARY_FULL = "library_full"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"  # its message or channel is gone
    UNREACHABLE = "unreachable"  # Discord could not be asked for a fresh link just now
    TOO_LONG = "too_long"  # longer than the chosen orientation allows


class MotionError(Exception):
    """A motion request that cannot be done. `name` is the motion (or what was typed)."""

    def __init__(
        self,
        problem: MotionProblem,
        name: str,
        *,
        seconds: float | None = None,
        orientation: Orientation | None = None,
        bot_wide: bool = False,
    ) -> None:
        super().__init__(f"{problem}: {name}")
        self.problem = problem
        self.name = name
        self.seconds = seconds
        self.orientation = orientation
        self.bot_wide = bot_wide


@dataclass(frozen=True)
class Library:
    """What /motion list shows where `guild_id` is: the server's own motions and the bot-wide
    ones (each including unavailable motions; the Discord layer decides who sees those)."""

    guild_id: int | None
    own: list[Motion]
    bot_wide: list[Motion]


def allowed_orientations(seconds: float) -> tuple[Orientation, ...]:
    """The orientations a clip of this length may be used with."""
    return tuple(o for o in Orientation if seconds <= VIDEO_MAX_SECONDS[o.value] + 1e-9)


def check_fits(motion: Motion, orientation: Orientation) -> None:
    """Refuse a motion longer than `orientation` allows, as an uploaded video would be."""
    if orientation not in allowed_orientations(motion.video_seconds):
        raise MotionError(
            MotionProblem.TOO_LONG,
            motion.name,
            seconds=motion.video_seconds,
            orientation=orientation,
        )


def video_info(motion: Motion) -> VideoInfo:
    """The stored probe results, as probing the clip would give them."""
    return VideoInfo(
        container=motion.video_kind,
        width=motion.video_width,
        height=motion.video_height,
        duration_seconds=motion.video_seconds,
        size_bytes=motion.video_bytes,
        has_audio=motion.has_audio,
    )


def clean_name(name: str) -> str:
    """The name as stored (spaces collapsed), or MotionError(BAD_NAME)."""
    text = " ".join(name.split())
    if not 1 <= len(text) <= NAME_MAX_CHARS or not _NAME.match(text):
        raise MotionError(MotionProblem.BAD_NAME, text[: NAME_MAX_CHARS + 8])
    return text


class MotionService:
    """Add, remove, find and hand out library motions; who curates a server's library."""

    def __init__(
        self,
        db: Database,
        refresher: LinkRefresher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._motions = MotionsRepository(db)
        self._refresher = refresher
        self._clock = clock

    # --- adding and removing ----------------------------------------------------------------
    async def check_new(self, guild_id: int | None, name: str) -> str:
        """Before the clip is fetched: the cleaned name, if it is free and the library has room."""
        text = clean_name(name)
        await self._check_room(self._motions, guild_id, text)
        return text

    async def _check_room(self, repo: MotionsRepository, guild_id: int | None, name: str) -> None:
        current = await repo.named(guild_id, name)
        if current is not None and current.available:
            raise MotionError(MotionProblem.NAME_TAKEN, current.name, bot_wide=guild_id is None)
        if await repo.count(guild_id) >= LIBRARY_MAX_MOTIONS + (current is not None):
            raise MotionError(MotionProblem.LIBRARY_FULL, name, bot_wide=guild_id is None)

    async def add(
        self,
        *,
        guild_id: int | None,
        actor_id: int,
        name: str,
        description: str | None,
        source: HostedFile,
        filename: str,
        video: VideoInfo,
    ) -> Motion:
        """Store a validated clip whose message the bot posted. An unavailable motion of the
        same name is replaced (its message is gone anyway)."""
        text = clean_name(name)
        now = self._clock()
        motion = Motion(
            id=0,
            guild_id=guild_id,
            name=text,
            description=(description or "").strip()[:DESCRIPTION_MAX_CHARS] or None,
            source=source,
            filename=filename,
            video_kind=video.container,
            video_bytes=video.size_bytes,
            video_width=video.width,
            video_height=video.height,
            video_seconds=video.duration_seconds,
            has_audio=video.has_audio,
            added_by=actor_id,
            added_at=now,
        )
        async with self._db.transaction() as tx:
            repo = MotionsRepository(tx)
            await self._check_room(repo, guild_id, text)
            old = await repo.named(guild_id, text)
            if old is not None:
                await repo.remove(old.id, now)
            motion_id = await repo.insert(motion)
            await AuditRepository(tx).record(
                guild_id, actor_id, "motion.add", f"motion:{text}", None, describe(motion), now
            )
        return replace(motion, id=motion_id)

    async def remove(self, guild_id: int | None, actor_id: int, name: str) -> Motion:
        """Take a motion out of one library. Jobs already queued with it still run."""
        now = self._clock()
        async with self._db.transaction() as tx:
            repo = MotionsRepository(tx)
            motion = await repo.named(guild_id, name.strip())
            if motion is None:
                raise MotionError(MotionProblem.NOT_FOUND, name.strip(), bot_wide=guild_id is None)
            await repo.remove(motion.id, now)
            await AuditRepository(tx).record(
                guild_id,
                actor_id,
                "motion.remove",
                f"motion:{motion.name}",
                describe(motion),
                None,
                now,
            )
        return motion

    # --- finding ----------------------------------------------------------------------------
    async def library(self, guild_id: int | None) -> Library:
        own = await self._motions.library(guild_id) if guild_id is not None else []
        return Library(guild_id, own, await self._motions.library(None))

    async def suggest(self, guild_id: int | None, typed: str) -> list[Motion]:
        """Autocomplete: available motions whose name contains what was typed, the server's own
        first, then the bot-wide ones, most used first within each; at most 25."""
        return await self._motions.offered(guild_id, typed.strip(), SUGGESTIONS_MAX)

    async def most_used(self, guild_id: int | None, limit: int) -> list[Motion]:
        """The available motions offered here, most used first (the server's and bot-wide)."""
        return await self._motions.offered(guild_id, "", limit, own_first=False)

    async def resolve(self, guild_id: int | None, value: str) -> Motion:
        """The motion a member picked (`#id` from autocomplete) or typed (a name: the server's
        own first, then the bot-wide one). Refuses unknown and unavailable motions."""
        text = value.strip()
        motion: Motion | None = None
        by_id = _BY_ID.match(text)
        if by_id is not None:
            found = await self._motions.get(int(by_id.group(1)))
            if found is not None and found.guild_id in (guild_id, None):
                current = await self._motions.named(found.guild_id, found.name)
                motion = current if current is not None and current.id == found.id else None
        else:
            if guild_id is not None:
                motion = await self._motions.named(guild_id, text)
            if motion is None:
                motion = await self._motions.named(None, text)
        if motion is None:
            raise MotionError(MotionProblem.NOT_FOUND, text)
        if not motion.available:
            raise MotionError(MotionProblem.UNAVAILABLE, motion.name)
        return motion

    async def fresh_url(self, motion: Motion) -> str:
        """A freshly signed link to the motion's clip. A motion whose message is gone is marked
        unavailable (and refused)."""
        if self._refresher is None:
            raise MotionError(MotionProblem.UNREACHABLE, motion.name)
        try:
            return await self._refresher.fresh_url(motion.source)
        except InputGoneError:
            await self._motions.mark_unavailable(motion.id, self._clock())
            raise MotionError(MotionProblem.UNAVAILABLE, motion.name) from None
        except RefreshFailedError:
            raise MotionError(MotionProblem.UNREACHABLE, motion.name) from None

    # --- curators ---------------------------------------------------------------------------
    async def curator_roles(self, guild_id: int) -> list[int]:
        return await self._motions.curator_roles(guild_id)

    async def set_curator(
        self, guild_id: int, actor_id: int, role_id: int, curator: bool
    ) -> Change:
        """Let a role's members add and remove this server's motions, or stop them."""
        now = self._clock()
        async with self._db.transaction() as tx:
            repo = MotionsRepository(tx)
            before = await repo.curator_roles(guild_id)
            changed = await repo.set_curator(guild_id, role_id, curator)
            after = await repo.curator_roles(guild_id)
            change = Change("motion.curators", f"role:{role_id}", _roles(before), _roles(after))
            if changed:
                await AuditRepository(tx).record(
                    guild_id, actor_id, change.action, change.target, change.old, change.new, now
                )
        return change


def describe(motion: Motion) -> str:
    """`6 s, image or video` and the description: what the audit log keeps of a motion."""
    orientations = " or ".join(o.value for o in allowed_orientations(motion.video_seconds))
    text = f"{motion.video_seconds:.1f} s, {orientations}"
    return f"{text}: {motion.description}" if motion.description else text


def _roles(role_ids: list[int]) -> str:
    return ", ".join(f"role:{r}" for r in role_ids) if role_ids else "none"
