"""Where a job's messages can go: the job's channel, the interaction's follow-up while its token is
valid, and the member's DMs, with each place's upload limit. Discord's refusals become `RouteClosed`
(try the next place) or `TooLarge`; places that refused are skipped for a while, since repeated
failed requests can get the bot's IP banned. Memory here is an optimisation only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import discord

from domain import Job

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
# A channel or DM that refused us is skipped for this long.
REFUSAL_MEMORY_SECONDS = 600.0
# An interaction this close to its 15-minute expiry is no longer used.
TOKEN_SAFETY_MARGIN = timedelta(seconds=30)

# The route cannot be used: no access or permission, unknown channel or message, closed DMs,
# dead interaction token.
ROUTE_CLOSED_CODES = frozenset({50001, 50013, 10003, 10008, 50007, 10062, 50027})
_TOO_LARGE_CODE = 40005


class RouteClosed(Exception):
    """This route cannot deliver; try the next one."""


class TooLarge(Exception):
    """Discord refused the attachment's size (40005)."""


@dataclass(frozen=True)
class Route:
    """One place a message can go: `send` posts it, `upload_limit` caps its attachment."""

    name: str  # "channel", "interaction" or "dm"
    prefix: str  # prefixed to the delivery route: "", "interaction-", "dm-"
    upload_limit: int
    send: Callable[..., Any]
    supports_nonce: bool


class Routes:
    def __init__(
        self, client: discord.Client, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._monotonic = monotonic
        self._interactions: dict[int, discord.Interaction] = {}
        self._refused_until: dict[tuple[str, int], float] = {}

    # --- interactions -------------------------------------------------------------------------
    def remember_interaction(self, job_id: int, interaction: discord.Interaction) -> None:
        """Keep the interaction for its upload limit and as a fallback route, until it expires."""
        for old in [j for j, i in self._interactions.items() if not _token_valid(i)]:
            del self._interactions[old]
        if _token_valid(interaction):
            self._interactions[job_id] = interaction

    def forget(self, job_id: int) -> None:
        self._interactions.pop(job_id, None)

    def _interaction_for(self, job_id: int) -> discord.Interaction | None:
        interaction = self._interactions.get(job_id)
        if interaction is not None and not _token_valid(interaction):
            del self._interactions[job_id]
            return None
        return interaction

    # --- the places ---------------------------------------------------------------------------
    def for_status(self, job: Job) -> list[Route]:
        routes = (self._channel_route(job), self._dm_route(job))
        return [r for r in routes if r is not None]

    def for_delivery(self, job: Job, size: int | None = None) -> list[Route]:
        channel, interaction, dm = (
            self._channel_route(job),
            self._interaction_route(job),
            self._dm_route(job),
        )
        # The interaction's limit can be larger (the user's Nitro): it posts in the same channel,
        # so prefer it when only it can take the original file.
        if (
            channel is not None
            and interaction is not None
            and size is not None
            and channel.upload_limit < size <= interaction.upload_limit
        ):
            channel, interaction = interaction, channel
        return [r for r in (channel, interaction, dm) if r is not None]

    def _channel_route(self, job: Job) -> Route | None:
        if job.channel_id is None or self._refused("channel", job.channel_id):
            return None
        guild = self._client.get_guild(job.guild_id) if job.guild_id is not None else None
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        return Route("channel", "", limit, channel.send, supports_nonce=True)

    def _interaction_route(self, job: Job) -> Route | None:
        interaction = self._interaction_for(job.id)
        if interaction is None:
            return None

        async def send(**kwargs: Any) -> Any:
            return await interaction.followup.send(**kwargs, wait=True)

        return Route(
            "interaction", "interaction-", interaction.filesize_limit, send, supports_nonce=False
        )

    def _dm_route(self, job: Job) -> Route | None:
        if self._refused("dm", job.user_id):
            return None
        client = self._client

        async def send(**kwargs: Any) -> Any:
            channel = await client.create_dm(discord.Object(id=job.user_id))
            return await channel.send(**kwargs)

        return Route("dm", "dm-", DEFAULT_UPLOAD_LIMIT, send, supports_nonce=True)

    # --- sending ------------------------------------------------------------------------------
    async def send(self, job: Job, route: Route, kwargs: dict[str, Any]) -> Any:
        """Send on one route; translate Discord's refusals into RouteClosed / TooLarge."""
        if not route.supports_nonce:
            kwargs = {k: v for k, v in kwargs.items() if k != "nonce"}
        try:
            return await route.send(**kwargs)
        except discord.HTTPException as exc:
            if exc.code == _TOO_LARGE_CODE or exc.status == 413:
                raise TooLarge from exc
            if exc.status >= 500 or exc.status == 429:
                raise  # an outage: the runner retries the delivery later
            log.warning(
                "job %d: %s route refused (HTTP %d, code %d); trying the next",
                job.id,
                route.name,
                exc.status,
                exc.code,
            )
            self._close(job, route, exc)
            raise RouteClosed from exc

    def _close(self, job: Job, route: Route, exc: discord.HTTPException) -> None:
        if route.name == "interaction":
            self._interactions.pop(job.id, None)
        elif route.name == "dm" and exc.code in ROUTE_CLOSED_CODES:
            self._refused_until[("dm", job.user_id)] = self._monotonic() + REFUSAL_MEMORY_SECONDS
        elif route.name == "channel" and job.channel_id is not None:
            self.remember_refusal(exc, "channel", job.channel_id)

    def remember_refusal(self, exc: discord.HTTPException, kind: str, target: int | None) -> None:
        if target is not None and exc.code in ROUTE_CLOSED_CODES - {10008}:
            self._refused_until[(kind, target)] = self._monotonic() + REFUSAL_MEMORY_SECONDS

    def _refused(self, kind: str, target: int) -> bool:
        until = self._refused_until.get((kind, target))
        if until is None:
            return False
        if until <= self._monotonic():
            del self._refused_until[(kind, target)]
            return False
        return True


def message_kwargs(
    *,
    content: str | None = None,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    mention: int | None = None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    # Mention only the job's owner, whatever the text contains.
    users: list[discord.Object] = [] if mention is None else [discord.Object(id=mention)]
    kwargs["allowed_mentions"] = discord.AllowedMentions(everyone=False, roles=False, users=users)
    return kwargs


def describe(exc: BaseException) -> str:
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status}, code {exc.code}"
    return type(exc).__name__


def _token_valid(interaction: discord.Interaction) -> bool:
    return discord.utils.utcnow() < interaction.expires_at - TOKEN_SAFETY_MARGIN
