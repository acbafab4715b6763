from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import Secret, Settings, SettingsError

REQUIRED = {"DISCORD_TOKEN": "tok-secret-value", "MODELSLAB_API_KEY": "key-secret-value"}
ROOT = Path(__file__).resolve().parent.parent


def test_defaults_from_only_required() -> None:
    s = Settings.from_env(REQUIRED)
    assert s.modelslab_base_url == "https://modelslab.com/api"
    assert s.modelslab_model_id == "kling-motion-control"
    assert s.database_path == Path("data/bot.db")
    assert s.max_concurrent_jobs == 5
    assert s.job_timeout_seconds == 1200
    assert s.global_daily_seconds_cap is None
    assert s.owner_ids == frozenset()


def test_secrets_never_in_repr_or_summary() -> None:
    s = Settings.from_env(REQUIRED)
    for text in (repr(s), str(s), s.summary(), f"{s.discord_token}"):
        assert "tok-secret-value" not in text
        assert "key-secret-value" not in text
    assert s.discord_token.reveal() == "tok-secret-value"
    assert Secret("a") == Secret("a")


@pytest.mark.parametrize("missing", ["DISCORD_TOKEN", "MODELSLAB_API_KEY"])
def test_missing_required_names_variable(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_CONCURRENT_JOBS", "abc"),
        ("MAX_CONCURRENT_JOBS", "0"),
        ("POLL_INTERVAL_MIN_SECONDS", "-1"),
        ("JOB_TIMEOUT_SECONDS", "soon"),
        ("QUOTA_DAILY_SECONDS", "1.5"),
        ("PRO_COST_MULTIPLIER", "x2"),
        ("GLOBAL_DAILY_SECONDS_CAP", "lots"),
        ("DEV_GUILD_ID", "my-guild"),
        ("OWNER_IDS", "123,abc"),
        ("LOG_LEVEL", "LOUD"),
        ("MODELSLAB_BASE_URL", "ftp://example"),
        ("MEDIA_HOST_ALLOWLIST", "ftp://files.example"),
    ],
)
def test_malformed_value_names_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as info:
        Settings.from_env({**REQUIRED, name: value})
    assert "secret-value" not in str(info.value)


def test_min_above_max_interval_fails() -> None:
    env = {**REQUIRED, "POLL_INTERVAL_MIN_SECONDS": "40", "POLL_INTERVAL_MAX_SECONDS": "30"}
    with pytest.raises(SettingsError, match="POLL_INTERVAL_MIN_SECONDS"):
        Settings.from_env(env)


def test_lists_and_optionals_parse() -> None:
    s = Settings.from_env(
        {
            **REQUIRED,
            "OWNER_IDS": " 1, 2 ,3",
            "DEV_GUILD_ID": "99",
            "GLOBAL_DAILY_SECONDS_CAP": "3600",
            "MEDIA_HOST_ALLOWLIST": "http://127.0.0.1:8080/, files.example.com",
            "MODELSLAB_BASE_URL": "http://127.0.0.1:9/api/",
            "LOG_LEVEL": "debug",
        }
    )
    assert s.owner_ids == {1, 2, 3}
    assert s.dev_guild_id == 99
    assert s.global_daily_seconds_cap == 3600
    assert s.media_host_allowlist == ("http://127.0.0.1:8080", "files.example.com")
    assert s.modelslab_base_url == "http://127.0.0.1:9/api"
    assert s.log_level == "DEBUG"


def _run_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD", "MODELSLAB"))}
    env.update(REQUIRED)
    env.update(DATABASE_PATH=str(tmp_path / "sub" / "bot.db"), MEDIA_DIR=str(tmp_path / "m"))
    env.update(extra)
    # cwd is tmp_path so that no developer's .env is picked up.
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "bot.py"), "--check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_command_succeeds_without_leaking(tmp_path: Path) -> None:
    result = _run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "schema version" in output
    assert "tok-secret-value" not in output
    assert "key-secret-value" not in output
    assert (tmp_path / "sub" / "bot.db").exists()


def test_check_command_names_bad_variable(tmp_path: Path) -> None:
    result = _run_check(tmp_path, MAX_CONCURRENT_JOBS="abc")
    assert result.returncode != 0
    assert "MAX_CONCURRENT_JOBS" in result.stderr
    assert "secret-value" not in result.stdout + result.stderr
