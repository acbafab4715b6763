"""Reading ModelsLab's answers: the size-capped body, the JSON envelope, and the tables that
classify a message or an HTTP code. No network calls here; services/modelslab.py makes them."""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from services.modelslab_errors import (
    EMPTY_FIELD_ERRORS,
    InputError,
    ModelsLabError,
    OperatorError,
    OperatorReason,
    OutcomeUnknownError,
    RateLimitedError,
    TransientError,
)

# Responses are small JSON envelopes; anything bigger is not an answer we can use.
MAX_RESPONSE_BYTES = 1024 * 1024


FAILED_STATUSES = frozenset({"error", "failed"})

# Message patterns, checked in this order; the body's message decides before the HTTP code does.
MESSAGE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "invalid_key",
        re.compile(
            r"invalid (?:api )?key|api key (?:is )?(?:invalid|not valid|missing|required)"
            r"|unauthori[sz]ed|unauthenticated|authentication failed"
        ),
    ),
    (
        "no_credits",
        re.compile(
            r"insufficient (?:credit|balance|fund)|not enough (?:credit|balance)"
            r"|out of credits|add more credits|no credits"
        ),
    ),
    (
        "forbidden",
        re.compile(
            r"premium subscription|requires a premium|subscription (?:is )?required"
            r"|upgrade your (?:plan|subscription)"
        ),
    ),
    ("rate_limited", re.compile(r"rate limit|too many requests|queued requests allowed")),
    (
        "transient",
        re.compile(
            r"temporarily unavailable|internal server error|service unavailable|bad gateway"
            r"|gateway time-?out"
        ),
    ),
)

HTTP_RULES: Mapping[int, str] = MappingProxyType(
    {
        401: "invalid_key",
        402: "no_credits",
        403: "forbidden",
        429: "rate_limited",
        500: "transient",
        502: "transient",
        503: "transient",
        504: "transient",
    }
)

OPERATOR_REASON_OF: Mapping[str, OperatorReason] = MappingProxyType(
    {"invalid_key": "invalid_key", "no_credits": "no_credits", "forbidden": "forbidden"}
)


class Call(enum.Enum):
    SUBMIT = "submit"
    FETCH = "fetch"
    HELPER = "helper"
    UPLOAD = "upload"  # safe to repeat, but a refusal is about the caller's data


@dataclass(frozen=True)
class Reply:
    http_status: int
    body: dict[str, Any] | None  # None when the body was not a JSON object
    retry_after_header: float | None


async def read_capped(resp: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None if it is larger than ``MAX_RESPONSE_BYTES``."""
    if resp.content_length is not None and resp.content_length > MAX_RESPONSE_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def status_of(body: Mapping[str, Any]) -> str:
    status = body.get("status")
    return "" if status is None else str(status).strip().lower()


def kind_from_message(message: str, field_errors: Mapping[str, tuple[str, ...]]) -> str | None:
    if "key" in field_errors:
        return "invalid_key"  # the key field itself was refused
    lowered = message.lower()
    for kind, pattern in MESSAGE_RULES:
        if pattern.search(lowered):
            return kind
    return None


def job_id_of(body: Mapping[str, Any]) -> str | None:
    raw = body.get("id")
    if isinstance(raw, bool):
        raw = None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    fetch_result = body.get("fetch_result")
    if isinstance(fetch_result, str) and fetch_result.strip():
        segments = [s for s in urlsplit(fetch_result.strip()).path.split("/") if s]
        if segments:
            return segments[-1]
    return None


def first_url(value: Any) -> str | None:
    candidates = value if isinstance(value, list | tuple) else [value]
    for item in candidates:
        if isinstance(item, str) and item.strip().lower().startswith(("https://", "http://")):
            return item.strip()
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def retry_after_of(reply: Reply) -> float | None:
    from_body = as_float(reply.body.get("retry_after")) if reply.body is not None else None
    value = from_body if from_body is not None else reply.retry_after_header
    return None if value is None else max(0.0, value)


def parse_retry_after_header(headers: CIMultiDictProxy[str]) -> float | None:
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    seconds = as_float(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_unusable_body(reply: Reply, call: Call) -> ModelsLabError:
    http = reply.http_status
    text = f"ModelsLab answered HTTP {http} with a body that is not a JSON object"
    kind = HTTP_RULES.get(http)
    if kind is None and http >= 500:
        kind = "transient"
    if kind is not None:
        return error_of_kind(kind, text, reply)
    if (call is Call.SUBMIT or call is Call.UPLOAD) and 400 <= http < 500:
        return InputError(text, http_status=http)
    if call is Call.SUBMIT:
        # A 2xx (or anything odd) we cannot read: the job may well exist.
        return OutcomeUnknownError(text, http_status=http)
    return TransientError(text, http_status=http, retry_after=retry_after_of(reply))


def error_of_kind(kind: str, text: str, reply: Reply) -> ModelsLabError:
    http = reply.http_status
    reason = OPERATOR_REASON_OF.get(kind)
    if reason is not None:
        return OperatorError(text, reason=reason, http_status=http)
    if kind == "rate_limited":
        return RateLimitedError(text, http_status=http, retry_after=retry_after_of(reply))
    return TransientError(text, http_status=http, retry_after=retry_after_of(reply))


def message_of(
    body: Mapping[str, Any], redact: Callable[[str], str]
) -> tuple[str | None, Mapping[str, tuple[str, ...]]]:
    """The human-readable reason and any field errors, from ``message`` or ``messege``."""
    raw = body.get("message")
    if raw is None or raw == "":
        raw = body.get("messege")
    if raw is None or raw == "":
        return None, EMPTY_FIELD_ERRORS
    if isinstance(raw, dict):
        errors: dict[str, tuple[str, ...]] = {}
        for name, value in raw.items():
            items = value if isinstance(value, list | tuple) else [value]
            errors[redact(str(name))] = tuple(
                redact(str(item)) for item in items if item is not None
            )
        text = "; ".join(
            f"{name}: {' '.join(msgs)}" if msgs else name for name, msgs in errors.items()
        )
        return (text or None), MappingProxyType(errors)
    if isinstance(raw, list | tuple):
        text = "; ".join(str(item) for item in raw if item is not None)
        return (redact(text) or None), EMPTY_FIELD_ERRORS
    return (redact(str(raw)) or None), EMPTY_FIELD_ERRORS
