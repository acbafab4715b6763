"""Files kept as attachments of Discord messages, and fresh links to them.

Discord's attachment links are signed and expire after about a day, but fetching the message
again (`GET /channels/{id}/messages/{id}`) returns freshly signed ones. `MessageLinks` is the
engine's LinkRefresher (services/links.py) built on that, and posts the messages that keep the
bot's own files (library motions)."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import discord

from domain import HostedFile
from services.links import InputGoneError, RefreshFailedError

log = logging.getLogger(__name__)

# Unknown channel, unknown message, missing access: the file cannot be reached any more.
GONE_CODES = frozenset({10003, 10008, 50001})


class PostRefused(Exception):
    """The bot may not post in that channel (or the channel is gone)."""


class PostTooLarge(Exception):
    """Discord refused the file's size (413 / 40005)."""


class MessageLinks:
    """Implements services.links.LinkRefresher with the Discord client."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def fresh_url(self, source: HostedFile) -> str:
        channel = self._client.get_partial_messageable(source.channel_id)
        try:
            message = await channel.fetch_message(source.message_id)
        except (discord.NotFound, discord.Forbidden) as exc:
            raise InputGoneError(f"message {source.message_id}: code {exc.code}") from exc
        except discord.HTTPException as exc:
            if exc.code in GONE_CODES:
                raise InputGoneError(f"message {source.message_id}: code {exc.code}") from exc
            raise RefreshFailedError(f"HTTP {exc.status}, code {exc.code}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RefreshFailedError(type(exc).__name__) from exc
        for attachment in message.attachments:
            if attachment.id == source.attachment_id:
                return attachment.url
        raise InputGoneError(f"message {source.message_id} no longer has the attachment")

    async def post_file(
        self, channel_id: int, guild_id: int | None, content: str, path: Path, filename: str
    ) -> HostedFile:
        """Post `path` as a message that keeps it; the message and attachment it is kept in."""
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            message = await channel.send(
                content,
                file=discord.File(path, filename=filename),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info("posting a kept file in channel %d refused (code %d)", channel_id, exc.code)
            raise PostRefused from exc
        except discord.HTTPException as exc:
            if exc.status == 413 or exc.code == 40005:
                raise PostTooLarge from exc
            raise
        if not message.attachments:  # Discord always returns the attachment it stored
            raise RuntimeError(f"message {message.id} came back without its attachment")
        return HostedFile(message.channel.id, message.id, message.attachments[0].id)

    async def delete(self, source: HostedFile) -> None:
        """Best effort: remove a kept file's message that turned out not to be needed."""
        message = self._client.get_partial_messageable(source.channel_id).get_partial_message(
            source.message_id
        )
        try:
            await message.delete()
        except discord.HTTPException as exc:
            log.info("could not delete message %d (code %d)", source.message_id, exc.code)
