"""One typed, frozen Settings object read from the environment (and `.env`, which the real
environment overrides). A missing or malformed value fails at start-up naming the variable.

Every setting is declared once, as a field of `Settings`: its environment variable, default, parser,
bounds and the line of documentation an operator reads. Reading the environment (`from_env`), the
start-up summary and the test against `.env.example` all walk those declarations, so adding a
setting is one field here plus its line in `.env.example`. How a variable is parsed lives in
settings_env.py; neither module imports anything else from the project."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from settings_env import (
    _METADATA_KEY,
    EnvVar,
    Secret,
    SettingsError,
    _digits,
    _env,
    _hosts,
    _number,
    _one_of,
    _path,
    _postgres_url,
    _secret,
    _setting,
    _shard_ids,
    _snowflake,
    _snowflakes,
    _text,
    _url,
    _whole,
)

__all__ = ["EnvVar", "Secret", "Settings", "SettingsError", "declared", "load_settings"]

# --- The settings -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Settings:
    discord_token: Secret = field(
        metadata=_env(
            "DISCORD_TOKEN",
            _secret,
            "Bot token from the Discord developer portal (Bot tab). Never commit it.",
        )
    )
    modelslab_api_key: Secret = field(
        metadata=_env(
            "MODELSLAB_API_KEY",
            _secret,
            "ModelsLab API key (sent in request bodies only; never logged).",
        )
    )
    modelslab_base_url: str = _setting(
        "MODELSLAB_BASE_URL",
        "https://modelslab.com/api",
        _url,
        "Base URL of the ModelsLab API; point it at a proxy or a fake for testing.",
    )
    modelslab_model_id: str = _setting(
        "MODELSLAB_MODEL_ID",
        "kling-motion-control",
        _text,
        "Model id sent with each motion-control job.",
    )
    database_path: Path = _setting(
        "DATABASE_PATH",
        Path("data/bot.db"),
        _path,
        "SQLite file (its folder is created). Back it up: it holds jobs and the quota ledger.",
    )
    database_url: Secret | None = _setting(
        "DATABASE_URL",
        None,
        _postgres_url,
        "postgresql://user:password@host/db: use PostgreSQL (shared by several processes).",
    )
    shard_count: int | None = _setting(
        "SHARD_COUNT",
        None,
        _whole,
        "Gateway shards across all processes; empty = Discord's recommendation.",
        minimum=1,
    )
    shard_ids: tuple[int, ...] = _setting(
        "SHARD_IDS",
        (),
        _shard_ids,
        "Shards this process runs (comma-separated, needs SHARD_COUNT); empty = all of them.",
    )
    job_lease_seconds: float = _setting(
        "JOB_LEASE_SECONDS",
        30.0,
        _number,
        "A job whose process stops renewing its claim this long is taken over by another.",
        minimum=0.05,
    )
    media_dir: Path = _setting(
        "MEDIA_DIR",
        Path("data/media"),
        _path,
        "Downloaded inputs and results; removed MEDIA_RETENTION_HOURS after a job ends.",
    )
    dev_guild_id: int | None = _setting(
        "DEV_GUILD_ID",
        None,
        _snowflake,
        "Server to sync slash commands to at start-up (instant; global sync is manual).",
    )
    owner_ids: frozenset[int] = _setting(
        "OWNER_IDS",
        frozenset(),
        _snowflakes,
        "Comma-separated user ids with operator powers (/animate-owner) and no quota.",
    )
    max_concurrent_jobs: int = _setting(
        "MAX_CONCURRENT_JOBS",
        5,
        _whole,
        "Jobs the bot keeps at ModelsLab at once (your plan's queue holds 5, 10 or 15).",
        minimum=1,
    )
    poll_interval_min_seconds: float = _setting(
        "POLL_INTERVAL_MIN_SECONDS",
        5.0,
        _number,
        "Shortest wait before polling a job; the first poll waits about the provider's estimate.",
        minimum=0.001,
    )
    poll_interval_max_seconds: float = _setting(
        "POLL_INTERVAL_MAX_SECONDS",
        30.0,
        _number,
        "Longest wait between polls of a job; polling backs off to this.",
        minimum=0.001,
    )
    job_timeout_seconds: float = _setting(
        "JOB_TIMEOUT_SECONDS",
        1200.0,
        _number,
        "A job still generating after this many seconds at the provider fails (nothing charged).",
        minimum=0.001,
    )
    status_edit_interval_seconds: float = _setting(
        "STATUS_EDIT_INTERVAL_SECONDS",
        10.0,
        _number,
        "Minimum seconds between edits of a job's status message.",
        minimum=0.0,
    )
    quota_daily_seconds: int = _setting(
        "QUOTA_DAILY_SECONDS",
        60,
        _whole,
        "Seconds of video each user may generate per day, unless admins say otherwise.",
        minimum=0,
    )
    quota_monthly_seconds: int = _setting(
        "QUOTA_MONTHLY_SECONDS",
        600,
        _whole,
        "Seconds of video each user may generate per month, unless admins say otherwise.",
        minimum=0,
    )
    quota_max_active_jobs: int = _setting(
        "QUOTA_MAX_ACTIVE_JOBS",
        2,
        _whole,
        "Jobs one user may have queued or running at once (per server, and in DMs).",
        minimum=0,
    )
    pro_cost_multiplier: float = _setting(
        "PRO_COST_MULTIPLIER",
        2.0,
        _number,
        "A `pro` job costs its seconds times this.",
        minimum=0.0,
    )
    global_daily_seconds_cap: int | None = _setting(
        "GLOBAL_DAILY_SECONDS_CAP",
        None,
        _digits("a whole number of seconds"),
        "Bot-wide cap on seconds reserved or generated per rolling 24 h; empty = no cap.",
    )
    media_host_allowlist: tuple[str, ...] = _setting(
        "MEDIA_HOST_ALLOWLIST",
        (),
        _hosts,
        "Extra download hosts (https, subdomains too) or origins like http://127.0.0.1:8080.",
    )
    log_level: str = _setting(
        "LOG_LEVEL",
        "INFO",
        _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        "DEBUG, INFO, WARNING, ERROR or CRITICAL.",
    )
    http_port: int | None = _setting(
        "HTTP_PORT",
        None,
        _whole,
        "Port for /healthz, /metrics and webhooks; empty = off.",
        minimum=1,
        maximum=65535,
    )
    http_host: str = _setting("HTTP_HOST", "127.0.0.1", _text, "Address HTTP_PORT listens on.")
    public_base_url: str | None = _setting(
        "PUBLIC_BASE_URL",
        None,
        _url,
        "Public URL of HTTP_PORT; when set, ModelsLab calls webhooks.",
    )
    # Beyond the documented minimum: tunables an operator rarely changes, and tests shrink.
    submit_timeout_seconds: float = _setting(
        "SUBMIT_TIMEOUT_SECONDS",
        120.0,
        _number,
        "Read timeout of the submit call (it may be held open).",
        minimum=0.001,
    )
    request_timeout_seconds: float = _setting(
        "REQUEST_TIMEOUT_SECONDS", 30.0, _number, "Timeout of polls and other calls.", minimum=0.001
    )
    poll_plan_min_history: int = _setting(
        "POLL_PLAN_MIN_HISTORY",
        20,
        _whole,
        "Finished jobs of a kind before polls are planned.",
        minimum=1,
    )
    transient_retry_limit: int = _setting(
        "TRANSIENT_RETRY_LIMIT",
        8,
        _whole,
        "Consecutive provider errors before a job fails.",
        minimum=0,
    )
    operator_pause_seconds: float = _setting(
        "OPERATOR_PAUSE_SECONDS",
        300.0,
        _number,
        "After a bad key or no credits, try again this often.",
        minimum=0.001,
    )
    queue_max_wait_seconds: float = _setting(
        "QUEUE_MAX_WAIT_SECONDS",
        6 * 3600.0,
        _number,
        "Queued longer than this: fail (uploads expire on Discord).",
        minimum=1.0,
    )
    media_retention_hours: float = _setting(
        "MEDIA_RETENTION_HOURS",
        24.0,
        _number,
        "Hours downloaded inputs and results are kept after a job ends.",
        minimum=0.0,
    )
    max_clip_bytes: int = _setting(
        "MAX_CLIP_BYTES",
        200 * 1024 * 1024,
        _whole,
        "Largest result clip the bot downloads.",
        minimum=1,
    )
    default_prompt: str = _setting(
        "DEFAULT_PROMPT",
        "The character performs the motion from the reference video naturally.",
        _text,
        "Prompt sent when the user gives none.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from a mapping of environment variables (blank means unset)."""
        values: dict[str, Any] = {}
        for f, var in declared():
            raw = (env.get(var.name) or "").strip()
            if raw:
                values[f.name] = var.read(raw)
            elif f.default is MISSING:
                raise SettingsError(f"{var.name} is required but not set (see .env.example)")
        settings = cls(**values)
        if settings.shard_ids and settings.shard_count is None:
            raise SettingsError("SHARD_IDS needs SHARD_COUNT (the total across all processes)")
        if settings.shard_count is not None and any(
            i >= settings.shard_count for i in settings.shard_ids
        ):
            raise SettingsError("SHARD_IDS must each be below SHARD_COUNT (they count from 0)")
        if settings.poll_interval_min_seconds > settings.poll_interval_max_seconds:
            raise SettingsError(
                "POLL_INTERVAL_MIN_SECONDS must not be above POLL_INTERVAL_MAX_SECONDS"
            )
        return settings

    def summary(self) -> str:
        """A short, secret-free description for `bot.py --check` and start-up logs."""
        return "\n".join(f"  {f.name}: {_shown(getattr(self, f.name))}" for f, _ in declared())


def declared() -> Iterator[tuple[Field[Any], EnvVar]]:
    """Every setting's dataclass field with its environment variable, in declaration order."""
    for f in fields(Settings):
        yield f, f.metadata[_METADATA_KEY]


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Load `.env` (without overriding the real environment) and build Settings."""
    if env_file is not None:
        load_dotenv(env_file, override=False)
    return Settings.from_env(os.environ)


def _shown(value: object) -> str:
    if isinstance(value, Secret):
        return "set"
    if isinstance(value, frozenset | tuple):
        return ", ".join(str(v) for v in sorted(value)) or "-"
    if value is None:
        return "-"
    return str(value)
