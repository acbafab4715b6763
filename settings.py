"""One typed, frozen Settings object read from the environment (and `.env`, which the real
environment overrides). A missing or malformed value fails at start-up naming the variable."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

from dotenv import load_dotenv

from services.downloads import HostAllowlist

T = TypeVar("T")


class SettingsError(ValueError):
    """A variable is missing or malformed; the message names it and never contains its value."""


class Secret:
    """A string that never shows itself in repr, str, logs or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, kw_only=True)
class Settings:
    discord_token: Secret
    modelslab_api_key: Secret
    modelslab_base_url: str = "https://modelslab.com/api"
    modelslab_model_id: str = "kling-motion-control"
    database_path: Path = Path("data/bot.db")
    media_dir: Path = Path("data/media")
    dev_guild_id: int | None = None
    owner_ids: frozenset[int] = frozenset()
    max_concurrent_jobs: int = 5
    poll_interval_min_seconds: float = 5.0
    poll_interval_max_seconds: float = 30.0
    job_timeout_seconds: float = 1200.0
    status_edit_interval_seconds: float = 10.0
    quota_daily_seconds: int = 60
    quota_monthly_seconds: int = 600
    quota_max_active_jobs: int = 2
    pro_cost_multiplier: float = 2.0
    global_daily_seconds_cap: int | None = None
    media_host_allowlist: tuple[str, ...] = ()
    log_level: str = "INFO"
    # Beyond the documented minimum: tunables an operator rarely changes, and tests shrink.
    submit_timeout_seconds: float = 120.0
    request_timeout_seconds: float = 30.0
    transient_retry_limit: int = 8
    operator_pause_seconds: float = 300.0
    queue_max_wait_seconds: float = 6 * 3600.0
    media_retention_hours: float = 24.0
    max_clip_bytes: int = 200 * 1024 * 1024
    default_prompt: str = "The character performs the motion from the reference video naturally."

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables."""
        r = _Reader(env)
        defaults = cls(discord_token=Secret(""), modelslab_api_key=Secret(""))
        settings = cls(
            discord_token=r.secret("DISCORD_TOKEN"),
            modelslab_api_key=r.secret("MODELSLAB_API_KEY"),
            modelslab_base_url=r.url("MODELSLAB_BASE_URL", defaults.modelslab_base_url),
            modelslab_model_id=r.text("MODELSLAB_MODEL_ID", defaults.modelslab_model_id),
            database_path=Path(r.text("DATABASE_PATH", str(defaults.database_path))),
            media_dir=Path(r.text("MEDIA_DIR", str(defaults.media_dir))),
            dev_guild_id=r.optional("DEV_GUILD_ID", _snowflake),
            owner_ids=frozenset(r.items("OWNER_IDS", _snowflake)),
            max_concurrent_jobs=r.number(
                "MAX_CONCURRENT_JOBS", defaults.max_concurrent_jobs, int, 1
            ),
            poll_interval_min_seconds=r.number(
                "POLL_INTERVAL_MIN_SECONDS", defaults.poll_interval_min_seconds, float, 0.001
            ),
            poll_interval_max_seconds=r.number(
                "POLL_INTERVAL_MAX_SECONDS", defaults.poll_interval_max_seconds, float, 0.001
            ),
            job_timeout_seconds=r.number(
                "JOB_TIMEOUT_SECONDS", defaults.job_timeout_seconds, float, 0.001
            ),
            status_edit_interval_seconds=r.number(
                "STATUS_EDIT_INTERVAL_SECONDS", defaults.status_edit_interval_seconds, float, 0.0
            ),
            quota_daily_seconds=r.number(
                "QUOTA_DAILY_SECONDS", defaults.quota_daily_seconds, int, 0
            ),
            quota_monthly_seconds=r.number(
                "QUOTA_MONTHLY_SECONDS", defaults.quota_monthly_seconds, int, 0
            ),
            quota_max_active_jobs=r.number(
                "QUOTA_MAX_ACTIVE_JOBS", defaults.quota_max_active_jobs, int, 0
            ),
            pro_cost_multiplier=r.number(
                "PRO_COST_MULTIPLIER", defaults.pro_cost_multiplier, float, 0.0
            ),
            global_daily_seconds_cap=r.optional("GLOBAL_DAILY_SECONDS_CAP", _non_negative_int),
            media_host_allowlist=tuple(r.items("MEDIA_HOST_ALLOWLIST", _host_entry)),
            log_level=r.choice(
                "LOG_LEVEL", defaults.log_level, ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
            ),
            submit_timeout_seconds=r.number(
                "SUBMIT_TIMEOUT_SECONDS", defaults.submit_timeout_seconds, float, 0.001
            ),
            request_timeout_seconds=r.number(
                "REQUEST_TIMEOUT_SECONDS", defaults.request_timeout_seconds, float, 0.001
            ),
            transient_retry_limit=r.number(
                "TRANSIENT_RETRY_LIMIT", defaults.transient_retry_limit, int, 0
            ),
            operator_pause_seconds=r.number(
                "OPERATOR_PAUSE_SECONDS", defaults.operator_pause_seconds, float, 0.001
            ),
            queue_max_wait_seconds=r.number(
                "QUEUE_MAX_WAIT_SECONDS", defaults.queue_max_wait_seconds, float, 1.0
            ),
            media_retention_hours=r.number(
                "MEDIA_RETENTION_HOURS", defaults.media_retention_hours, float, 0.0
            ),
            max_clip_bytes=r.number("MAX_CLIP_BYTES", defaults.max_clip_bytes, int, 1),
            default_prompt=r.text("DEFAULT_PROMPT", defaults.default_prompt),
        )
        if settings.poll_interval_min_seconds > settings.poll_interval_max_seconds:
            raise SettingsError(
                "POLL_INTERVAL_MIN_SECONDS must not be above POLL_INTERVAL_MAX_SECONDS"
            )
        return settings

    def summary(self) -> str:
        """A short, secret-free description for `bot.py --check` and start-up logs."""
        lines = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = "set"
            elif isinstance(value, frozenset | tuple):
                value = ", ".join(str(v) for v in sorted(value)) or "-"
            elif value is None:
                value = "-"
            lines.append(f"  {f.name}: {value}")
        return "\n".join(lines)


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Load `.env` (without overriding the real environment) and build Settings."""
    if env_file is not None:
        load_dotenv(env_file, override=False)
    return Settings.from_env(os.environ)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def secret(self, name: str) -> Secret:
        value = self._raw(name)
        if value is None:
            raise SettingsError(f"{name} is required but not set (see .env.example)")
        return Secret(value)

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def url(self, name: str, default: str) -> str:
        value = self.text(name, default).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must start with http:// or https://")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}")
        return value

    def number(self, name: str, default: T, kind: Callable[[str], T], minimum: float) -> T:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a {_kind_name(kind)}, got {raw!r}") from None
        if value < minimum:  # type: ignore[operator]
            raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
        return value

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None

    def items(self, name: str, parse: Callable[[str], T]) -> list[T]:
        raw = self._raw(name) or ""
        out = []
        for part in raw.split(","):
            if part.strip():
                try:
                    out.append(parse(part.strip()))
                except ValueError as exc:
                    raise SettingsError(f"{name}: {exc}") from None
        return out


def _kind_name(kind: Callable[..., object]) -> str:
    return "whole number" if kind is int else "number"


def _snowflake(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"{raw!r} is not a Discord id (digits only)")
    return int(raw)


def _non_negative_int(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError(f"{raw!r} is not a whole number of seconds")
    return int(raw)


def _host_entry(raw: str) -> str:
    entry = raw.rstrip("/")
    try:
        HostAllowlist([entry])
    except ValueError:
        raise ValueError(
            f"{raw!r} must be a host name (files.example.com) or an origin (http://host:port)"
        ) from None
    return entry
