"""Streaming downloads to disk with a byte cap and a host allowlist.

Used for the user's Discord attachments (right after the defer) and for the provider's finished
clip. Every URL, including each redirect hop, must pass a :class:`HostAllowlist`; the body is
streamed chunk by chunk into a ``.part`` file that is renamed into place only when complete, so a
reader never sees a half-written file and a failure never leaves one behind.

URLs are never logged in full: Discord CDN links carry signatures in their query string. Logs show
host and path only (see :func:`redact_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

DISCORD_CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
PROVIDER_OUTPUT_HOSTS = ("modelslab.com", "modelslab.ai", "stablediffusionapi.com")

MAX_REDIRECTS = 3
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str | URL) -> str:
    """``scheme://host/path`` without query, fragment or credentials: safe to log."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        host = parsed.host or "?"
        port = f":{parsed.explicit_port}" if parsed.explicit_port else ""
        return f"{parsed.scheme}://{host}{port}{parsed.path}"
    except (ValueError, TypeError):
        return "<unparseable url>"


def _mb(size: int) -> str:
    value = size / (1024 * 1024)
    return f"{value:.0f} MB" if value == int(value) else f"{value:.1f} MB"


class HostAllowlist:
    """Which URLs the bot may download from.

    Entries are either a host name (``"modelslab.com"``): https only, on the default port, matching
    the host itself and any subdomain (``"cdn.modelslab.com"`` but never ``"evilmodelslab.com"``);
    or an origin (``"http://127.0.0.1:8080"``): exact scheme, host and port, no subdomains. URLs
    carrying user info (``https://user@host/``) are always refused.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        hosts: set[str] = set()
        origins: set[tuple[str, str, int]] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            if "://" in entry:
                origin = URL(entry)
                scheme = origin.scheme.lower()
                if scheme not in _DEFAULT_PORTS or not origin.host:
                    raise ValueError(f"allowlist origin must be http(s)://host[:port]: {entry!r}")
                if origin.path not in ("", "/") or origin.query_string or origin.user:
                    raise ValueError(f"allowlist origin must not have a path or query: {entry!r}")
                port = origin.port or _DEFAULT_PORTS[scheme]
                origins.add((scheme, _normalise_host(origin.host), port))
            else:
                if "/" in entry or ":" in entry or "@" in entry:
                    raise ValueError(f"allowlist host must be a bare host name: {entry!r}")
                hosts.add(_normalise_host(entry))
        self._hosts = frozenset(hosts)
        self._origins = frozenset(origins)

    @classmethod
    def default(cls, extra: Iterable[str] = ()) -> HostAllowlist:
        """Discord's CDN, the provider's output hosts, plus ``extra`` entries."""
        return cls([*DISCORD_CDN_HOSTS, *PROVIDER_OUTPUT_HOSTS, *extra])

    def allows(self, url: str | URL) -> bool:
        """Whether ``url`` may be fetched (each redirect hop is checked separately)."""
        try:
            parsed = url if isinstance(url, URL) else URL(url)
            scheme = parsed.scheme.lower()
            host = parsed.host
            port = parsed.port
        except (ValueError, TypeError):
            return False
        if not host or scheme not in _DEFAULT_PORTS or parsed.user or parsed.password:
            return False
        host = _normalise_host(host)
        port = port or _DEFAULT_PORTS[scheme]
        if (scheme, host, port) in self._origins:
            return True
        if scheme != "https" or port != 443:
            return False
        return any(host == allowed or host.endswith("." + allowed) for allowed in self._hosts)

    def __repr__(self) -> str:
        origins = [f"{s}://{h}:{p}" for s, h, p in sorted(self._origins)]
        return f"HostAllowlist({sorted(self._hosts) + origins!r})"


def _normalise_host(host: str) -> str:
    return host.strip().rstrip(".").lower()


class DownloadError(Exception):
    """Base of download failures; ``str()`` is safe to show to a user (no URL, no secrets)."""


class HostNotAllowedError(DownloadError):
    """The URL, or a redirect it led to, is not on the allowlist."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        where = f" ({host})" if host else ""
        super().__init__(
            f"The file link points to a site the bot doesn't download from{where}. "
            "Upload the file to Discord directly."
        )


class TooLargeError(DownloadError):
    """The file exceeds ``limit_bytes``; ``size_bytes`` is its size when known (Content-Length)."""

    def __init__(self, limit_bytes: int, size_bytes: int | None = None) -> None:
        self.limit_bytes = limit_bytes
        self.size_bytes = size_bytes
        if size_bytes is not None:
            text = f"The file is {_mb(size_bytes)}; the limit is {_mb(limit_bytes)}."
        else:
            text = f"The file is larger than the {_mb(limit_bytes)} limit."
        super().__init__(text)


class DownloadFailedError(DownloadError):
    """HTTP error, connection error or timeout. ``transient`` says whether retrying may help."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        self.transient = transient
        self.status = status
        super().__init__(message)


async def download_to_file(
    session: aiohttp.ClientSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    allowlist: HostAllowlist,
    # The interface takes a plain number: the deadline spans all redirect hops and is applied
    # through aiohttp's per-request timeout so it never interrupts a chunk write.
    timeout: float = 120.0,  # noqa: ASYNC109
    chunk_size: int = 64 * 1024,
) -> int:
    """Stream ``url`` into ``dest`` and return the number of bytes written.

    The body goes to ``<dest name>.part`` and is renamed onto ``dest`` when complete; on any
    failure (including cancellation) the partial file is removed and ``dest`` is left untouched.
    Redirects are followed by hand, at most :data:`MAX_REDIRECTS` hops, each checked against
    ``allowlist``.
    ``timeout`` bounds the whole download, redirects included.

    Raises :class:`HostNotAllowedError`, :class:`TooLargeError` or :class:`DownloadFailedError`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # Not dest.with_suffix(".part"): "input.png" and "input.mp4" in one folder would collide.
    part = dest.with_name(dest.name + ".part")
    current = URL(url)
    try:
        for hop in range(MAX_REDIRECTS + 1):
            if not allowlist.allows(current):
                log.warning(
                    "Refusing download from a host not on the allowlist: %s", redact_url(current)
                )
                raise HostNotAllowedError(current.host)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise DownloadFailedError(
                    "The download took too long. Please try again.", transient=True
                )
            # aiohttp's total timeout only interrupts network waits, never a chunk write.
            client_timeout = aiohttp.ClientTimeout(total=remaining)
            async with session.get(
                current, allow_redirects=False, timeout=client_timeout
            ) as response:
                if response.status in _REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise DownloadFailedError(
                            "The file's server sent a broken redirect.",
                            transient=False,
                            status=response.status,
                        )
                    current = response.url.join(URL(location))
                    log.debug("Download redirect %d to %s", hop + 1, redact_url(current))
                    continue
                _check_status(response, current)
                written = await _stream_to_part(response, part, max_bytes, chunk_size)
            await asyncio.to_thread(part.replace, dest)
            log.info("Downloaded %d bytes from %s", written, redact_url(current))
            return written
        raise DownloadFailedError("The file's link redirected too many times.", transient=False)
    except TimeoutError as exc:
        log.warning("Download timed out: %s", redact_url(current))
        raise DownloadFailedError(
            "The download took too long. Please try again.", transient=True
        ) from exc
    except aiohttp.ClientResponseError as exc:
        log.warning("Download failed (HTTP %s): %s", exc.status, redact_url(current))
        raise DownloadFailedError(
            f"The file couldn't be downloaded (HTTP {exc.status}).",
            transient=exc.status >= 500,
            status=exc.status,
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning("Download failed (%s): %s", type(exc).__name__, redact_url(current))
        transient = not isinstance(exc, aiohttp.InvalidURL)
        raise DownloadFailedError(
            "The file couldn't be downloaded (connection problem). Please try again.",
            transient=transient,
        ) from exc
    finally:
        # Synchronous on purpose: unlink is a quick metadata call, and an awaited cleanup could
        # itself be cancelled and leak the partial file. After success the .part no longer exists.
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def _check_status(response: aiohttp.ClientResponse, url: URL) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    log.warning("Download failed (HTTP %d): %s", status, redact_url(url))
    if status in (404, 410):
        message = "The file is no longer available (it may have expired). Upload it again."
    else:
        message = f"The file couldn't be downloaded (HTTP {status})."
    raise DownloadFailedError(
        message, transient=status >= 500 or status in _TRANSIENT_STATUSES, status=status
    )


async def _stream_to_part(
    response: aiohttp.ClientResponse, part: Path, max_bytes: int, chunk_size: int
) -> int:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise TooLargeError(max_bytes, declared)
    # File I/O goes through asyncio.to_thread for every call (open, each write, close): a 64 KiB
    # write is usually fast, but on a slow or busy disk it can block for milliseconds, and the event
    # loop also serves Discord's gateway heartbeats. One thread hop per chunk is cheap next to the
    # network read that produced it, and using the same rule everywhere keeps it easy to audit.
    handle: BinaryIO = await asyncio.to_thread(part.open, "wb")
    written = 0
    try:
        async for chunk in response.content.iter_chunked(chunk_size):
            written += len(chunk)
            if written > max_bytes:
                # The server sent more than it declared (or declared nothing): size unknown.
                raise TooLargeError(max_bytes, None)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        # Closed synchronously so cancellation cannot skip it; close of a small buffer is quick.
        handle.close()
    return written
