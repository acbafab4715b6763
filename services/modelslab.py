"""Typed async client for ModelsLab's v7 ``video-fusion`` family (motion control first).

Every ``v7/video-fusion/<task>`` endpoint shares one response envelope and one fetch endpoint, so
the client is written for the family: a task is one payload builder over ``_post_task``. JSON
becomes frozen dataclasses here; nothing above this module sees a raw dict. Failures become one
exception family whose class tells the caller what to do (retry later, tell the user, alert the
operator, or never retry a submit blindly).

The API key travels only in JSON request bodies. It is never put in a URL, a log line, an exception
or a repr, and any provider text that echoes it back is redacted.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import io
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

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
from services.modelslab_replies import (
    FAILED_STATUSES,
    HTTP_RULES,
    MAX_RESPONSE_BYTES,
    Call,
    Reply,
    as_float,
    error_for_unusable_body,
    error_of_kind,
    first_url,
    job_id_of,
    kind_from_message,
    message_of,
    parse_json_object,
    parse_retry_after_header,
    read_capped,
    retry_after_of,
    status_of,
)

__all__ = [
    "MAX_RESPONSE_BYTES",
    "InputError",
    "ModelsLabClient",
    "ModelsLabError",
    "MotionControlRequest",
    "OperatorError",
    "OperatorReason",
    "OutcomeUnknownError",
    "ProviderJob",
    "ProviderState",
    "RateLimitedError",
    "TransientError",
    "WalletBalance",
]

log = logging.getLogger(__name__)

#: The largest image ``base64_to_url`` takes (the decoded bytes, before base64).
UPLOAD_MAX_BYTES = 5 * 1024 * 1024


_REDACTED = "[redacted]"
_MB = 1024 * 1024


class ProviderState(enum.StrEnum):
    """Where a provider job stands, as far as the bot is concerned."""

    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class MotionControlRequest:
    """One motion-control generation: animate the character in ``image_url`` with the motion of
    ``video_url``."""

    image_url: str
    video_url: str
    orientation: str  # "image" | "video"
    mode: str  # "std" | "pro"
    prompt: str
    keep_original_sound: bool | None = None
    webhook: str | None = field(default=None, repr=False)  # carries a per-job secret
    track_id: str | None = None


@dataclass(frozen=True)
class ProviderJob:
    """A provider job as read from one submit or fetch response."""

    state: ProviderState
    job_id: str | None = None
    eta_seconds: float | None = None
    # output[0], else proxy_links[0]; None if there is no URL yet (future_links is not the result).
    output_url: str | None = None
    message: str | None = None
    field_errors: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY_FIELD_ERRORS)
    generation_time: float | None = None
    raw_status: str = ""


@dataclass(frozen=True)
class WebhookNotice:
    """What a webhook call claims. Untrusted: only ever a prompt to fetch the job ourselves."""

    provider_job_id: str | None
    track_id: str | None
    status: str


def parse_webhook(body: Any) -> WebhookNotice:
    """Read a webhook body (the fetch envelope, plus ``track_id``); anything else reads as empty."""
    if not isinstance(body, dict):
        return WebhookNotice(None, None, "")
    track = body.get("track_id")
    track_id = str(track).strip() if isinstance(track, str | int) and str(track).strip() else None
    return WebhookNotice(job_id_of(body), track_id, status_of(body))


@dataclass(frozen=True)
class WalletBalance:
    """The account's remaining balance."""

    balance: float
    currency: str


# --- the client ---------------------------------------------------------------------------------


class ModelsLabClient:
    """Thin typed client over one injected ``aiohttp.ClientSession``."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        base_url: str,
        model_id: str,
        request_timeout: float = 30.0,
        submit_timeout: float = 120.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self._session = session
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._model_id = model_id
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        # A submit may be held open by the server for a long time; bound the gaps between reads,
        # not the whole call. Connecting is still bounded by the ordinary timeout.
        self._submit_timeout = aiohttp.ClientTimeout(
            sock_connect=request_timeout, sock_read=submit_timeout
        )

    def __repr__(self) -> str:
        return f"ModelsLabClient(base_url={self._base_url!r}, model_id={self._model_id!r})"

    @property
    def base_url(self) -> str:
        """The configured base URL, without a trailing slash."""
        return self._base_url

    @property
    def model_id(self) -> str:
        """The model id sent with every task."""
        return self._model_id

    # --- public calls ---------------------------------------------------------------------------

    async def submit_motion_control(self, request: MotionControlRequest) -> ProviderJob:
        """Submit a motion-control job and return it (normally PROCESSING, with a ``job_id``).

        Raises ``InputError``, ``OperatorError``, ``RateLimitedError``/``TransientError`` (safe to
        retry later) or ``OutcomeUnknownError`` (the job may exist: never resubmit blindly).
        """
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "init_image": request.image_url,
            "init_video": request.video_url,
            "character_orientation": request.orientation,
            "mode": request.mode,
        }
        if request.keep_original_sound is not None:
            payload["keep_original_sound"] = "yes" if request.keep_original_sound else "no"
        if request.webhook is not None:
            payload["webhook"] = request.webhook
        if request.track_id is not None:
            payload["track_id"] = request.track_id
        return await self._post_task("motion-control", payload)

    async def fetch(self, job_id: str) -> ProviderJob:
        """Poll a job by its provider id.

        Returns PROCESSING, SUCCESS (``output_url`` may still be None: poll again) or FAILED (the
        job failed at the provider; ``message`` says why). Raises ``OperatorError``,
        ``RateLimitedError`` or ``TransientError`` when the poll itself did not work.
        """
        if not job_id:
            raise ValueError("job_id must not be empty")
        # Built from the configured base, never from fetch_result, so a proxy or test base holds.
        url = f"{self._base_url}/v7/video-fusion/fetch/{quote(job_id, safe='')}"
        reply = await self._send(url, {"key": self._api_key}, Call.FETCH, what="fetch")
        return self._job_from_reply(reply, Call.FETCH, fallback_id=job_id)

    async def wallet_balance(self) -> WalletBalance:
        """Return the account's balance. Raises ``OperatorError`` or ``TransientError``."""
        reply = await self._send(
            f"{self._base_url}/wallet_balance", {"key": self._api_key}, Call.HELPER, what="wallet"
        )
        body = self._helper_body(reply)
        data = body.get("data")
        source: Mapping[str, Any] = data if isinstance(data, dict) else body
        balance = as_float(source.get("balance"))
        if balance is None:
            raise TransientError(
                "wallet_balance answer has no balance", http_status=reply.http_status
            )
        currency = source.get("currency")
        # ModelsLab bills in US dollars; the field is informational.
        return WalletBalance(balance=balance, currency=str(currency) if currency else "USD")

    async def processing_count(self) -> int:
        """Return how many of the account's jobs ModelsLab is processing right now."""
        reply = await self._send(
            f"{self._base_url}/v6/processing/request_count",
            {"key": self._api_key},
            Call.HELPER,
            what="request_count",
        )
        body = self._helper_body(reply)
        data = body.get("data")
        raw = body.get("processing_count")
        if raw is None and isinstance(data, dict):
            raw = data.get("processing_count")
        count = as_float(raw)
        if count is None or count < 0 or not count.is_integer():
            raise TransientError(
                "request_count answer has no processing_count", http_status=reply.http_status
            )
        return int(count)

    async def upload_image(self, data: bytes, *, mime_type: str = "image/png") -> str:
        """Host an image at ModelsLab (``v6/base64_to_url``) and return its public URL, which
        expires after about 24 hours.

        Raises ``InputError`` (over :data:`UPLOAD_MAX_BYTES`, checked before any request, or
        refused by ModelsLab; the message is meant for the user), ``OperatorError`` or
        ``TransientError`` (the call is safe to repeat).
        """
        if not data:
            raise ValueError("data must not be empty")
        if not mime_type.startswith("image/"):
            raise ValueError("mime_type must be an image type")
        if len(data) > UPLOAD_MAX_BYTES:
            # Rounded up, so a size just over the limit never reads as the limit itself.
            found = math.ceil(len(data) * 10 / _MB) / 10
            raise InputError(
                f"Your image is {found:.1f} MB once prepared for the generator; the limit is "
                f"{UPLOAD_MAX_BYTES // _MB} MB. Save it as a JPG or make it smaller."
            )
        # Several megabytes of base64 inside JSON: CPU work, so it is built in a thread.
        body = await asyncio.to_thread(self._upload_body, data, mime_type)
        reply = await self._send(
            f"{self._base_url}/v6/base64_to_url", body, Call.UPLOAD, what="base64_to_url"
        )
        url = first_url(self._helper_body(reply, Call.UPLOAD).get("output"))
        if url is None:
            raise TransientError("base64_to_url answer has no URL", http_status=reply.http_status)
        log.info("ModelsLab base64_to_url: %d bytes of %s hosted", len(data), mime_type)
        return url

    def _upload_body(self, data: bytes, mime_type: str) -> bytes:
        encoded = base64.b64encode(data).decode("ascii")
        body = {"key": self._api_key, "base64_string": f"data:{mime_type};base64,{encoded}"}
        return json.dumps(body).encode("utf-8")

    # --- family plumbing ------------------------------------------------------------------------

    async def _post_task(self, task: str, payload: Mapping[str, Any]) -> ProviderJob:
        """Submit ``payload`` to ``v7/video-fusion/<task>``; key and model id are added here."""
        body = {"key": self._api_key, "model_id": self._model_id, **payload}
        reply = await self._send(
            f"{self._base_url}/v7/video-fusion/{task}", body, Call.SUBMIT, what=task
        )
        job = self._job_from_reply(reply, Call.SUBMIT, fallback_id=None)
        if job.job_id is None and job.output_url is None:
            # Accepted, perhaps billed, but nothing to follow it by.
            raise OutcomeUnknownError(
                f"ModelsLab {task} answer carried no job id", http_status=reply.http_status
            )
        log.info("ModelsLab %s accepted: provider job %s (%s)", task, job.job_id, job.raw_status)
        return job

    async def _send(
        self, url: str, body: Mapping[str, Any] | bytes, call: Call, *, what: str
    ) -> Reply:
        """POST ``body`` (a JSON object, or one already encoded) and read the answer."""
        timeout = self._submit_timeout if call is Call.SUBMIT else self._timeout
        content: dict[str, Any] = {"json": body}
        if isinstance(body, bytes):
            # Large bodies (an image upload) are sent from a buffer in chunks, so writing them
            # never holds up the event loop.
            buffer = io.BytesIO(body)
            content = {"data": aiohttp.BytesIOPayload(buffer, content_type="application/json")}
        try:
            # The body decides, even if the shared session was built with raise_for_status.
            async with self._session.post(
                url, timeout=timeout, raise_for_status=False, **content
            ) as resp:
                raw = await read_capped(resp)
                http_status = resp.status
                retry_after_header = parse_retry_after_header(resp.headers)
        except aiohttp.ClientConnectorError as exc:
            # Never connected: nothing was sent, so even a submit is safe to repeat.
            log.warning("ModelsLab %s: cannot connect (%s)", what, type(exc).__name__)
            raise TransientError(f"cannot connect to ModelsLab: {self._redact(str(exc))}") from exc
        except aiohttp.ConnectionTimeoutError as exc:
            log.warning("ModelsLab %s: connect timed out", what)
            raise TransientError("timed out connecting to ModelsLab") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            detail = self._redact(str(exc)) or type(exc).__name__
            log.warning("ModelsLab %s: no usable answer (%s)", what, type(exc).__name__)
            if call is Call.SUBMIT:
                raise OutcomeUnknownError(
                    f"no usable answer from ModelsLab to {what} ({type(exc).__name__}: {detail})"
                ) from exc
            raise TransientError(
                f"no usable answer from ModelsLab to {what} ({type(exc).__name__}: {detail})"
            ) from exc

        parsed = parse_json_object(raw)
        log.debug(
            "ModelsLab %s: HTTP %s, status %r",
            what,
            http_status,
            status_of(parsed) if parsed is not None else "<not a JSON object>",
        )
        return Reply(http_status=http_status, body=parsed, retry_after_header=retry_after_header)

    # --- interpretation -------------------------------------------------------------------------

    def _job_from_reply(self, reply: Reply, call: Call, *, fallback_id: str | None) -> ProviderJob:
        if reply.body is None:
            raise error_for_unusable_body(reply, call)
        body = reply.body
        raw_status = status_of(body)
        message, field_errors = message_of(body, self._redact)
        is_2xx = 200 <= reply.http_status < 300

        if raw_status == "success":
            state = ProviderState.SUCCESS
        elif raw_status in FAILED_STATUSES or not is_2xx:
            error = self._error_for_failure(
                reply, call, message, field_errors, explicit=raw_status in FAILED_STATUSES
            )
            if error is not None:
                raise error
            state = ProviderState.FAILED
        else:
            # processing, queued, pending, missing or a status we do not know: not finished.
            state = ProviderState.PROCESSING

        return ProviderJob(
            state=state,
            job_id=job_id_of(body) or fallback_id,
            eta_seconds=as_float(body.get("eta")),
            output_url=first_url(body.get("output")) or first_url(body.get("proxy_links")),
            message=message,
            field_errors=field_errors,
            generation_time=as_float(body.get("generationTime", body.get("generation_time"))),
            raw_status=raw_status,
        )

    def _helper_body(self, reply: Reply, call: Call = Call.HELPER) -> dict[str, Any]:
        if reply.body is None:
            raise error_for_unusable_body(reply, call)
        raw_status = status_of(reply.body)
        is_2xx = 200 <= reply.http_status < 300
        if raw_status in FAILED_STATUSES or not is_2xx:
            message, field_errors = message_of(reply.body, self._redact)
            error = self._error_for_failure(reply, call, message, field_errors, explicit=True)
            raise error or TransientError(message or "ModelsLab call failed")
        return reply.body

    def _error_for_failure(
        self,
        reply: Reply,
        call: Call,
        message: str | None,
        field_errors: Mapping[str, tuple[str, ...]],
        *,
        explicit: bool,
    ) -> ModelsLabError | None:
        """The exception a failure maps to, or None when a fetch found a job that failed."""
        http = reply.http_status
        kind = kind_from_message(message or "", field_errors) or HTTP_RULES.get(http)
        if kind is None and http >= 500:
            kind = "transient"
        text = message or f"ModelsLab answered HTTP {http} without a message"
        if kind is not None:
            return error_of_kind(kind, text, reply)
        if call is Call.SUBMIT or call is Call.UPLOAD:
            if explicit or 400 <= http < 500:
                return InputError(text, http_status=http, field_errors=field_errors)
            if call is Call.SUBMIT:
                return OutcomeUnknownError(text, http_status=http)
        if call is Call.FETCH and explicit:
            return None  # the job failed at the provider: a result, not an exception
        return TransientError(text, http_status=http, retry_after=retry_after_of(reply))

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, _REDACTED) if self._api_key in text else text
