from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import MISSING, fields, replace
from pathlib import Path

import pytest

from services.downloads import HostAllowlist
from settings import EnvVar, Secret, Settings, SettingsError, declared

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


@pytest.mark.parametrize(
    "entry",
    [
        "files.example.com",
        "FILES.Example.COM.",
        "files.example.com/",
        "*.example.com",
        "xn--a.com",
        "a:1",
        "u@a",
        "a/b",
        "/",
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "https://[::1]:8443",
        "HTTPS://A.COM",
        "HTTP://H:0/",
        "https://a.com:443",
        "https://a.com:",
        "https://a.com/#x",
        "https://a.com/?",
        "http://h//",
        "http://h/p",
        "http://h?q",
        "http://u@a",
        "http://:pw@h",
        "https://user:pw@a.com",
        "http://h:abc",
        "http://h:99999",
        "http://[::1",
        "https://xn--a.com",
        "http://ü.com",
        "http://a b",
        "https://",
        "http://",
        "://x",
        "x://y",
        "ws://a.com",
        "ftp://files.example",
    ],
)
def test_allowlist_entries_accepted_exactly_when_host_allowlist_accepts_them(entry: str) -> None:
    try:
        HostAllowlist([entry.rstrip("/")])
        expected = True
    except ValueError:
        expected = False
    try:
        Settings.from_env({**REQUIRED, "MEDIA_HOST_ALLOWLIST": entry})
        accepted = True
    except SettingsError as exc:
        assert str(exc).startswith(f"MEDIA_HOST_ALLOWLIST: {entry!r} must be a host name")
        accepted = False
    assert accepted == expected


def test_bounds_and_parser_errors_name_the_variable() -> None:
    var = EnvVar("SOME_COUNT", lambda name, raw: int(raw), "A count.", minimum=1, maximum=3)
    assert var.read("3") == 3
    with pytest.raises(SettingsError, match=r"^SOME_COUNT must be at least 1, got '0'$"):
        var.read("0")
    with pytest.raises(SettingsError, match=r"^SOME_COUNT must be at most 3, got '4'$"):
        var.read("4")
    with pytest.raises(SettingsError, match=r"^SOME_COUNT: invalid literal"):
        var.read("many")


def test_every_field_is_declared_once_with_a_one_line_doc() -> None:
    pairs = list(declared())
    assert [f.name for f, _ in pairs] == [f.name for f in fields(Settings)]
    names = [var.name for _, var in pairs]
    assert len(names) == len(set(names))
    for f, var in pairs:
        assert var.name == f.name.upper()
        assert var.doc.strip() and "\n" not in var.doc, var.name
    summary = Settings.from_env(REQUIRED).summary().splitlines()
    assert [line.split(":")[0].strip() for line in summary] == [f.name for f, _ in pairs]


def test_defaults_match_a_directly_built_settings_and_replace_works() -> None:
    built = Settings(
        discord_token=Secret(REQUIRED["DISCORD_TOKEN"]),
        modelslab_api_key=Secret(REQUIRED["MODELSLAB_API_KEY"]),
    )
    assert Settings.from_env(REQUIRED) == built
    assert replace(built, max_concurrent_jobs=9).max_concurrent_jobs == 9
    with pytest.raises(TypeError):
        Settings(discord_token=Secret("t"))  # type: ignore[call-arg]


_EXAMPLE_LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _example_values() -> dict[str, list[str]]:
    """Each `NAME=value` or `# NAME=value` line of `.env.example`, by name."""
    found: dict[str, list[str]] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = _EXAMPLE_LINE.match(line.strip())
        if match:
            found.setdefault(match[1], []).append(match[2].strip())
    return found


def _shown_empty(default: object) -> bool:
    """Required settings, None and empty lists are written as `NAME=` in `.env.example`."""
    return (
        default is MISSING
        or default is None
        or (isinstance(default, tuple | frozenset) and not default)
    )


def test_env_example_lists_exactly_the_declared_settings_with_their_defaults() -> None:
    example = _example_values()
    declared_names = {var.name for _, var in declared()}
    assert sorted(set(example) - declared_names) == [], "undeclared names in .env.example"
    for f, var in declared():
        assert len(example.get(var.name, [])) == 1, f"{var.name} must appear once in .env.example"
        value = example[var.name][0]
        if _shown_empty(f.default):
            assert value == "", f"{var.name} should be empty in .env.example"
        else:
            assert value, f"{var.name} should show its default in .env.example"
            assert var.read(value) == f.default, f"{var.name}={value} is not the default"


def test_settings_imports_nothing_from_the_project() -> None:
    project = {p.stem for p in ROOT.glob("*.py")} | {
        p.name for p in ROOT.iterdir() if p.is_dir() and next(p.rglob("*.py"), None)
    }
    imported: set[str] = set()
    for module in ("settings.py", "settings_env.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"relative import in {module}"
                imported.add((node.module or "").split(".")[0])
    assert {"services", "settings", "settings_env"} <= project
    assert "dotenv" in imported
    assert imported & project == {"settings_env"}  # settings.py's own half, a leaf too


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
