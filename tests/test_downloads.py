"""Tests for services.downloads against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.downloads import (
    DISCORD_CDN_HOSTS,
    PROVIDER_OUTPUT_HOSTS,
    DownloadFailedError,
    HostAllowlist,
    HostNotAllowedError,
    TooLargeError,
    download_to_file,
    redact_url,
)

BODY = bytes(range(256)) * 1024  # 256 KiB, not a multiple of the chunk size below


async def _file(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="video/mp4")


async def _chunked(request: web.Request) -> web.StreamResponse:
    """No Content-Length: the size is only discovered while streaming."""
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(64):
        await response.write(b"x" * 16 * 1024)
    await response.write_eof()
    return response


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="nope")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(body=b"late")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/file.mp4", _file)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/slow", _slow)
    async with TestServer(app, host="127.0.0.1", port=0) as test_server:
        yield test_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _origin(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def _allow(server: TestServer) -> HostAllowlist:
    return HostAllowlist.default(extra=[_origin(server)])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_streams_file_to_disk(server, session, tmp_path):
    dest = tmp_path / "clip.mp4"
    written = await download_to_file(
        session,
        f"{_origin(server)}/file.mp4?ex=1&hm=secret",
        dest,
        max_bytes=len(BODY),
        allowlist=_allow(server),
        chunk_size=10_000,
    )
    assert written == len(BODY)
    assert dest.read_bytes() == BODY
    assert _leftovers(tmp_path) == ["clip.mp4"]


async def test_chunked_download_within_cap(server, session, tmp_path):
    dest = tmp_path / "out.bin"
    written = await download_to_file(
        session, f"{_origin(server)}/chunked", dest, max_bytes=2**20, allowlist=_allow(server)
    )
    assert written == 64 * 16 * 1024 == dest.stat().st_size


async def test_content_length_over_cap_is_refused_before_reading(server, session, tmp_path):
    dest = tmp_path / "clip.mp4"
    with pytest.raises(TooLargeError) as info:
        await download_to_file(
            session,
            f"{_origin(server)}/file.mp4",
            dest,
            max_bytes=len(BODY) - 1,
            allowlist=_allow(server),
        )
    assert info.value.limit_bytes == len(BODY) - 1
    assert info.value.size_bytes == len(BODY)
    assert _leftovers(tmp_path) == []


async def test_stream_over_cap_stops_and_removes_partial_file(server, session, tmp_path):
    dest = tmp_path / "clip.mp4"
    with pytest.raises(TooLargeError) as info:
        await download_to_file(
            session, f"{_origin(server)}/chunked", dest, max_bytes=100_000, allowlist=_allow(server)
        )
    assert info.value.limit_bytes == 100_000
    assert info.value.size_bytes is None
    assert "larger than" in str(info.value)
    assert _leftovers(tmp_path) == []


async def test_failure_keeps_existing_destination(server, session, tmp_path):
    dest = tmp_path / "clip.mp4"
    dest.write_bytes(b"old")
    with pytest.raises(TooLargeError):
        await download_to_file(
            session, f"{_origin(server)}/chunked", dest, max_bytes=1000, allowlist=_allow(server)
        )
    assert dest.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["clip.mp4"]


@pytest.mark.parametrize(
    ("code", "transient", "text"),
    [(404, False, "no longer available"), (403, False, "HTTP 403"), (500, True, "HTTP 500")],
)
async def test_http_errors(server, session, tmp_path, code, transient, text):
    with pytest.raises(DownloadFailedError) as info:
        await download_to_file(
            session,
            f"{_origin(server)}/status/{code}",
            tmp_path / "x.mp4",
            max_bytes=1000,
            allowlist=_allow(server),
        )
    assert info.value.transient is transient
    assert info.value.status == code
    assert text in str(info.value)
    assert _leftovers(tmp_path) == []


async def test_timeout_is_transient(server, session, tmp_path):
    with pytest.raises(DownloadFailedError) as info:
        await download_to_file(
            session,
            f"{_origin(server)}/slow",
            tmp_path / "x.mp4",
            max_bytes=1000,
            allowlist=_allow(server),
            timeout=0.2,
        )
    assert info.value.transient is True
    assert "too long" in str(info.value)


async def test_connection_refused_is_transient(session, tmp_path):
    # Bind and release a port so nothing listens on it.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(DownloadFailedError) as info:
        await download_to_file(
            session,
            url,
            tmp_path / "x.mp4",
            max_bytes=1000,
            allowlist=HostAllowlist([f"http://127.0.0.1:{port}"]),
        )
    assert info.value.transient is True


async def test_disallowed_host_is_refused_without_request(session, tmp_path):
    with pytest.raises(HostNotAllowedError) as info:
        await download_to_file(
            session,
            "https://evil.example/x.mp4",
            tmp_path / "x.mp4",
            max_bytes=1000,
            allowlist=HostAllowlist.default(),
        )
    assert "evil.example" in str(info.value)
    assert _leftovers(tmp_path) == []


async def test_redirect_within_allowlist_is_followed(server, session, tmp_path):
    dest = tmp_path / "clip.mp4"
    written = await download_to_file(
        session,
        f"{_origin(server)}/redirect?to=/file.mp4",
        dest,
        max_bytes=len(BODY),
        allowlist=_allow(server),
    )
    assert written == len(BODY)


async def test_redirect_to_disallowed_host_is_refused(server, session, tmp_path):
    # Same machine, other origin: proves each hop is checked, not just the first URL.
    with pytest.raises(HostNotAllowedError):
        await download_to_file(
            session,
            f"{_origin(server)}/redirect?to=http://localhost:{server.port}/file.mp4",
            tmp_path / "x.mp4",
            max_bytes=len(BODY),
            allowlist=_allow(server),
        )
    with pytest.raises(HostNotAllowedError):
        await download_to_file(
            session,
            f"{_origin(server)}/redirect?to=https://evil.example/x.mp4",
            tmp_path / "x.mp4",
            max_bytes=len(BODY),
            allowlist=_allow(server),
        )
    assert _leftovers(tmp_path) == []


async def test_redirect_loop_gives_up(server, session, tmp_path):
    with pytest.raises(DownloadFailedError) as info:
        await download_to_file(
            session,
            f"{_origin(server)}/loop",
            tmp_path / "x.mp4",
            max_bytes=1000,
            allowlist=_allow(server),
        )
    assert "redirected too many times" in str(info.value)
    assert info.value.transient is False


async def test_logs_never_contain_query_strings(server, session, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="services.downloads")
    await download_to_file(
        session,
        f"{_origin(server)}/redirect?to=/file.mp4%3Fhm%3Dsig2&hm=signature1",
        tmp_path / "a.mp4",
        max_bytes=len(BODY),
        allowlist=_allow(server),
    )
    with pytest.raises(DownloadFailedError):
        await download_to_file(
            session,
            f"{_origin(server)}/status/404?hm=signature3",
            tmp_path / "b.mp4",
            max_bytes=len(BODY),
            allowlist=_allow(server),
        )
    assert caplog.records
    assert "/file.mp4" in caplog.text
    assert "signature" not in caplog.text and "sig2" not in caplog.text and "?" not in caplog.text


def test_redact_url():
    url = "https://user:pw@cdn.discordapp.com/attachments/1/2/a.mp4?ex=1&is=2&hm=abc#frag"
    assert redact_url(url) == "https://cdn.discordapp.com/attachments/1/2/a.mp4"
    assert redact_url("http://127.0.0.1:8080/x?k=1") == "http://127.0.0.1:8080/x"


# ---------------------------------------------------------------------------------- allowlist


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1", True),
        ("https://media.discordapp.net/x.png", True),
        ("https://modelslab.com/out.mp4", True),
        ("https://pub-123.r2.modelslab.com/out.mp4", True),
        ("https://MODELSLAB.COM./out.mp4", True),
        ("https://cdn.stablediffusionapi.com/x.mp4", True),
        ("https://modelslab.ai/x.mp4", True),
        ("https://modelslab.com:443/x.mp4", True),
        ("https://evilmodelslab.com/out.mp4", False),
        ("https://modelslab.com.evil.example/out.mp4", False),
        ("http://modelslab.com/out.mp4", False),  # hostname entries are https only
        ("https://modelslab.com:8443/out.mp4", False),
        ("https://modelslab.com@evil.example/x.mp4", False),
        ("https://user@modelslab.com/x.mp4", False),
        ("ftp://modelslab.com/x.mp4", False),
        ("file:///etc/passwd", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_default_allowlist(url, allowed):
    assert HostAllowlist.default().allows(url) is allowed


def test_origin_entries_match_scheme_host_and_port_exactly():
    allowlist = HostAllowlist(["http://127.0.0.1:8080"])
    assert allowlist.allows("http://127.0.0.1:8080/x.mp4?a=1")
    assert not allowlist.allows("http://127.0.0.1:8081/x.mp4")
    assert not allowlist.allows("https://127.0.0.1:8080/x.mp4")
    assert not allowlist.allows("http://127.0.0.1/x.mp4")
    assert not allowlist.allows("http://sub.127.0.0.1:8080/x.mp4")


def test_origin_without_port_uses_scheme_default():
    allowlist = HostAllowlist(["http://fake.local", "https://secure.local"])
    assert allowlist.allows("http://fake.local/x")
    assert allowlist.allows("http://fake.local:80/x")
    assert not allowlist.allows("http://fake.local:8080/x")
    assert allowlist.allows("https://secure.local:443/x")
    assert not allowlist.allows("https://api.secure.local/x")


def test_default_includes_known_hosts_and_extras():
    allowlist = HostAllowlist.default(extra=["example.org"])
    for host in (*DISCORD_CDN_HOSTS, *PROVIDER_OUTPUT_HOSTS, "example.org"):
        assert allowlist.allows(f"https://{host}/f")
    assert not HostAllowlist.default().allows("https://example.org/f")


@pytest.mark.parametrize("entry", ["ftp://x.com", "https://x.com/path", "x.com/path", "x.com:8080"])
def test_malformed_entries_are_rejected(entry):
    with pytest.raises(ValueError):
        HostAllowlist([entry])
