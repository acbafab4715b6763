"""How a setting is read from the environment: the `Secret` wrapper, `EnvVar` (name, parser,
bounds, documentation), the `_setting` field helper and the value parsers. Like settings.py it
imports nothing from the project, so settings stay a leaf anyone can import."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from yarl import URL

T = TypeVar("T")
C = TypeVar("C")

# A parser turns one variable's stripped, non-empty value into its setting, or raises
# SettingsError (or ValueError, which is reported as "NAME: message"). It gets the name first.
Parser = Callable[[str, str], T]

_METADATA_KEY = "env"


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


@dataclass(frozen=True)
class EnvVar:
    """How one setting is read: variable name, parser, numeric bounds and operator documentation."""

    name: str
    parse: Parser[object]
    doc: str
    minimum: float | None = None
    maximum: float | None = None

    def read(self, raw: str) -> object:
        """Parse a stripped, non-empty value and check it against the bounds."""
        try:
            value = self.parse(self.name, raw)
        except SettingsError:
            raise
        except ValueError as exc:
            raise SettingsError(f"{self.name}: {exc}") from None
        if isinstance(value, int | float):
            if self.minimum is not None and value < self.minimum:
                raise SettingsError(f"{self.name} must be at least {self.minimum}, got {raw!r}")
            if self.maximum is not None and value > self.maximum:
                raise SettingsError(f"{self.name} must be at most {self.maximum}, got {raw!r}")
        return value


def _env(
    name: str,
    parse: Parser[object],
    doc: str,
    minimum: float | None = None,
    maximum: float | None = None,
) -> dict[str, EnvVar]:
    return {_METADATA_KEY: EnvVar(name, parse, doc, minimum, maximum)}


def _setting(
    name: str,
    default: T,
    parse: Parser[T],
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> T:
    """A settings field with a default (required ones use `field(metadata=_env(...))`)."""
    return field(default=default, metadata=_env(name, parse, doc, minimum, maximum))


# --- Parsers ----------------------------------------------------------------------------------


def _plain(kind: Callable[[str], T]) -> Parser[T]:
    """Any value will do: `kind(raw)`."""
    return lambda name, raw: kind(raw)


def _numeric(kind: Callable[[str], T], what: str) -> Parser[T]:
    def parse(name: str, raw: str) -> T:
        try:
            return kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a {what}, got {raw!r}") from None

    return parse


def _digits(what: str) -> Parser[int]:
    """Digits only (no sign, no underscores), else "NAME: 'raw' is not <what>"."""

    def parse(name: str, raw: str) -> int:
        if not raw.isdigit():
            raise ValueError(f"{raw!r} is not {what}")
        return int(raw)

    return parse


def _one_of(*allowed: str) -> Parser[str]:
    def parse(name: str, raw: str) -> str:
        value = raw.upper()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}")
        return value

    return parse


def _items(parse_one: Parser[T], collect: Callable[[Iterable[T]], C]) -> Parser[C]:
    """A comma-separated list; blank items are skipped."""

    def parse(name: str, raw: str) -> C:
        return collect(parse_one(name, part.strip()) for part in raw.split(",") if part.strip())

    return parse


def _url(name: str, raw: str) -> str:
    value = raw.rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must start with http:// or https://")
    return value


def _host_entry(name: str, raw: str) -> str:
    entry = raw.rstrip("/")
    if not _is_allowlist_entry(entry.strip()):
        raise ValueError(
            f"{raw!r} must be a host name (files.example.com) or an origin (http://host:port)"
        )
    return entry


def _is_allowlist_entry(entry: str) -> bool:
    """Whether `services.downloads.HostAllowlist` accepts this entry (same rules, kept here so
    that settings import nothing from the project; a test compares the two)."""
    if not entry:
        return True
    if "://" not in entry:
        return not any(char in entry for char in "/:@")
    try:
        origin = URL(entry)
        return (
            origin.scheme.lower() in ("http", "https")
            and bool(origin.host)
            and origin.path in ("", "/")
            and not origin.query_string
            and not origin.user
        )
    except ValueError:
        return False


_text, _secret, _path = _plain(str), _plain(Secret), _plain(Path)
_whole, _number = _numeric(int, "whole number"), _numeric(float, "number")
_snowflake = _digits("a Discord id (digits only)")
_snowflakes = _items(_snowflake, frozenset)
_hosts = _items(_host_entry, tuple)
_shard_ids = _items(_digits("a shard number (digits only)"), lambda ids: tuple(sorted(set(ids))))


def _postgres_url(name: str, raw: str) -> Secret:
    """A PostgreSQL connection URL; kept as a Secret since it usually carries a password."""
    if not raw.startswith(("postgresql://", "postgres://")):
        raise SettingsError(f"{name} must start with postgresql:// (unset it to use SQLite)")
    return Secret(raw)
