"""Start-up checks, and the advice for start-up failures an operator can fix.

Each failure is told as one line on stderr, naming the problem and what to do, and ends the process
with its own exit code:

    2  configuration (a variable is missing or malformed)
    3  the database cannot be opened or used
    4  the database is locked by another process
    5  MEDIA_DIR cannot be created or written
    6  Discord cannot be reached (network, DNS, firewall, outage)
    7  Discord rejected DISCORD_TOKEN

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

import aiohttp
import discord
from discord.gateway import DiscordWebSocket

from db.connection import DatabaseError, DatabaseLockedError
from settings import SettingsError

GATEWAY_PROBE_TIMEOUT_SECONDS = 10.0

_RETRY = "then start the bot again"
_NETWORK_ADVICE = f"check this machine's internet connection, DNS, firewall or proxy, {_RETRY}"


class StartupError(Exception):
    """A start-up failure an operator can fix: str() is the advice, exit_code its kind."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line


class ConfigurationError(StartupError):
    exit_code = 2


class DatabaseUnusable(StartupError):
    exit_code = 3


class DatabaseLocked(StartupError):
    exit_code = 4


class MediaDirNotWritable(StartupError):
    exit_code = 5


class DiscordUnreachable(StartupError):
    exit_code = 6


class TokenRejected(StartupError):
    exit_code = 7


def explain(exc: BaseException) -> StartupError | None:
    """The advice for a start-up failure an operator can fix; None for anything else (a bug)."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, SettingsError):
        return ConfigurationError(f"Configuration error: {exc}")
    if isinstance(exc, DatabaseLockedError):
        return DatabaseLocked(
            f"Database locked: {exc}. Stop the other program using it (another copy of the bot, "
            f"a backup, an sqlite3 shell) or set DATABASE_PATH to another file, {_RETRY}."
        )
    if isinstance(exc, DatabaseError):
        return DatabaseUnusable(f"Database error: {exc}")
    if _token_rejected(exc):
        return TokenRejected(
            "Discord rejected DISCORD_TOKEN (401 Unauthorized): copy the bot token from the "
            "Discord developer portal (your application, Bot, Reset Token) into DISCORD_TOKEN, "
            f"{_RETRY}."
        )
    if isinstance(exc, discord.DiscordServerError):
        return DiscordUnreachable(
            f"Discord is unavailable (HTTP {exc.status}): it may be having an outage "
            f"(see discordstatus.com); wait a while, {_RETRY}."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return DiscordUnreachable(
            f"Cannot reach Discord at {exc.host}:{exc.port} ({_reason(exc)}): {_NETWORK_ADVICE}."
        )
    if isinstance(exc, aiohttp.ClientConnectionError):
        return DiscordUnreachable(f"Cannot reach Discord ({_reason(exc)}): {_NETWORK_ADVICE}.")
    return None


def _token_rejected(exc: BaseException) -> bool:
    if isinstance(exc, discord.LoginFailure):
        return True
    if isinstance(exc, discord.HTTPException) and exc.status == 401:
        return True
    # The gateway closes with 4004 when it refuses the token at IDENTIFY.
    return isinstance(exc, discord.ConnectionClosed) and exc.code == 4004


def check_media_dir(path: Path) -> None:
    """Create MEDIA_DIR if needed and prove a file can be created in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            reason = "it is a file"
        elif isinstance(exc, NotADirectoryError):
            reason = "part of its path is a file"
        else:
            reason = _reason(exc)
        raise MediaDirNotWritable(
            f"MEDIA_DIR {path} is not a writable folder ({reason}): set MEDIA_DIR to a folder "
            f"this user can create and write to, {_RETRY}."
        ) from None


async def probe_gateway() -> None:
    """Open and close a TCP connection to Discord's gateway.

    discord.py retries a gateway it cannot reach forever, logging a traceback each time; before the
    first connection that is a start-up failure, so it is checked once here.
    """
    url = DiscordWebSocket.DEFAULT_GATEWAY
    host, port = url.host or "", url.port or 443
    try:
        async with asyncio.timeout(GATEWAY_PROBE_TIMEOUT_SECONDS):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        reason = f"no answer within {GATEWAY_PROBE_TIMEOUT_SECONDS:g} s"
    except OSError as exc:
        reason = _reason(exc)
    else:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise DiscordUnreachable(
        f"Cannot reach Discord's gateway {host}:{port} ({reason}): {_NETWORK_ADVICE}."
    )


def _reason(exc: BaseException) -> str:
    """What went wrong in one line, without an errno prefix: "Name or service not known"."""
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return " ".join((strerror or str(exc) or type(exc).__name__).split())
