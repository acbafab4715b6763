"""A fake ModelsLab: a real aiohttp server on 127.0.0.1 (random port) that speaks the v7
video-fusion contract in docs/modelslab-api.md, including its failure modes.

Usable from pytest and from standalone scripts (no pytest imports)::

    async with FakeModelsLab(api_key="k", generation_seconds=0.05) as fake:
        client = ModelsLabClient(session, api_key="k", base_url=fake.base_url, model_id="m")
        fake.queue_next(FakeJobSpec(outcome="failed", failure_message="No person detected"))
        fake.script_faults("fetch", ["503", "html_502", "slow:0.2", "disconnect"])

Jobs finish ``generation_seconds`` after their submit, measured on ``time_func`` when fetched, so a
test can pass a manual clock and never sleep. Every request is recorded in ``requests`` (raw body
kept, so tests can check the key travels in the body) with the HTTP status it was answered with.

Webhooks: every submit's ``webhook`` and ``track_id`` are kept on its ``FakeJob``. With
``send_webhooks`` on, the fake calls a job's webhook (POST, the success envelope plus ``track_id``)
``webhook_delay`` seconds after the job is done (real time), as ModelsLab does; ``send_webhook()``
calls one by hand, with any body. ``webhook_calls`` records (job id, HTTP status or None).

``POST /api/v6/base64_to_url`` hosts an image: the decoded bytes are kept in ``uploads`` and served
back at the returned ``/uploads/<n>.<ext>`` URL.

Fault names for ``script_faults(kind, faults)``; kind is "submit", "fetch", "wallet",
"request_count", "upload" or "media"; one fault is consumed per request of that kind, then normal
service:

- ``"<code>"`` (e.g. "500", "503", "401", "402", "403", "429"): the JSON error envelope with
  ModelsLab's documented message for that code ("429:<s>" sets retry_after).
- ``"input_400"``: 400 "Unable to fetch image from provided URL".
- ``"html_502"``: an HTML 502 error page (a proxy in front of ModelsLab).
- ``"non_json"``: 200 with a plain-text body. ``"empty"``: 200 with no body.
- ``"truncated"``: 200 with a cut-off JSON document (a complete HTTP message).
- ``"short_body"``: Content-Length promises more than is sent, then the connection closes.
- ``"disconnect"``: the connection is closed without any response.
- ``"slow:<s>"``: sleep, then answer normally (the request still takes effect even if the client
  gave up: that is why a timed-out submit has an unknown outcome).
- ``"429_header:<s>"``: a plain-text 429 with a ``Retry-After`` header.
- a ``FakeResponse``: any status, body and headers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

# The start of a real MP4 (an ftyp box) followed by filler: enough for sniffing, not for playing.
DEFAULT_CLIP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"fake mp4 payload " * 64

OUTCOMES = (
    "success",  # processing, then success with the clip URL
    "failed",  # processing, then {"status": "failed", <message_key>: failure_message}
    "error",  # processing, then {"status": "error", ...}
    "success_no_url_then_url",  # success with no URL for `no_url_fetches` fetches, then the URL
    "success_never_url",  # success that never carries a URL
    "instant_success",  # the submit itself answers success with the URL
    "submit_error",  # the submit answers {"status": "error", ...}; no job is created
)
ID_STYLES = ("int", "str", "fetch_result_only", "none")
FAULT_KINDS = ("submit", "fetch", "wallet", "request_count", "upload", "media")
UPLOAD_MAX_BYTES = 5 * 1024 * 1024  # base64_to_url's documented limit, on the decoded bytes

_STANDARD_MESSAGES = {
    400: "Unable to fetch image from provided URL",
    401: "Invalid API key",
    402: "Insufficient credits. Please add more credits to continue.",
    403: "This feature requires a premium subscription",
    404: "Not found",
    429: "Rate limit exceeded. Maximum 5 queued requests allowed.",
    500: "Internal server error. Please try again later.",
    502: "Bad gateway",
    503: "Service temporarily unavailable. Please try again later.",
    504: "Gateway timeout",
}
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_PROCESSING_MESSAGE = (
    "Request processing in background, you can fetch the result using the fetch_result link."
)
_FIRST_JOB_ID = 155262350
_CHUNK = 64 * 1024
# A base64 image at the upload limit, in JSON, with room to spare: larger bodies get a 413.
_CLIENT_MAX_SIZE = 16 * 1024 * 1024
_DATA_URL = re.compile(r"data:(image/[\w.+-]+);base64,(.*)", re.DOTALL)
_UPLOAD_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


@dataclass
class FakeJobSpec:
    """How one submitted job behaves (see ``OUTCOMES`` and ``ID_STYLES``)."""

    outcome: str = "success"
    generation_seconds: float | None = None  # None: the server's generation_seconds at submit
    id_style: str = "int"
    status_word: str = "processing"  # while running: "queued", "pending", "" (key absent), ...
    failure_message: str | dict[str, list[str]] = "Video generation failed, please try again."
    message_key: str = "message"  # or "messege", as ModelsLab sometimes spells it
    failure_http_status: int = 200
    url_field: str = "output"  # "output" (and proxy_links) | "proxy_links" (output stays [])
    no_url_fetches: int = 2  # for success_no_url_then_url
    eta: float | str | None = None  # None: the server's eta

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; one of {OUTCOMES}")
        if self.id_style not in ID_STYLES:
            raise ValueError(f"unknown id_style {self.id_style!r}; one of {ID_STYLES}")
        if self.url_field not in ("output", "proxy_links"):
            raise ValueError(f"unknown url_field {self.url_field!r}")


@dataclass
class FakeResponse:
    """A scripted answer: ``body`` is JSON-encoded unless it is ``str`` or ``bytes``."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_response(self) -> web.Response:
        if isinstance(self.body, bytes):
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=self.headers)
        return web.json_response(self.body, status=self.status, headers=self.headers)


@dataclass
class FakeJob:
    id: int
    spec: FakeJobSpec
    request: dict[str, Any]
    submitted_at: float
    generation_seconds: float
    fetches: int = 0
    done_fetches: int = 0

    @property
    def done_at(self) -> float:
        return self.submitted_at + self.generation_seconds

    def is_done(self, now: float) -> bool:
        return now >= self.done_at

    @property
    def makes_clip(self) -> bool:
        return self.spec.outcome in ("success", "success_no_url_then_url", "instant_success")

    @property
    def webhook(self) -> str | None:
        value = self.request.get("webhook")
        return value if isinstance(value, str) else None

    @property
    def track_id(self) -> str | None:
        value = self.request.get("track_id")
        return None if value is None else str(value)


@dataclass
class RecordedRequest:
    kind: str  # "submit", "fetch", "wallet", "request_count", "upload", "media" or "other"
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes  # raw, key included
    json: Any  # the parsed body, or None
    at: float  # time_func() on arrival
    status: int | None = None  # None when the connection was dropped without an answer
    fault: str | None = None  # the scripted fault that answered it, if any


class FakeModelsLab:
    """The fake provider. Mutable knobs: ``api_key``, ``queue_limit``, ``generation_seconds``,
    ``eta``, ``credits_exhausted``, ``premium_required``, ``balance``, ``currency``,
    ``rate_limit_retry_after`` (None: time until the next running job finishes)."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        queue_limit: int | None = 5,
        generation_seconds: float = 0.05,
        eta: float | str = 10,
        clip_bytes: bytes = DEFAULT_CLIP,
        time_func: Callable[[], float] = time.monotonic,
        public_base_url: str | None = None,
        shutdown_timeout: float = 2.0,
    ) -> None:
        self.api_key = api_key
        self.queue_limit = queue_limit
        self.generation_seconds = generation_seconds
        self.eta = eta
        self.time_func = time_func
        # fetch_result URLs point here; default: this server (ModelsLab's are absolute URLs).
        self.public_base_url = public_base_url
        self.credits_exhausted = False
        self.premium_required = False
        self.balance = 43.6
        self.currency = "USD"
        self.rate_limit_retry_after: float | None = None
        self.send_webhooks = False
        self.webhook_delay = 0.0
        self.webhook_calls: list[tuple[int, int | None]] = []
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.jobs: dict[str, FakeJob] = {}
        self.uploads: dict[str, tuple[str, bytes]] = {}  # "<n>.<ext>" -> (mime type, bytes)
        self.requests: list[RecordedRequest] = []
        self.max_concurrent_seen = 0
        self._clip_data: bytes | None = clip_bytes
        self._clip_size = len(clip_bytes)
        self._specs: deque[FakeJobSpec] = deque()
        self._faults: dict[str, deque[str | FakeResponse]] = {k: deque() for k in FAULT_KINDS}
        self._next_id = _FIRST_JOB_ID
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._origin: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(
            middlewares=[self._record_and_fault], client_max_size=_CLIENT_MAX_SIZE
        )
        app.router.add_post("/api/v7/video-fusion/fetch/{job_id}", self._fetch, name="fetch")
        app.router.add_post("/api/v7/video-fusion/{task}", self._submit, name="submit")
        app.router.add_post("/api/wallet_balance", self._wallet, name="wallet")
        app.router.add_post(
            "/api/v6/processing/request_count", self._request_count, name="request_count"
        )
        app.router.add_post("/api/v6/base64_to_url", self._upload, name="upload")
        app.router.add_get("/media/{job_id}.mp4", self._media, name="media")
        app.router.add_get("/uploads/{name}", self._uploaded)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._origin = f"http://{host}:{port}"

    async def close(self) -> None:
        for task in list(self._webhook_tasks):
            task.cancel()
        await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeModelsLab:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``"""
        if self._origin is None:
            raise RuntimeError("FakeModelsLab is not started")
        return self._origin

    @property
    def base_url(self) -> str:
        """The client's base: ``http://127.0.0.1:PORT/api``."""
        return f"{self.origin}/api"

    # --- scripting ------------------------------------------------------------------------------

    def queue_next(self, spec: FakeJobSpec, times: int = 1) -> None:
        """Use ``spec`` for the next ``times`` accepted submits (FIFO); the default spec after."""
        self._specs.extend([spec] * times)

    def script_faults(self, path_kind: str, faults: list[str | FakeResponse]) -> None:
        """Answer the next requests of ``path_kind`` with these faults, one per request."""
        if path_kind not in FAULT_KINDS:
            raise ValueError(f"unknown kind {path_kind!r}; one of {FAULT_KINDS}")
        for fault in faults:
            if isinstance(fault, str):
                _check_fault_name(fault)
        self._faults[path_kind].extend(faults)

    def pending_faults(self, path_kind: str) -> int:
        return len(self._faults[path_kind])

    def set_clip(self, data: bytes | None = None, *, size: int | None = None) -> None:
        """Serve ``data``, or a synthetic clip of ``size`` bytes streamed without building it."""
        if (data is None) == (size is None):
            raise ValueError("give exactly one of data or size")
        self._clip_data = data
        self._clip_size = len(data) if data is not None else int(size or 0)

    @property
    def clip_bytes(self) -> bytes:
        """The clip every successful job serves (built in memory if it is synthetic)."""
        return b"".join(self._clip_chunks())

    @clip_bytes.setter
    def clip_bytes(self, data: bytes) -> None:
        self.set_clip(data)

    @property
    def clip_size(self) -> int:
        return self._clip_size

    def clip_url(self, job_id: int | str) -> str:
        return f"{self.origin}/media/{job_id}.mp4"

    def proxy_url(self, job_id: int | str) -> str:
        return f"{self.origin}/media/{job_id}.mp4?via=proxy"

    def upload_url(self, name: str) -> str:
        return f"{self.origin}/uploads/{name}"

    async def send_webhook(
        self, job_id: int | str, body: Any = None, url: str | None = None
    ) -> int | None:
        """Call a job's webhook (or `url`) with `body` (default: the success envelope and the job's
        track_id). Returns the HTTP status, or None if the call failed."""
        job = self.jobs.get(str(job_id))
        target = url or (job.webhook if job is not None else None)
        if target is None:
            raise ValueError(f"job {job_id} has no webhook")
        if body is None and job is not None:
            body = {
                "status": "success",
                **self._id_fields(job),
                "output": [self.clip_url(job.id)],
                "track_id": job.track_id,
            }
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(target, json=body) as resp:
                status: int | None = resp.status
        except aiohttp.ClientError:
            status = None
        self.webhook_calls.append((int(job_id), status))
        return status

    def _schedule_webhook(self, job: FakeJob) -> None:
        async def later() -> None:
            await asyncio.sleep(max(job.done_at - self.time_func(), 0.0) + self.webhook_delay)
            await self.send_webhook(job.id)

        task = asyncio.get_running_loop().create_task(later())
        self._webhook_tasks.add(task)
        task.add_done_callback(self._webhook_tasks.discard)

    # --- inspection -----------------------------------------------------------------------------

    def requests_of(self, kind: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.kind == kind]

    def submits(self) -> list[RecordedRequest]:
        return self.requests_of("submit")

    def fetches(self) -> list[RecordedRequest]:
        return self.requests_of("fetch")

    def processing_count(self) -> int:
        """Jobs generating right now; they count against ``queue_limit``."""
        now = self.time_func()
        return sum(1 for job in self.jobs.values() if not job.is_done(now))

    # --- middleware: record every request, answer scripted faults -------------------------------

    @web.middleware
    async def _record_and_fault(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        route_name = request.match_info.route.name
        kind = route_name if route_name in FAULT_KINDS else "other"
        record = RecordedRequest(
            kind=kind,
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=dict(request.headers),
            body=raw,
            json=parsed,
            at=self.time_func(),
        )
        self.requests.append(record)
        faults = self._faults.get(kind)
        if faults:
            fault = faults.popleft()
            record.fault = fault if isinstance(fault, str) else "response"
            response = await self._apply_fault(request, fault)
            if response is None:  # slow: the request then takes effect normally
                response = await handler(request)
        else:
            response = await handler(request)
        record.status = None if _dropped(request) else response.status
        return response

    async def _apply_fault(
        self, request: web.Request, fault: str | FakeResponse
    ) -> web.StreamResponse | None:
        if isinstance(fault, FakeResponse):
            return fault.to_response()
        name, _, arg = fault.partition(":")
        if name == "slow":
            await asyncio.sleep(float(arg))
            return None
        if name == "disconnect":
            _drop(request)
            return web.Response(status=200)  # never sent: the connection is gone
        if name == "short_body":
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            response.content_length = 4096
            await response.prepare(request)
            await response.write(b'{"status": "processing", "id": ')
            _drop(request)
            return response
        if name == "html_502":
            return web.Response(status=502, body=_HTML_502, content_type="text/html")
        if name == "non_json":
            return web.Response(status=200, text="Request received. Thank you!")
        if name == "empty":
            return web.Response(status=200)
        if name == "truncated":
            return web.Response(
                status=200,
                body=b'{"status": "processing", "id": 1552623',
                content_type="application/json",
            )
        if name == "429_header":
            return web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": arg or "1"}
            )
        if name == "input_400":
            return _error(400, _STANDARD_MESSAGES[400])
        code = int(name)
        extra: dict[str, Any] = {}
        if code == 429:
            extra["retry_after"] = float(arg) if arg else 1
        return _error(code, _STANDARD_MESSAGES.get(code, "Error"), **extra)

    # --- handlers -------------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None:
            return _error(400, "Invalid JSON body")
        if request.match_info["task"] != "motion-control":
            return _error(404, "Not found")
        if body.get("key") != self.api_key:
            return _error(401, _STANDARD_MESSAGES[401])
        if self.premium_required:
            return _error(403, _STANDARD_MESSAGES[403])
        if self.credits_exhausted:
            return _error(402, _STANDARD_MESSAGES[402])
        field_errors = _validate_motion_control(body)
        if field_errors:
            return _error(400, field_errors)
        now = self.time_func()
        if self.queue_limit is not None and self.processing_count() >= self.queue_limit:
            return _error(
                429,
                f"Rate limit exceeded. Maximum {self.queue_limit} queued requests allowed.",
                retry_after=self._retry_after(now),
            )

        spec = self._specs.popleft() if self._specs else FakeJobSpec()
        if spec.outcome == "submit_error":
            return _error(spec.failure_http_status, spec.failure_message, key=spec.message_key)
        job = FakeJob(
            id=self._next_id,
            spec=spec,
            request=body,
            submitted_at=now,
            generation_seconds=0.0
            if spec.outcome == "instant_success"
            else (
                self.generation_seconds
                if spec.generation_seconds is None
                else spec.generation_seconds
            ),
        )
        self._next_id += 1
        self.jobs[str(job.id)] = job
        self.max_concurrent_seen = max(self.max_concurrent_seen, self.processing_count())
        if self.send_webhooks and job.webhook is not None:
            self._schedule_webhook(job)
        if spec.outcome == "instant_success":
            return self._success(job)
        return self._processing(job)

    async def _fetch(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None:
            return _error(400, "Invalid JSON body")
        if body.get("key") != self.api_key:
            return _error(401, _STANDARD_MESSAGES[401])
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return _error(404, "Request not found")
        job.fetches += 1
        if not job.is_done(self.time_func()):
            return self._processing(job)
        job.done_fetches += 1
        spec = job.spec
        if spec.outcome in ("failed", "error"):
            return _error(
                spec.failure_http_status,
                spec.failure_message,
                status=spec.outcome,
                key=spec.message_key,
                **self._id_fields(job),
            )
        if spec.outcome == "success_never_url" or (
            spec.outcome == "success_no_url_then_url" and job.done_fetches <= spec.no_url_fetches
        ):
            return self._success(job, with_url=False)
        return self._success(job)

    async def _wallet(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None or body.get("key") != self.api_key:
            return _error(401, _STANDARD_MESSAGES[401])
        return web.json_response(
            {"status": "success", "data": {"balance": self.balance, "currency": self.currency}}
        )

    async def _request_count(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None or body.get("key") != self.api_key:
            return _error(401, _STANDARD_MESSAGES[401])
        return web.json_response({"status": "success", "processing_count": self.processing_count()})

    async def _upload(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body is None or body.get("key") != self.api_key:
            return _error(401, _STANDARD_MESSAGES[401])
        raw = body.get("base64_string")
        match = _DATA_URL.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            return _error(400, {"base64_string": ["The base64 string must be a base64 data URL."]})
        mime_type, encoded = match.groups()
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "Invalid base64 string")
        if not data:
            return _error(400, "Invalid base64 string")
        if len(data) > UPLOAD_MAX_BYTES:
            return _error(400, "The image may not be greater than 5 MB.")
        name = f"{len(self.uploads) + 1}.{_UPLOAD_EXTENSIONS.get(mime_type, 'bin')}"
        self.uploads[name] = (mime_type, data)
        return web.json_response({"status": "success", "output": [self.upload_url(name)]})

    async def _uploaded(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["name"])
        if upload is None:
            return web.Response(status=404, text="Not Found")
        mime_type, data = upload
        return web.Response(body=data, content_type=mime_type)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None or not job.makes_clip or not job.is_done(self.time_func()):
            return web.Response(status=404, text="Not Found")
        response = web.StreamResponse(status=200, headers={"Content-Type": "video/mp4"})
        response.content_length = self._clip_size
        await response.prepare(request)
        if request.method != "HEAD":
            for chunk in self._clip_chunks():
                await response.write(chunk)
        await response.write_eof()
        return response

    # --- envelopes ------------------------------------------------------------------------------

    def _id_fields(self, job: FakeJob) -> dict[str, Any]:
        public_base = (self.public_base_url or self.base_url).rstrip("/")
        fetch_result = f"{public_base}/v7/video-fusion/fetch/{job.id}"
        style = job.spec.id_style
        if style == "int":
            return {"id": job.id, "fetch_result": fetch_result}
        if style == "str":
            return {"id": str(job.id), "fetch_result": fetch_result}
        if style == "fetch_result_only":
            return {"fetch_result": fetch_result}
        return {}

    def _meta(self, job: FakeJob) -> dict[str, Any]:
        return {
            "model_id": job.request.get("model_id"),
            "prompt": job.request.get("prompt"),
            "mode": job.request.get("mode"),
            "character_orientation": job.request.get("character_orientation"),
        }

    def _processing(self, job: FakeJob) -> web.Response:
        payload: dict[str, Any] = {}
        if job.spec.status_word:
            payload["status"] = job.spec.status_word
        payload.update(self._id_fields(job))
        payload.update(
            {
                "eta": self.eta if job.spec.eta is None else job.spec.eta,
                "future_links": [self.clip_url(job.id)],
                "output": [],
                "message": _PROCESSING_MESSAGE,
                "tip": "Generation takes from about a minute to 15 minutes.",
                "meta": self._meta(job),
            }
        )
        return web.json_response(payload)

    def _success(self, job: FakeJob, *, with_url: bool = True) -> web.Response:
        output = [self.clip_url(job.id)] if with_url and job.spec.url_field == "output" else []
        proxy_links = [self.proxy_url(job.id)] if with_url else []
        payload: dict[str, Any] = {"status": "success", **self._id_fields(job)}
        payload.update(
            {
                "output": output,
                "proxy_links": proxy_links,
                "generationTime": round(job.generation_seconds, 3),
                "meta": self._meta(job),
            }
        )
        return web.json_response(payload)

    def _retry_after(self, now: float) -> float:
        if self.rate_limit_retry_after is not None:
            return self.rate_limit_retry_after
        # Scaled to the fake's generation time so fast tests and slow benchmarks both work.
        running = [job.done_at - now for job in self.jobs.values() if not job.is_done(now)]
        return round(max(min(running, default=1.0), 0.001), 3)

    def _clip_chunks(self) -> Iterator[bytes]:
        if self._clip_data is not None:
            for start in range(0, len(self._clip_data), _CHUNK):
                yield self._clip_data[start : start + _CHUNK]
            return
        # Synthetic: a real-looking ftyp box, then zeros.
        head = DEFAULT_CLIP[:24][: self._clip_size]
        yield head
        remaining = self._clip_size - len(head)
        zeros = bytes(_CHUNK)
        while remaining > 0:
            piece = min(remaining, _CHUNK)
            yield zeros[:piece]
            remaining -= piece


# --- helpers ------------------------------------------------------------------------------------


def _error(
    http_status: int,
    message: str | dict[str, list[str]],
    *,
    status: str = "error",
    key: str = "message",
    **extra: Any,
) -> web.Response:
    return web.json_response({"status": status, key: message, **extra}, status=http_status)


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _validate_motion_control(body: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def require_text(name: str, label: str) -> str | None:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = [f"The {label} field is required."]
            return None
        return value

    require_text("model_id", "model id")
    prompt = require_text("prompt", "prompt")
    if prompt is not None and len(prompt) > 2500:
        errors["prompt"] = ["The prompt may not be greater than 2500 characters."]
    for name, label in (("init_image", "init image"), ("init_video", "init video")):
        url = require_text(name, label)
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            errors[name] = [f"The {label} must be a valid URL."]
    choices = {"character_orientation": ("image", "video"), "mode": ("std", "pro")}
    for name, allowed in choices.items():
        value = require_text(name, name.replace("_", " "))
        if value is not None and value not in allowed:
            errors[name] = [f"The selected {name.replace('_', ' ')} is invalid."]
    sound = body.get("keep_original_sound")
    if sound is not None and sound not in ("yes", "no"):
        errors["keep_original_sound"] = ["The selected keep original sound is invalid."]
    return errors


def _check_fault_name(fault: str) -> None:
    name, _, arg = fault.partition(":")
    if name in ("slow", "429_header"):
        float(arg)  # raises ValueError on a typo
        return
    if name in ("disconnect", "short_body", "html_502", "non_json", "empty", "truncated"):
        return
    if name == "input_400":
        return
    if name.isdigit() and len(name) == 3:
        if arg:
            float(arg)
        return
    raise ValueError(f"unknown fault {fault!r}")


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


def _dropped(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()
