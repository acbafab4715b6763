"""Start-up failures an operator can fix read as one line of advice on stderr, with their own exit
code, no traceback and never the token.

The bot runs as a subprocess through tests/startup_runner.py, which points discord.py's REST base
and gateway at 127.0.0.1 (a fake API served here, or a closed port) and shortens SQLite's busy
timeout: no test reaches the real Discord or waits seconds for a lock. LOG_LEVEL is WARNING so that
stderr holds only what an operator must read (INFO progress lines are covered by their own test).
The working directory is tmp_path, so no developer's .env is read.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from db.connection import DatabaseError
from startup import explain

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "startup_runner.py"
TOKEN = "MTIzNDU2Nzg5.startup-test-token.do-not-print"
API_KEY = "startup-test-modelslab-key"
BUSY_TIMEOUT_MS = 200


@dataclass
class FakeDiscordApi:
    """Discord's REST API as far as logging in goes: 401 for a rejected token, else a bot user."""

    reject_token: bool = False
    authorizations: list[str] = field(default_factory=list)
    base_url: str = ""

    async def me(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.reject_token:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        user = {"id": "1", "username": "bot", "discriminator": "0", "avatar": None, "bot": True}
        return _json(user)

    async def application(self, request: web.Request) -> web.Response:
        owner = {"id": "2", "username": "owner", "discriminator": "0", "avatar": None}
        return _json(
            {
                "id": "1",
                "name": "bot",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": owner,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )


def _json(payload: object, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(payload).encode(), status=status, content_type="application/json"
    )


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeDiscordApi]:
    fake = FakeDiscordApi()
    app = web.Application()
    app.router.add_get("/api/v10/users/@me", fake.me)
    app.router.add_get("/api/v10/oauth2/applications/@me", fake.application)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}/api/v10"
    yield fake
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "MODELSLAB"))}
    env.update(
        DISCORD_TOKEN=TOKEN,
        MODELSLAB_API_KEY=API_KEY,
        DATABASE_PATH=str(tmp_path / "data" / "bot.db"),
        MEDIA_DIR=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
        DEV_GUILD_ID="",
    )
    env.update(extra)
    return env


async def run_bot(
    tmp_path: Path, *, api_base: str | None = None, gateway: str | None = None, **env: str
) -> Result:
    """Start the bot (through the runner) and wait for it to exit."""
    dead = f"127.0.0.1:{closed_port()}"
    args = [
        str(RUNNER),
        api_base or f"http://{dead}/api/v10",
        gateway or f"ws://{dead}/",
        str(BUSY_TIMEOUT_MS),
    ]
    return await _run(args, tmp_path, env)


async def _run(args: list[str], tmp_path: Path, env: dict[str, str]) -> Result:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=tmp_path,
        env=bot_env(tmp_path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def advice(result: Result, exit_code: int) -> str:
    """The single line the bot printed, after checking everything else about the run."""
    output = result.stdout + result.stderr
    assert TOKEN not in output
    assert API_KEY not in output
    assert "Traceback" not in output
    assert "PyNaCl" not in output and "davey" not in output and "voice" not in output.lower()
    assert result.returncode == exit_code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    return lines[0]


async def test_unreachable_discord_api(tmp_path: Path) -> None:
    line = advice(await run_bot(tmp_path), 6)
    assert line.startswith("Cannot reach Discord at 127.0.0.1:")
    assert "Connect call failed" in line and "internet connection" in line


async def test_unreachable_gateway_after_login(tmp_path: Path, fake_api: FakeDiscordApi) -> None:
    gateway_port = closed_port()
    result = await run_bot(
        tmp_path, api_base=fake_api.base_url, gateway=f"ws://127.0.0.1:{gateway_port}/"
    )
    line = advice(result, 6)
    assert line.startswith(f"Cannot reach Discord's gateway 127.0.0.1:{gateway_port} (")
    assert fake_api.authorizations == [f"Bot {TOKEN}"]  # logged in first


async def test_rejected_token(tmp_path: Path, fake_api: FakeDiscordApi) -> None:
    fake_api.reject_token = True
    line = advice(await run_bot(tmp_path, api_base=fake_api.base_url), 7)
    assert line.startswith("Discord rejected DISCORD_TOKEN")
    assert "developer portal" in line
    assert fake_api.authorizations == [f"Bot {TOKEN}"]  # the token really was offered


async def test_rejected_token_at_the_default_log_level(
    tmp_path: Path, fake_api: FakeDiscordApi
) -> None:
    """At INFO the progress lines come first; the advice is still the one last line."""
    fake_api.reject_token = True
    result = await run_bot(tmp_path, api_base=fake_api.base_url, LOG_LEVEL="INFO")
    assert result.returncode == 7
    output = result.stdout + result.stderr
    assert TOKEN not in output and "Traceback" not in output and "voice" not in output.lower()
    assert result.stderr.splitlines()[-1].startswith("Discord rejected DISCORD_TOKEN")


async def test_database_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"
    path.parent.mkdir()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        line = advice(await run_bot(tmp_path), 4)
    finally:
        holder.close()
    assert line.startswith(f"Database locked: {path} is locked by another process")
    assert "DATABASE_PATH" in line


@pytest.mark.parametrize("layout", ["parent_is_a_file", "path_is_a_file"])
async def test_media_dir_not_writable(tmp_path: Path, layout: str) -> None:
    (tmp_path / "occupied").write_text("a regular file")
    media_dir = (
        tmp_path / "occupied" / "media" if layout == "parent_is_a_file" else tmp_path / "occupied"
    )
    line = advice(await run_bot(tmp_path, MEDIA_DIR=str(media_dir)), 5)
    assert line.startswith(f"MEDIA_DIR {media_dir} is not a writable folder (")
    assert not (tmp_path / "data" / "bot.db").exists()  # checked before the database is touched


async def test_check_command_reports_media_dir(tmp_path: Path) -> None:
    """bot.py itself, as an operator runs it: --check covers MEDIA_DIR too."""
    (tmp_path / "occupied").write_text("a regular file")
    media_dir = tmp_path / "occupied" / "media"
    result = await _run([str(ROOT / "bot.py"), "--check"], tmp_path, {"MEDIA_DIR": str(media_dir)})
    assert advice(result, 5).startswith(f"MEDIA_DIR {media_dir} is not a writable folder")


def test_anything_else_is_a_bug_and_keeps_its_traceback() -> None:
    assert explain(RuntimeError("boom")) is None
    assert explain(KeyError("x")) is None


def test_advice_is_always_one_line() -> None:
    failure = explain(DatabaseError("line one\nline two"))
    assert failure is not None and failure.exit_code == 3
    assert str(failure) == "Database error: line one line two"
