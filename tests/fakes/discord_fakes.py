"""Fake Discord for tests and benchmarks: spec'd mocks of discord.py objects, and a loopback HTTP
server that plays Discord's attachment CDN.

Every fake is a ``Mock(spec=<the discord.py class>)``, so reading a misspelt attribute fails.
Awaited calls (defer, sends, edits, DM creation, owner lookups) and CDN downloads are appended in
order to ``FakeDiscord.calls``; posted messages are recorded as ``Sent`` and edits as ``Edit``.
Failures are injected per channel, per message or per interaction with real discord.py
exception classes (``forbidden()``, ``not_found()``, ``server_error()``...).

Files the bot posts (and members' messages made with ``member_message``) are kept on the fake CDN
behind signed links that expire after a day of the CDN's clock (``FakeCdn.advance``), as
Discord's do; ``fetch_message`` returns the message again with freshly signed links, until the
message or its channel is deleted (``delete_message``, ``delete_channel``).

No pytest imports: the benchmark uses this module too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, Mock

import aiohttp
import discord
import yarl
from aiohttp import web
from discord import app_commands
from discord.ext import commands

import cogs.animate as animate_extension
import cogs.motions as motions_extension
from bot import compose_engine
from cogs.animate import AnimateCog
from cogs.animate_menu import AnimateMenu
from cogs.errors import on_app_command_error
from cogs.message_host import MessageLinks
from cogs.motions import MotionCog
from cogs.notifier import DiscordNotifier
from db.connection import Database
from db.jobs import JobsRepository
from domain import Job, JobState
from services.app import Services
from services.quota import Requester
from settings import Settings
from tests.helpers import new_job, walk_to

DEFAULT_UPLOAD_LIMIT = discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES
DM_CHANNEL_BASE = 7_000_000_000


# --------------------------------------------------------------------------------------------------
# Discord's HTTP errors


def http_error(
    kind: type[discord.HTTPException], status: int, code: int, text: str = "fake error"
) -> discord.HTTPException:
    """A real discord.py exception, as raised for an HTTP answer with this status and JSON code."""
    response = Mock(spec=aiohttp.ClientResponse)
    response.status = status
    response.reason = "Fake"
    return kind(response, {"code": code, "message": text})


def forbidden(code: int = 50013) -> discord.HTTPException:
    """50013 Missing Permissions, 50001 Missing Access, 50007 Cannot send messages to this user."""
    return http_error(discord.Forbidden, 403, code, "Missing Permissions")


def not_found(code: int = 10003) -> discord.HTTPException:
    """10003 Unknown Channel, 10008 Unknown Message, 10062 Unknown Interaction."""
    return http_error(discord.NotFound, 404, code, "Unknown")


def too_large() -> discord.HTTPException:
    return http_error(discord.HTTPException, 413, 40005, "Request entity too large")


def server_error() -> discord.HTTPException:
    return http_error(discord.DiscordServerError, 503, 0, "Service Unavailable")


def token_expired() -> discord.HTTPException:
    return http_error(discord.HTTPException, 401, 50027, "Invalid Webhook Token")


# --------------------------------------------------------------------------------------------------
# What the bot did


@dataclass
class Sent:
    """One message the bot posted. ``where`` is "channel", "followup" or "response"."""

    where: str
    channel_id: int | None
    message_id: int
    content: str | None = None
    embed: discord.Embed | None = None
    file_name: str | None = None
    file_size: int | None = None
    custom_ids: list[str] = field(default_factory=list)
    nonce: str | int | None = None
    mentions_users: list[int] = field(default_factory=list)
    ephemeral: bool = False
    view: discord.ui.View | None = None

    @property
    def text(self) -> str:
        """Content plus the embed's title, description and fields, for wording checks."""
        parts = [self.content or ""]
        if self.embed is not None:
            parts += [self.embed.title or "", self.embed.description or ""]
            parts += [f"{f.name}\n{f.value}" for f in self.embed.fields]
        return "\n".join(parts)


@dataclass
class Edit:
    channel_id: int
    message_id: int
    embed: discord.Embed | None
    custom_ids: list[str]


def _custom_ids(view: discord.ui.View | None) -> list[str]:
    if view is None:
        return []
    return [str(child.custom_id) for child in view.children if hasattr(child, "custom_id")]


def _mentioned_users(allowed: discord.AllowedMentions | None) -> list[int]:
    if allowed is None or not isinstance(allowed.users, list):
        return []
    return [u.id for u in allowed.users]


# --------------------------------------------------------------------------------------------------
# The fake Discord


class FakeDiscord:
    """Channels, DMs, guilds, users and interactions that share one call log."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.calls: list[str] = []
        self.sent: list[Sent] = []
        self.edits: list[Edit] = []
        self.latency = latency  # seconds each fake API call waits (the benchmark sets it)
        self.modals: list[discord.ui.Modal] = []
        self.guild_upload_limits: dict[int, int] = {}
        self._ids = itertools.count(1_000_000)
        self._channels: dict[int, Mock] = {}
        self._send_errors: dict[int, deque[BaseException]] = defaultdict(deque)
        self._send_always: dict[int, BaseException] = {}
        self._edit_errors: dict[int, deque[BaseException]] = defaultdict(deque)
        # Messages whose attachments live on the CDN: (channel, message) -> [(id, name, key)].
        self.cdn: FakeCdn | None = None
        self._hosted: dict[tuple[int, int], list[tuple[int, str, str, int]]] = {}
        self._deleted_messages: set[tuple[int, int]] = set()
        self._deleted_channels: set[int] = set()
        self._fetch_errors: dict[int, deque[BaseException]] = defaultdict(deque)

    def next_id(self) -> int:
        return next(self._ids)

    # --- failure injection --------------------------------------------------------------------
    def fail_sends(self, channel_id: int, *errors: BaseException, always: bool = False) -> None:
        """The next sends in the channel raise these (in order); `always`: every send does."""
        if always:
            self._send_always[channel_id] = errors[0]
        else:
            self._send_errors[channel_id].extend(errors)

    def fail_dms(self, user_id: int, error: BaseException) -> None:
        self.fail_sends(self.dm_channel_id(user_id), error, always=True)

    def fail_fetches(self, channel_id: int, *errors: BaseException) -> None:
        """The next message fetches in the channel raise these (in order)."""
        self._fetch_errors[channel_id].extend(errors)

    def fail_edits(self, message_id: int, *errors: BaseException) -> None:
        self._edit_errors[message_id].extend(errors)

    def _take_error(self, queue: deque[BaseException], always: BaseException | None) -> None:
        if queue:
            raise queue.popleft()
        if always is not None:
            raise always

    # --- messages -----------------------------------------------------------------------------
    def sent_in(self, channel_id: int) -> list[Sent]:
        return [s for s in self.sent if s.channel_id == channel_id and s.where == "channel"]

    def followups(self) -> list[Sent]:
        return [s for s in self.sent if s.where in ("followup", "response")]

    def edits_of(self, message_id: int) -> list[Edit]:
        return [e for e in self.edits if e.message_id == message_id]

    def message(self, channel_id: int | None, message_id: int | None = None) -> Mock:
        msg = Mock(spec=discord.Message)
        msg.id = message_id if message_id is not None else self.next_id()
        msg.channel = Mock(spec=discord.PartialMessageable)
        msg.channel.id = channel_id
        msg.jump_url = f"https://discord.com/channels/@me/{channel_id}/{msg.id}"
        msg.attachments = []
        if channel_id is not None:
            msg.attachments = self._attachments_of(channel_id, msg.id)
        return msg

    # --- messages kept on the CDN -------------------------------------------------------------
    def _host(self, channel_id: int, message_id: int, files: list[tuple[bytes, str]]) -> None:
        assert self.cdn is not None, "set world.cdn to keep posted files"
        stored = []
        for data, filename in files:
            stored.append((self.next_id(), filename, self.cdn.host(data), len(data)))
        self._hosted[(channel_id, message_id)] = stored

    def _attachments_of(self, channel_id: int, message_id: int) -> list[Mock]:
        """The message's attachments with links signed now (Discord signs them on each fetch)."""
        found = []
        for attachment_id, filename, key, size in self._hosted.get((channel_id, message_id), []):
            assert self.cdn is not None
            attachment = self.attachment(
                self.cdn.signed_url(key, filename),
                filename=filename,
                size=size,
                content_type=_content_type(filename),
            )
            attachment.id = attachment_id
            attachment.ephemeral = False
            found.append(attachment)
        return found

    def member_message(
        self, channel_id: int, files: Iterable[Path], *, guild_id: int | None = 10
    ) -> Mock:
        """A member's message with these files attached (the Animate menu's target)."""
        message_id = self.next_id()
        self._host(channel_id, message_id, [(p.read_bytes(), p.name) for p in files])
        message = self.message(channel_id, message_id)
        place = guild_id or "@me"
        message.jump_url = f"https://discord.com/channels/{place}/{channel_id}/{message_id}"
        return message

    def delete_message(self, channel_id: int, message_id: int) -> None:
        self._deleted_messages.add((channel_id, message_id))

    def delete_channel(self, channel_id: int) -> None:
        self._deleted_channels.add(channel_id)

    async def _fetch(self, channel_id: int, message_id: int) -> Mock:
        self.calls.append(f"fetch:{message_id}")
        await self._pause()
        self._take_error(self._fetch_errors[channel_id], None)
        if channel_id in self._deleted_channels:
            raise not_found(10003)
        if (channel_id, message_id) in self._deleted_messages:
            raise not_found(10008)
        if (channel_id, message_id) not in self._hosted:
            raise not_found(10008)
        return self.message(channel_id, message_id)

    async def _pause(self) -> None:
        # Always yield, as a real HTTP call does, even with no simulated latency.
        await asyncio.sleep(self.latency)

    def _record(self, where: str, channel_id: int | None, kwargs: dict[str, Any]) -> Sent:
        file = kwargs.get("file")
        file_name = file_size = None
        if file is not None:
            file_name = file.filename
            file_size = len(file.fp.read())
            file.close()  # discord.py closes files it sent
        sent = Sent(
            where=where,
            channel_id=channel_id,
            message_id=self.next_id(),
            content=kwargs.get("content"),
            embed=kwargs.get("embed"),
            file_name=file_name,
            file_size=file_size,
            custom_ids=_custom_ids(kwargs.get("view")),
            nonce=kwargs.get("nonce"),
            mentions_users=_mentioned_users(kwargs.get("allowed_mentions")),
            ephemeral=bool(kwargs.get("ephemeral", False)),
            view=kwargs.get("view"),
        )
        self.sent.append(sent)
        return sent

    # --- channels -----------------------------------------------------------------------------
    def dm_channel_id(self, user_id: int) -> int:
        return DM_CHANNEL_BASE + user_id

    def channel(self, channel_id: int) -> Mock:
        """A PartialMessageable whose send and edits are recorded (or fail as injected)."""
        if channel_id in self._channels:
            return self._channels[channel_id]
        channel = Mock(spec=discord.PartialMessageable)
        channel.id = channel_id

        async def send(content: str | None = None, **kwargs: Any) -> Mock:
            self.calls.append(f"send:{channel_id}")
            await self._pause()
            if "file" in kwargs:
                try:
                    self._take_error(
                        self._send_errors[channel_id], self._send_always.get(channel_id)
                    )
                except BaseException:
                    kwargs["file"].close()
                    raise
            else:
                self._take_error(self._send_errors[channel_id], self._send_always.get(channel_id))
            data = kwargs["file"].fp.read() if "file" in kwargs and self.cdn else None
            if data is not None:
                kwargs["file"].fp.seek(0)
            sent = self._record("channel", channel_id, {"content": content, **kwargs})
            if data is not None:
                self._host(channel_id, sent.message_id, [(data, sent.file_name or "file")])
            return self.message(channel_id, sent.message_id)

        channel.send = AsyncMock(side_effect=send)

        async def fetch_message(message_id: int) -> Mock:
            return await self._fetch(channel_id, message_id)

        channel.fetch_message = AsyncMock(side_effect=fetch_message)
        channel.get_partial_message = Mock(
            side_effect=lambda message_id: self._partial_message(channel_id, message_id)
        )
        self._channels[channel_id] = channel
        return channel

    def _partial_message(self, channel_id: int, message_id: int) -> Mock:
        message = Mock(spec=discord.PartialMessage)
        message.id = message_id

        async def edit(**kwargs: Any) -> Mock:
            self.calls.append(f"edit:{message_id}")
            await self._pause()
            self._take_error(self._edit_errors[message_id], None)
            self.edits.append(
                Edit(channel_id, message_id, kwargs.get("embed"), _custom_ids(kwargs.get("view")))
            )
            return self.message(channel_id, message_id)

        async def delete(**_: Any) -> None:
            self.calls.append(f"delete:{message_id}")
            await self._pause()
            self.delete_message(channel_id, message_id)

        message.edit = AsyncMock(side_effect=edit)
        message.delete = AsyncMock(side_effect=delete)
        return message

    # --- guilds, users, the bot ---------------------------------------------------------------
    def guild(self, guild_id: int) -> Mock:
        guild = Mock(spec=discord.Guild)
        guild.id = guild_id
        guild.filesize_limit = self.guild_upload_limits.get(guild_id, DEFAULT_UPLOAD_LIMIT)
        return guild

    def user(self, user_id: int) -> Mock:
        user = Mock(spec=discord.User)
        user.id = user_id
        user.mention = f"<@{user_id}>"
        user.bot = False
        return user

    def member(self, user_id: int, guild_id: int, role_ids: Iterable[int] = ()) -> Mock:
        member = Mock(spec=discord.Member)
        member.id = user_id
        member.mention = f"<@{user_id}>"
        member.bot = False
        member.guild = self.guild(guild_id)
        roles = []
        for role_id in role_ids:
            role = Mock(spec=discord.Role)
            role.id = role_id
            roles.append(role)
        member.roles = roles
        return member

    def bot(self, services: Any = None, owner_ids: Iterable[int] = ()) -> Mock:
        """A spec'd commands.Bot with the attributes AnimateBot adds (services, settings)."""
        owners = set(owner_ids)
        bot = Mock(spec=commands.Bot)
        bot.services = services
        bot.settings = None if services is None else services.settings
        bot.get_partial_messageable = Mock(side_effect=lambda cid, **_: self.channel(cid))
        bot.get_guild = Mock(side_effect=self.guild)

        async def create_dm(user: discord.abc.Snowflake) -> Mock:
            self.calls.append(f"create_dm:{user.id}")
            await self._pause()
            return self.channel(self.dm_channel_id(user.id))

        async def is_owner(user: discord.abc.User) -> bool:
            self.calls.append("is_owner")
            return user.id in owners

        bot.create_dm = AsyncMock(side_effect=create_dm)
        bot.is_owner = AsyncMock(side_effect=is_owner)
        return bot

    # --- interactions -------------------------------------------------------------------------
    def interaction(
        self,
        *,
        user: Mock,
        channel_id: int,
        guild_id: int | None = None,
        client: Any = None,
        filesize_limit: int = DEFAULT_UPLOAD_LIMIT,
        age: timedelta = timedelta(0),
        manage_guild: bool = False,
        command: str | None = "animate",
        defer_error: BaseException | None = None,
        followup_errors: Iterable[BaseException] = (),
    ) -> Mock:
        """An application-command (or component, command=None) interaction."""
        interaction = Mock(spec=discord.Interaction)
        interaction.id = self.next_id()
        interaction.user = user
        interaction.guild_id = guild_id
        interaction.guild = self.guild(guild_id) if guild_id is not None else None
        interaction.channel = self.channel(channel_id)
        interaction.channel_id = channel_id
        interaction.client = client
        interaction.filesize_limit = filesize_limit
        interaction.extras = {}
        interaction.permissions = discord.Permissions(manage_guild=manage_guild)
        created = discord.utils.utcnow() - age
        interaction.created_at = created
        interaction.expires_at = created + timedelta(minutes=15)
        if command is None:
            interaction.command = None
        else:
            interaction.command = Mock(spec=app_commands.Command)
            interaction.command.qualified_name = command
        interaction.response = self._response(defer_error)
        interaction.followup = self._followup(interaction, channel_id, list(followup_errors))

        async def edit_original_response(**kwargs: Any) -> Mock:
            self.calls.append("edit_original")
            self._record("original-edit", channel_id, kwargs)
            return self.message(channel_id)

        interaction.edit_original_response = AsyncMock(side_effect=edit_original_response)
        return interaction

    def _response(self, defer_error: BaseException | None) -> Mock:
        response = Mock(spec=discord.InteractionResponse)
        done = [False]

        async def defer(**kwargs: Any) -> None:
            self.calls.append("defer")
            if defer_error is not None:
                raise defer_error
            done[0] = True
            await self._pause()

        async def send_message(content: str | None = None, **kwargs: Any) -> None:
            self.calls.append("response")
            done[0] = True
            self._record("response", None, {"content": content, **kwargs})

        async def edit_message(**kwargs: Any) -> None:
            self.calls.append("edit_message")
            done[0] = True
            self._record("response-edit", None, kwargs)

        async def send_modal(modal: discord.ui.Modal) -> None:
            self.calls.append("modal")
            done[0] = True
            self.modals.append(modal)

        response.defer = AsyncMock(side_effect=defer)
        response.send_message = AsyncMock(side_effect=send_message)
        response.edit_message = AsyncMock(side_effect=edit_message)
        response.send_modal = AsyncMock(side_effect=send_modal)
        response.is_done = Mock(side_effect=lambda: done[0])
        return response

    def _followup(self, interaction: Mock, channel_id: int, errors: list[BaseException]) -> Mock:
        followup = Mock(spec=discord.Webhook)
        queue = deque(errors)

        async def send(content: str | None = None, **kwargs: Any) -> Mock:
            self.calls.append("followup")
            await self._pause()
            if queue:
                if "file" in kwargs:
                    kwargs["file"].close()
                raise queue.popleft()
            uploads = kwargs.pop("files", None) or []
            sent = self._record("followup", channel_id, {"content": content, **kwargs})
            message = Mock(spec=discord.WebhookMessage)
            message.id = sent.message_id
            message.attachments = [self._posted_attachment(channel_id, f) for f in uploads]
            message.channel = interaction.channel
            message.jump_url = f"https://discord.com/channels/@me/{channel_id}/{sent.message_id}"
            return message

        followup.send = AsyncMock(side_effect=send)
        return followup

    def _posted_attachment(self, channel_id: int, file: discord.File) -> Mock:
        """An attachment of a message the bot posted (`files=`), with a CDN-like link."""
        attachment = Mock(spec=discord.Attachment)
        attachment.id = self.next_id()
        attachment.filename = file.filename
        attachment.size = len(file.fp.read())
        attachment.url = (
            f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment.id}/{file.filename}"
        )
        file.close()
        return attachment

    def attachment(
        self,
        url: str,
        *,
        filename: str,
        size: int,
        content_type: str | None = None,
    ) -> Mock:
        attachment = Mock(spec=discord.Attachment)
        attachment.id = self.next_id()
        attachment.url = url
        attachment.proxy_url = url
        attachment.filename = filename
        attachment.size = size
        attachment.content_type = content_type
        attachment.width = attachment.height = None
        attachment.ephemeral = True
        return attachment


# --------------------------------------------------------------------------------------------------
# The CDN


LINK_LIFETIME_SECONDS = 24 * 3600


class FakeCdn:
    """A loopback aiohttp server serving uploads at signed-looking URLs, like Discord's CDN
    (``?ex=..&is=..&hm=<signature>``). Requests are logged to ``calls`` as "cdn:<filename>".

    Uploads (``add``) are served as long as the test likes. Kept files (``host``: what the bot
    posts, members' messages) are served only through links from ``signed_url``, which expire a
    day later on the CDN's clock (``advance`` moves it), as Discord's do."""

    def __init__(self, calls: list[str] | None = None) -> None:
        self.calls = calls if calls is not None else []
        self.signature = secrets.token_hex(16)
        self._files: dict[str, bytes] = {}
        self._status: dict[str, int] = {}
        self._kept: set[str] = set()
        self._secret = secrets.token_bytes(16)
        self._offset = 0.0
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None

    # --- the clock and signed links -----------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the CDN's clock: links signed more than a day before stop working."""
        self._offset += seconds

    def host(self, data: bytes) -> str:
        """Keep `data`; returns its key (served through `signed_url` links only)."""
        key = secrets.token_hex(6)
        self._files[key] = data
        self._status[key] = 200
        self._kept.add(key)
        return key

    def signed_url(self, key: str, filename: str) -> str:
        issued = int(self.now())
        expires = issued + LINK_LIFETIME_SECONDS
        return (
            f"{self.origin}/attachments/{key}/{filename}"
            f"?ex={expires:x}&is={issued:x}&hm={self._sign(key, expires)}&"
        )

    def _sign(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def link_works(self, url: str) -> bool:
        """Whether the CDN would serve this link now (without logging a download)."""
        parsed = yarl.URL(url)
        key = parsed.path.split("/")[2]
        return key in self._files and self._valid(key, parsed.query)

    def _valid(self, key: str, query: Any) -> bool:
        if key not in self._kept:
            return True
        try:
            expires = int(query.get("ex", ""), 16)
        except ValueError:
            return False
        signed = hmac.compare_digest(query.get("hm", ""), self._sign(key, expires))
        return signed and expires > self.now()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/attachments/{key}/{name}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._origin = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeCdn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def origin(self) -> str:
        assert self._origin is not None, "start() the server first"
        return self._origin

    def add(self, data: bytes, filename: str, *, status: int = 200) -> str:
        """Serve `data` as `filename`; returns its signed URL."""
        key = secrets.token_hex(6)
        self._files[key] = data
        self._status[key] = status
        return (
            f"{self.origin}/attachments/{key}/{filename}"
            f"?ex=6a000000&is=69ff0000&hm={self.signature}&"
        )

    async def _serve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls.append(f"cdn:{name}")
        key = request.match_info["key"]
        if key not in self._files or not self._valid(key, request.query):
            return web.Response(status=404, text="This content is no longer available.")
        status = self._status[key]
        if status != 200:
            return web.Response(status=status, text="gone")
        return web.Response(body=self._files[key], content_type="application/octet-stream")


def upload(
    world: FakeDiscord, cdn: FakeCdn, path: Path, *, filename: str | None = None, **kw: Any
) -> Mock:
    """Serve a file from the CDN and return the Attachment that points at it. Keywords:
    `size` (declared size, default the real one), `status` (HTTP status served)."""
    data = path.read_bytes()
    name = filename or path.name
    url = cdn.add(data, name, status=kw.pop("status", 200))
    size = kw.pop("size", len(data))
    return world.attachment(url, filename=name, size=size, **kw)


# --------------------------------------------------------------------------------------------------
# The Discord layer wired to real services, for tests and the benchmark


@dataclass
class Harness:
    """The cogs' collaborators as the bot wires them: real services (SQLite, quota, jobs, the
    runner, not started), a DiscordNotifier on a fake bot, and the /animate cog."""

    world: FakeDiscord
    cdn: FakeCdn
    settings: Settings
    services: Services
    bot: Mock
    notifier: DiscordNotifier
    cog: AnimateCog
    motion_cog: MotionCog
    menu: AnimateMenu

    def interaction(
        self,
        user_id: int = 1,
        *,
        guild_id: int | None = 10,
        channel_id: int = 100,
        role_ids: Iterable[int] = (),
        **kw: Any,
    ) -> Mock:
        """An interaction from a member of `guild_id`, or from a user in a DM when it is None."""
        if guild_id is None:
            user = self.world.user(user_id)
        else:
            user = self.world.member(user_id, guild_id, role_ids)
        return self.world.interaction(
            user=user, guild_id=guild_id, channel_id=channel_id, client=self.bot, **kw
        )

    def upload(self, path: Path, **kw: Any) -> Mock:
        return upload(self.world, self.cdn, path, **kw)

    async def animate(
        self,
        interaction: Mock,
        image: Mock,
        video: Mock | None = None,
        orientation: str = "image",
        mode: str = "std",
        prompt: str | None = None,
        *,
        motion: str | None = None,
    ) -> None:
        """Invoke /animate as the command tree does: an exception goes to the tree's handler,
        wrapped in CommandInvokeError."""
        await invoke(
            self.cog.animate,
            interaction,
            image=image,
            orientation=orientation,
            video=video,
            motion=motion,
            mode=mode,
            prompt=prompt,
        )

    async def motion(self, subcommand: str, interaction: Mock, /, **options: Any) -> None:
        """Invoke `/motion <subcommand>` (add, remove, list) as the command tree does."""
        group = self.motion_cog.app_command
        assert group is not None
        command = group.get_command(subcommand)
        assert isinstance(command, app_commands.Command)
        await invoke(command, interaction, **options)

    async def add_motion(
        self, name: str, clip: Path, *, user_id: int = 900, manage_guild: bool = True, **kw: Any
    ) -> None:
        """`/motion add` by a member with Manage Server (by default) in guild 10, channel 100."""
        interaction = self.interaction(user_id, manage_guild=manage_guild, command="motion add")
        await self.motion("add", interaction, name=name, video=self.upload(clip), **kw)


async def invoke(
    command: app_commands.Command[Any, ..., Any], interaction: Mock, **kw: Any
) -> None:
    """Call a command's callback on what it is bound to, as discord.py's tree does: an exception
    goes to the tree's error handler, wrapped in CommandInvokeError."""
    try:
        if command.binding is None:
            await command.callback(interaction, **kw)  # type: ignore[call-arg]
        else:
            await command.callback(command.binding, interaction, **kw)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - mirrors discord.py's tree
        await on_app_command_error(interaction, app_commands.CommandInvokeError(command, exc))


PRODUCTION: Any = object()  # build_harness(publish_image=...): keep what setup() wired


async def build_harness(
    *,
    settings: Settings,
    db: Database,
    session: aiohttp.ClientSession,
    cdn: FakeCdn,
    world: FakeDiscord | None = None,
    owner_ids: Iterable[int] = (),
    publish_image: Any = PRODUCTION,
) -> Harness:
    """Wire the Discord layer around real services. `settings` must allow `cdn.origin`."""
    world = world or FakeDiscord()
    cdn.calls = world.calls  # downloads join the one ordered log
    world.cdn = cdn  # what the bot posts is kept there, behind expiring links
    bot = world.bot(owner_ids=owner_ids)
    # The same builder and the same extension setup() as production (bot.py).
    services, notifier = compose_engine(bot, settings, db, session)
    bot.services, bot.notifier, bot.messages, bot.settings = services, notifier, notifier, settings
    await animate_extension.setup(bot)
    await motions_extension.setup(bot)
    cogs = [call.args[0] for call in bot.add_cog.await_args_list]
    [cog] = [c for c in cogs if isinstance(c, AnimateCog)]
    [motion_cog] = [c for c in cogs if isinstance(c, MotionCog)]
    by_name = {c.__cog_name__: c for c in cogs}
    bot.get_cog = Mock(side_effect=by_name.get)  # as commands.Bot finds a loaded cog
    if publish_image is not PRODUCTION:  # a test's own publisher, or None for none at all
        cog = AnimateCog(
            settings=settings,
            session=session,
            allowlist=services.allowlist,
            jobs=services.jobs,
            messages=notifier,
            is_owner=bot.is_owner,
            publish_image=publish_image,
            motions=services.motions,
        )
    # As cogs.animate_menu's setup() builds it (it finds the cog through the real bot).
    menu = AnimateMenu(cog, services.motions, MessageLinks(bot))
    return Harness(
        world=world,
        cdn=cdn,
        settings=settings,
        services=services,
        bot=bot,
        notifier=notifier,
        cog=cog,
        motion_cog=motion_cog,
        menu=menu,
    )


async def add_job(h: Harness, **overrides: Any) -> Job:
    """Enqueue a ``tests.helpers.new_job`` (user 1 in guild 10, channel 100, as
    ``Harness.interaction`` defaults to; created now) through the quota service."""
    new = new_job(**({"created_at": time.time()} | overrides))
    job_id = await h.services.quota.enqueue(new, Requester(new.user_id, new.guild_id))
    job = await h.services.jobs.get(job_id)
    assert job is not None
    return job


async def move_job(h: Harness, job: Job, state: JobState, **values: Any) -> Job:
    """Move `job` from its current state to `state` (which must succeed); return the moved job."""
    repo = JobsRepository(h.services.db)
    if job.state is JobState.QUEUED:
        assert await walk_to(repo, job.id, state, time.time(), **values)
    else:
        assert await repo.transition(job.id, job.state, state, time.time(), **values)
    moved = await repo.get(job.id)
    assert moved is not None
    return moved


def _content_type(filename: str) -> str | None:
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "webp": "image/webp",
        "mp4": "video/mp4",
        "mov": "video/quicktime",
    }.get(suffix)
