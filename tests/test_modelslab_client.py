"""The ModelsLab client against the fake ModelsLab server on loopback.

The fake runs on a manual clock, so jobs "finish" when a test advances it: nothing here sleeps
longer than a fraction of a second.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from PIL import Image

from services.modelslab import (
    UPLOAD_MAX_BYTES,
    InputError,
    ModelsLabClient,
    ModelsLabError,
    MotionControlRequest,
    OperatorError,
    OutcomeUnknownError,
    ProviderState,
    RateLimitedError,
    TransientError,
    WalletBalance,
)
from tests.clock import FakeClock
from tests.fakes.modelslab_server import FakeJobSpec, FakeModelsLab, FakeResponse

KEY = "sk-live-SECRET-0123456789abcdef"
MODEL = "kling-motion-control"
REQUEST = MotionControlRequest(
    image_url="https://cdn.example/char.png",
    video_url="https://cdn.example/moves.mp4",
    orientation="image",
    mode="std",
    prompt="The character dances.",
)
GENERATION = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_000.0)


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert KEY not in record.getMessage()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeModelsLab]:
    async with FakeModelsLab(api_key=KEY, generation_seconds=GENERATION, time_func=clock) as srv:
        yield srv
        # The key travels in JSON bodies only: never in a URL or a header.
        for r in srv.requests:
            assert KEY not in r.path and KEY not in r.query
            assert all(KEY not in v for v in r.headers.values())


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make_client(
    session: aiohttp.ClientSession, fake: FakeModelsLab
) -> Callable[..., ModelsLabClient]:
    def make(**overrides: Any) -> ModelsLabClient:
        options: dict[str, Any] = {
            "api_key": KEY,
            "base_url": fake.base_url,
            "model_id": MODEL,
            "request_timeout": 2.0,
            "submit_timeout": 2.0,
            **overrides,
        }
        return ModelsLabClient(session, **options)

    return make


@pytest.fixture
def client(make_client: Callable[..., ModelsLabClient]) -> ModelsLabClient:
    return make_client()


def assert_no_key(exc: BaseException) -> None:
    texts = [str(exc), repr(exc), *(str(a) for a in exc.args)]
    if isinstance(exc, ModelsLabError):
        texts.append(exc.message)
    if exc.__cause__ is not None:
        texts += [str(exc.__cause__), repr(exc.__cause__)]
    assert all(KEY not in t for t in texts)


async def raises(expected: type[ModelsLabError], call: Any) -> Any:
    """Await ``call``, require exactly ``expected`` and a key-free exception; return it."""
    with pytest.raises(ModelsLabError) as info:
        await call
    assert type(info.value) is expected, repr(info.value)
    assert_no_key(info.value)
    return info.value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- submit: the happy path and the request it sends ----------------------------------------


async def test_submit_sends_documented_body_and_returns_processing(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    job = await client.submit_motion_control(REQUEST)

    assert job.state is ProviderState.PROCESSING and job.raw_status == "processing"
    assert job.job_id == "155262350"
    assert job.eta_seconds == 10.0
    assert job.output_url is None  # future_links is not the result
    assert job.message and "background" in job.message
    assert dict(job.field_errors) == {}
    (sent,) = fake.submits()
    assert sent.method == "POST" and sent.path == "/api/v7/video-fusion/motion-control"
    assert sent.headers["Content-Type"].startswith("application/json")
    assert sent.json == {
        "key": KEY,
        "model_id": MODEL,
        "prompt": "The character dances.",
        "init_image": "https://cdn.example/char.png",
        "init_video": "https://cdn.example/moves.mp4",
        "character_orientation": "image",
        "mode": "std",
    }


@pytest.mark.parametrize(("keep", "sent"), [(True, "yes"), (False, "no")])
async def test_submit_sends_optional_fields(
    client: ModelsLabClient, fake: FakeModelsLab, keep: bool, sent: str
) -> None:
    request = MotionControlRequest(
        image_url=REQUEST.image_url,
        video_url=REQUEST.video_url,
        orientation="video",
        mode="pro",
        prompt="p",
        keep_original_sound=keep,
        webhook="https://bot.example/hook",
        track_id="job-7",
    )
    await client.submit_motion_control(request)
    body = fake.submits()[0].json
    assert body["keep_original_sound"] == sent
    assert body["webhook"] == "https://bot.example/hook" and body["track_id"] == "job-7"
    assert body["character_orientation"] == "video" and body["mode"] == "pro"


async def test_base_url_trailing_slash_is_tolerated(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    client = make_client(base_url=fake.base_url + "/")
    job = await client.submit_motion_control(REQUEST)
    await client.fetch(job.job_id or "")
    await client.wallet_balance()
    assert [r.path for r in fake.requests] == [
        "/api/v7/video-fusion/motion-control",
        "/api/v7/video-fusion/fetch/155262350",
        "/api/wallet_balance",
    ]


async def test_every_call_carries_the_key_in_its_body(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    job = await client.submit_motion_control(REQUEST)
    await client.fetch(job.job_id or "")
    await client.wallet_balance()
    await client.processing_count()
    assert [r.kind for r in fake.requests] == ["submit", "fetch", "wallet", "request_count"]
    assert all(r.json["key"] == KEY for r in fake.requests)
    assert fake.fetches()[0].json == {"key": KEY}


async def test_post_task_serves_the_whole_family(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    # The fake only implements motion-control; the point is the path and the envelope.
    err = await raises(InputError, client._post_task("text-to-video", {"prompt": "a cat"}))
    assert err.http_status == 404
    (sent,) = fake.submits()
    assert sent.path == "/api/v7/video-fusion/text-to-video"
    assert sent.json == {"key": KEY, "model_id": MODEL, "prompt": "a cat"}


def test_repr_never_shows_the_key(client: ModelsLabClient) -> None:
    assert KEY not in repr(client) and KEY not in str(client)
    assert "ModelsLabClient" in repr(client)


def test_empty_key_is_refused(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ValueError):
        ModelsLabClient(session, api_key="", base_url="http://127.0.0.1/api", model_id=MODEL)


# --- ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("id_style", ["int", "str", "fetch_result_only"])
async def test_job_id_is_normalised_to_str(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock, id_style: str
) -> None:
    fake.queue_next(FakeJobSpec(id_style=id_style))
    job = await client.submit_motion_control(REQUEST)
    assert job.job_id == "155262350"
    clock.advance(GENERATION)
    done = await client.fetch("155262350")
    assert done.state is ProviderState.SUCCESS and done.job_id == "155262350"


async def test_fetch_url_comes_from_base_not_fetch_result(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.public_base_url = "https://modelslab.com/api"  # fetch_result points elsewhere
    fake.queue_next(FakeJobSpec(id_style="fetch_result_only"))
    job = await client.submit_motion_control(REQUEST)
    assert job.job_id == "155262350"
    await client.fetch(job.job_id)
    assert fake.fetches()[0].path == "/api/v7/video-fusion/fetch/155262350"


async def test_submit_answer_without_any_id_is_outcome_unknown(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.queue_next(FakeJobSpec(id_style="none"))
    await raises(OutcomeUnknownError, client.submit_motion_control(REQUEST))
    assert len(fake.jobs) == 1  # the job exists at the provider: hence "unknown", not "failed"


async def test_fetch_without_id_in_body_keeps_the_requested_id(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.script_faults("fetch", [FakeResponse(200, {"status": "processing", "eta": "960"})])
    polled = await client.fetch("155262350")
    assert polled.state is ProviderState.PROCESSING
    assert polled.job_id == "155262350" and polled.eta_seconds == 960.0


# --- fetch: results -------------------------------------------------------------------------


async def test_processing_then_success_with_a_downloadable_clip(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    fake.set_clip(size=300_000)
    job = await client.submit_motion_control(REQUEST)
    assert job.job_id is not None
    still = await client.fetch(job.job_id)
    assert still.state is ProviderState.PROCESSING and still.output_url is None

    clock.advance(GENERATION)
    done = await client.fetch(job.job_id)
    assert done.state is ProviderState.SUCCESS and done.raw_status == "success"
    assert done.output_url == fake.clip_url(job.job_id)
    assert done.generation_time == GENERATION
    async with session.get(done.output_url) as resp:
        assert resp.status == 200 and resp.content_length == 300_000
        assert await resp.read() == fake.clip_bytes
    assert fake.processing_count() == 0


async def test_success_via_proxy_links_only(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    fake.queue_next(FakeJobSpec(url_field="proxy_links"))
    job = await client.submit_motion_control(REQUEST)
    clock.advance(GENERATION)
    done = await client.fetch(job.job_id or "")
    assert done.state is ProviderState.SUCCESS
    assert done.output_url == fake.proxy_url(job.job_id or "")


async def test_success_without_url_then_with_url(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    fake.queue_next(FakeJobSpec(outcome="success_no_url_then_url", no_url_fetches=2))
    job = await client.submit_motion_control(REQUEST)
    clock.advance(GENERATION)
    first, second, third = [await client.fetch(job.job_id or "") for _ in range(3)]
    assert first.state is second.state is ProviderState.SUCCESS
    assert first.output_url is None and second.output_url is None
    assert third.output_url == fake.clip_url(job.job_id or "")


async def test_success_that_never_carries_a_url(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    fake.queue_next(FakeJobSpec(outcome="success_never_url"))
    job = await client.submit_motion_control(REQUEST)
    clock.advance(GENERATION)
    for _ in range(3):
        done = await client.fetch(job.job_id or "")
        assert done.state is ProviderState.SUCCESS and done.output_url is None


async def test_submit_that_answers_success_at_once(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.queue_next(FakeJobSpec(outcome="instant_success"))
    job = await client.submit_motion_control(REQUEST)
    assert job.state is ProviderState.SUCCESS and job.output_url == fake.clip_url(job.job_id or "")


@pytest.mark.parametrize("status_word", ["queued", "pending", "", "Rendering", "PROCESSING"])
async def test_unfinished_or_unknown_status_is_processing(
    client: ModelsLabClient, fake: FakeModelsLab, status_word: str
) -> None:
    fake.queue_next(FakeJobSpec(status_word=status_word))
    job = await client.submit_motion_control(REQUEST)
    polled = await client.fetch(job.job_id or "")
    for result in (job, polled):
        assert result.state is ProviderState.PROCESSING
        assert result.raw_status == status_word.lower()


@pytest.mark.parametrize(
    ("outcome", "message_key", "http_status"),
    [
        ("failed", "message", 200),
        ("error", "message", 200),
        ("failed", "messege", 200),
        ("error", "messege", 400),
        ("failed", "message", 422),
    ],
)
async def test_failed_job_is_a_result_not_an_exception(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    clock: FakeClock,
    outcome: str,
    message_key: str,
    http_status: int,
) -> None:
    fake.queue_next(
        FakeJobSpec(
            outcome=outcome,
            failure_message="No person detected in the video",
            message_key=message_key,
            failure_http_status=http_status,
        )
    )
    job = await client.submit_motion_control(REQUEST)
    clock.advance(GENERATION)
    failed = await client.fetch(job.job_id or "")
    assert failed.state is ProviderState.FAILED and failed.raw_status == outcome
    assert failed.message == "No person detected in the video"
    assert failed.job_id == job.job_id and failed.output_url is None


async def test_failed_job_with_field_error_object(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    fake.queue_next(
        FakeJobSpec(outcome="failed", failure_message={"init_video": ["Video is too long."]})
    )
    job = await client.submit_motion_control(REQUEST)
    clock.advance(GENERATION)
    failed = await client.fetch(job.job_id or "")
    assert failed.state is ProviderState.FAILED
    assert dict(failed.field_errors) == {"init_video": ("Video is too long.",)}
    assert failed.message == "init_video: Video is too long."


async def test_fetch_of_unknown_job_is_failed(client: ModelsLabClient) -> None:
    result = await client.fetch("999")
    assert result.state is ProviderState.FAILED and result.message == "Request not found"


# --- submit: refusals by the fake's own rules -------------------------------------------------


async def test_invalid_key(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.api_key = "another-key"
    for call in (client.submit_motion_control(REQUEST), client.fetch("1"), client.wallet_balance()):
        err = await raises(OperatorError, call)
        assert err.reason == "invalid_key" and err.http_status == 401


async def test_no_credits(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.credits_exhausted = True
    err = await raises(OperatorError, client.submit_motion_control(REQUEST))
    assert err.reason == "no_credits" and err.http_status == 402


async def test_premium_required(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.premium_required = True
    err = await raises(OperatorError, client.submit_motion_control(REQUEST))
    assert err.reason == "forbidden" and err.http_status == 403


async def test_missing_prompt_gives_field_errors(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    request = MotionControlRequest(REQUEST.image_url, REQUEST.video_url, "image", "std", "")
    err = await raises(InputError, client.submit_motion_control(request))
    assert err.http_status == 400
    assert dict(err.field_errors) == {"prompt": ("The prompt field is required.",)}
    assert err.message == "prompt: The prompt field is required."
    assert fake.jobs == {}


async def test_queue_limit_is_rate_limited_with_retry_after(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    fake.queue_limit = 2
    await client.submit_motion_control(REQUEST)
    clock.advance(10)
    await client.submit_motion_control(REQUEST)
    err = await raises(RateLimitedError, client.submit_motion_control(REQUEST))
    assert err.http_status == 429 and err.retry_after == pytest.approx(20.0)
    assert "Maximum 2 queued requests" in err.message
    assert fake.max_concurrent_seen == 2
    assert await client.processing_count() == 2

    clock.advance(20)  # the first job finished: a slot is free
    await client.submit_motion_control(REQUEST)
    assert await client.processing_count() == 2 and len(fake.jobs) == 3


@pytest.mark.parametrize(
    ("http_status", "message_key", "message"),
    [
        (400, "message", "Unable to fetch image from provided URL"),
        (200, "message", "Unable to fetch image from provided URL"),
        (200, "messege", "prompt is required"),
        (422, "message", "The video must be between 3 and 30 seconds."),
    ],
)
async def test_submit_refusals_are_input_errors(
    client: ModelsLabClient, fake: FakeModelsLab, http_status: int, message_key: str, message: str
) -> None:
    fake.queue_next(
        FakeJobSpec(
            outcome="submit_error",
            failure_http_status=http_status,
            message_key=message_key,
            failure_message=message,
        )
    )
    err = await raises(InputError, client.submit_motion_control(REQUEST))
    assert err.message == message and err.http_status == http_status
    assert fake.jobs == {}


async def test_submit_field_errors_with_http_200(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.queue_next(
        FakeJobSpec(
            outcome="submit_error",
            failure_message={"init_image": ["The init image must be a valid URL.", "Too small."]},
        )
    )
    err = await raises(InputError, client.submit_motion_control(REQUEST))
    assert dict(err.field_errors) == {
        "init_image": ("The init image must be a valid URL.", "Too small.")
    }
    assert "init_image" in err.message and "Too small." in err.message


async def test_input_400_fault(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.script_faults("submit", ["input_400"])
    err = await raises(InputError, client.submit_motion_control(REQUEST))
    assert err.message == "Unable to fetch image from provided URL"


# --- failure envelopes: the message decides, then the HTTP code --------------------------------

MESSAGE_CASES = [
    ("Invalid API key", OperatorError, "invalid_key"),
    ("Insufficient credits. Please add more credits to continue.", OperatorError, "no_credits"),
    ("This feature requires a premium subscription", OperatorError, "forbidden"),
    ("Rate limit exceeded. Maximum 5 queued requests allowed.", RateLimitedError, None),
    ("Service temporarily unavailable. Please try again later.", TransientError, None),
    ("Internal Server Error", TransientError, None),
]


@pytest.mark.parametrize("kind", ["submit", "fetch"])
@pytest.mark.parametrize(("message", "expected", "reason"), MESSAGE_CASES)
@pytest.mark.parametrize("status_word", ["error", "failed"])
async def test_failure_message_decides_even_with_http_200(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    kind: str,
    message: str,
    expected: type[ModelsLabError],
    reason: str | None,
    status_word: str,
) -> None:
    body = {"status": status_word, "message": message, "retry_after": "7"}
    fake.script_faults(kind, [FakeResponse(200, body)])
    call = client.submit_motion_control(REQUEST) if kind == "submit" else client.fetch("1")
    err = await raises(expected, call)
    assert err.http_status == 200 and err.message == message
    if reason is not None:
        assert err.reason == reason
    if isinstance(err, TransientError):
        assert err.retry_after == 7.0


HTTP_CASES = [
    (401, OperatorError, "invalid_key"),
    (402, OperatorError, "no_credits"),
    (403, OperatorError, "forbidden"),
    (429, RateLimitedError, None),
    (500, TransientError, None),
    (502, TransientError, None),
    (503, TransientError, None),
    (504, TransientError, None),
]


@pytest.mark.parametrize("kind", ["submit", "fetch"])
@pytest.mark.parametrize(("http_status", "expected", "reason"), HTTP_CASES)
async def test_http_code_decides_when_message_says_nothing(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    kind: str,
    http_status: int,
    expected: type[ModelsLabError],
    reason: str | None,
) -> None:
    body = {"status": "error", "message": "Something went wrong"}
    fake.script_faults(kind, [FakeResponse(http_status, body)])
    call = client.submit_motion_control(REQUEST) if kind == "submit" else client.fetch("1")
    err = await raises(expected, call)
    assert err.http_status == http_status
    if reason is not None:
        assert err.reason == reason


@pytest.mark.parametrize("code", ["401", "402", "403", "429:4", "500", "502", "503", "504"])
@pytest.mark.parametrize("kind", ["submit", "fetch"])
async def test_documented_error_envelopes(
    client: ModelsLabClient, fake: FakeModelsLab, code: str, kind: str
) -> None:
    fake.script_faults(kind, [code])
    call = client.submit_motion_control(REQUEST) if kind == "submit" else client.fetch("1")
    expected, reason = {
        "401": (OperatorError, "invalid_key"),
        "402": (OperatorError, "no_credits"),
        "403": (OperatorError, "forbidden"),
        "429:4": (RateLimitedError, None),
    }.get(code, (TransientError, None))
    err = await raises(expected, call)
    assert err.http_status == int(code[:3])
    if reason:
        assert err.reason == reason
    if code == "429:4":
        assert err.retry_after == 4.0


@pytest.mark.parametrize("kind", ["submit", "fetch"])
@pytest.mark.parametrize("http_status", [500, 503, 520])
async def test_missing_status_with_5xx_is_transient(
    client: ModelsLabClient, fake: FakeModelsLab, kind: str, http_status: int
) -> None:
    fake.script_faults(kind, [FakeResponse(http_status, {"id": 5, "eta": 3})])
    call = client.submit_motion_control(REQUEST) if kind == "submit" else client.fetch("5")
    err = await raises(TransientError, call)
    assert err.http_status == http_status


async def test_missing_status_with_4xx(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.script_faults("submit", [FakeResponse(404, {"message": "Not found"})])
    fake.script_faults("fetch", [FakeResponse(404, {"message": "Not found"})])
    await raises(InputError, client.submit_motion_control(REQUEST))
    await raises(TransientError, client.fetch("5"))


async def test_retry_after_from_header_and_body(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    header_only = FakeResponse(
        429, {"status": "error", "message": "Too many requests"}, {"Retry-After": "3"}
    )
    both = FakeResponse(
        429, {"status": "error", "message": "x", "retry_after": 9}, {"Retry-After": "3"}
    )
    neither = FakeResponse(429, {"status": "error", "message": "x"})
    unavailable = FakeResponse(503, {"status": "error", "message": "x"}, {"Retry-After": "12"})
    fake.script_faults("submit", [header_only, both, neither, unavailable])
    results = [
        await raises(RateLimitedError, client.submit_motion_control(REQUEST)) for _ in range(3)
    ]
    assert [e.retry_after for e in results] == [3.0, 9.0, None]
    err = await raises(TransientError, client.submit_motion_control(REQUEST))
    assert err.retry_after == 12.0


async def test_retry_after_as_http_date(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.script_faults(
        "fetch", [FakeResponse(429, "slow down", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})]
    )
    err = await raises(RateLimitedError, client.fetch("1"))
    assert err.retry_after == 0.0  # a date in the past: retry now


# --- bodies that are not usable JSON ----------------------------------------------------------

NON_JSON_SUBMIT = [
    ("html_502", TransientError, 502),
    ("non_json", OutcomeUnknownError, 200),
    ("truncated", OutcomeUnknownError, 200),
    ("empty", OutcomeUnknownError, 200),
    ("429_header:5", RateLimitedError, 429),
    (FakeResponse(200, [1, 2]), OutcomeUnknownError, 200),
    (FakeResponse(500, "oops"), TransientError, 500),
    (FakeResponse(503, "<html>down</html>"), TransientError, 503),
    (FakeResponse(401, "Unauthorized"), OperatorError, 401),
    (FakeResponse(402, "Payment Required"), OperatorError, 402),
    (FakeResponse(403, "<html>Forbidden</html>"), OperatorError, 403),
    (FakeResponse(400, "Bad Request"), InputError, 400),
    (FakeResponse(413, "<html>Too Large</html>"), InputError, 413),
]


@pytest.mark.parametrize(("fault", "expected", "http_status"), NON_JSON_SUBMIT)
async def test_submit_with_unusable_body(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    fault: str | FakeResponse,
    expected: type[ModelsLabError],
    http_status: int,
) -> None:
    fake.script_faults("submit", [fault])
    err = await raises(expected, client.submit_motion_control(REQUEST))
    assert err.http_status == http_status
    if fault == "429_header:5":
        assert err.retry_after == 5.0


NON_JSON_FETCH = [
    ("html_502", TransientError, 502),
    ("non_json", TransientError, 200),
    ("truncated", TransientError, 200),
    ("empty", TransientError, 200),
    ("429_header:2", RateLimitedError, 429),
    (FakeResponse(404, "Not Found"), TransientError, 404),
    (FakeResponse(400, "Bad Request"), TransientError, 400),
    (FakeResponse(401, "Unauthorized"), OperatorError, 401),
]


@pytest.mark.parametrize(("fault", "expected", "http_status"), NON_JSON_FETCH)
async def test_fetch_with_unusable_body(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    fault: str | FakeResponse,
    expected: type[ModelsLabError],
    http_status: int,
) -> None:
    fake.script_faults("fetch", [fault])
    err = await raises(expected, client.fetch("1"))
    assert err.http_status == http_status


async def test_oversized_body_is_not_read(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    huge = {"status": "processing", "id": 1, "tip": "x" * (2 * 1024 * 1024)}
    fake.script_faults("submit", [FakeResponse(200, huge)])
    fake.script_faults("fetch", [FakeResponse(200, huge)])
    await raises(OutcomeUnknownError, client.submit_motion_control(REQUEST))
    await raises(TransientError, client.fetch("1"))


# --- transport faults -----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["disconnect", "short_body"])
async def test_transport_faults(client: ModelsLabClient, fake: FakeModelsLab, fault: str) -> None:
    for kind in ("submit", "fetch", "wallet", "request_count"):
        fake.script_faults(kind, [fault])
    err = await raises(OutcomeUnknownError, client.submit_motion_control(REQUEST))
    assert err.http_status is None
    await raises(TransientError, client.fetch("1"))
    await raises(TransientError, client.wallet_balance())
    await raises(TransientError, client.processing_count())
    assert [r.status for r in fake.requests] == [None] * 4


async def test_slow_submit_times_out_as_outcome_unknown_and_the_job_still_lands(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    client = make_client(submit_timeout=0.05)
    fake.script_faults("submit", ["slow:0.2"])
    await raises(OutcomeUnknownError, client.submit_motion_control(REQUEST))
    # The server carried on: exactly why a timed-out submit must not be resent blindly.
    for _ in range(50):
        if fake.jobs:
            break
        await asyncio.sleep(0.01)
    assert len(fake.jobs) == 1


async def test_slow_fetch_and_helpers_time_out_as_transient(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    client = make_client(request_timeout=0.05)
    fake.script_faults("fetch", ["slow:0.2"])
    fake.script_faults("wallet", ["slow:0.2"])
    await raises(TransientError, client.fetch("1"))
    await raises(TransientError, client.wallet_balance())


async def test_a_long_submit_within_the_read_timeout_succeeds(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    # The submit timeout, not the (shorter) request timeout, bounds a submit.
    client = make_client(request_timeout=0.05, submit_timeout=1.0)
    fake.script_faults("submit", ["slow:0.1"])
    job = await client.submit_motion_control(REQUEST)
    assert job.state is ProviderState.PROCESSING


async def test_connection_refused_is_transient_everywhere(
    make_client: Callable[..., ModelsLabClient],
) -> None:
    client = make_client(base_url=f"http://127.0.0.1:{closed_port()}/api")
    err = await raises(TransientError, client.submit_motion_control(REQUEST))
    assert err.http_status is None
    await raises(TransientError, client.fetch("1"))
    await raises(TransientError, client.wallet_balance())
    await raises(TransientError, client.processing_count())


@pytest.mark.skipif(
    sys.platform != "linux", reason="relies on Linux dropping SYNs to a full backlog"
)
async def test_connect_timeout_is_transient_even_for_submit(
    make_client: Callable[..., ModelsLabClient],
) -> None:
    # A listener that never accepts, with its backlog already full: connecting hangs. Nothing was
    # sent, so even a submit is safe to retry.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            client = make_client(base_url=f"http://127.0.0.1:{port}/api", request_timeout=0.1)
            err = await raises(TransientError, client.submit_motion_control(REQUEST))
            assert isinstance(err.__cause__, aiohttp.ConnectionTimeoutError)
        finally:
            for filler in fillers:
                filler.close()


# --- the key never leaks ----------------------------------------------------------------------


async def test_provider_text_echoing_the_key_is_redacted(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.script_faults(
        "submit", [FakeResponse(401, {"status": "error", "message": f"Invalid API key {KEY}"})]
    )
    fake.script_faults(
        "fetch",
        [FakeResponse(200, {"status": "failed", "messege": {"key": [f"{KEY} is not allowed"]}})],
    )
    err = await raises(OperatorError, client.submit_motion_control(REQUEST))
    assert "[redacted]" in err.message
    # A refused "key" field is the operator's problem, whatever the envelope says.
    err = await raises(OperatorError, client.fetch("1"))
    assert err.reason == "invalid_key"
    fake.script_faults(
        "fetch", [FakeResponse(200, {"status": "failed", "message": f"bad {KEY} bad"})]
    )
    failed = await client.fetch("1")
    assert failed.state is ProviderState.FAILED and failed.message == "bad [redacted] bad"


# --- helpers --------------------------------------------------------------------------------


async def test_wallet_balance(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    assert await client.wallet_balance() == WalletBalance(balance=43.6, currency="USD")
    fake.script_faults(
        "wallet",
        [FakeResponse(200, {"status": "success", "data": {"balance": "12.50", "currency": "EUR"}})],
    )
    assert await client.wallet_balance() == WalletBalance(balance=12.5, currency="EUR")


async def test_wallet_balance_failures(client: ModelsLabClient, fake: FakeModelsLab) -> None:
    fake.script_faults(
        "wallet",
        [
            "html_502",
            FakeResponse(200, {"status": "success", "data": {}}),
            FakeResponse(200, {"status": "error", "message": "Insufficient credits"}),
        ],
    )
    await raises(TransientError, client.wallet_balance())
    await raises(TransientError, client.wallet_balance())
    err = await raises(OperatorError, client.wallet_balance())
    assert err.reason == "no_credits"


async def test_processing_count(
    client: ModelsLabClient, fake: FakeModelsLab, clock: FakeClock
) -> None:
    assert await client.processing_count() == 0
    await client.submit_motion_control(REQUEST)
    await client.submit_motion_control(REQUEST)
    assert await client.processing_count() == 2
    clock.advance(GENERATION)
    assert await client.processing_count() == 0
    fake.script_faults(
        "request_count",
        [FakeResponse(200, {"status": "success", "processing_count": "3"}), "non_json", "401"],
    )
    assert await client.processing_count() == 3
    await raises(TransientError, client.processing_count())
    await raises(OperatorError, client.processing_count())


# --- image upload (base64_to_url) -------------------------------------------------------------


def png_bytes(width: int = 320, height: int = 320) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_upload_image_returns_a_url_serving_the_bytes(
    client: ModelsLabClient, fake: FakeModelsLab, session: aiohttp.ClientSession
) -> None:
    data = png_bytes()
    url = await client.upload_image(data)

    [sent] = fake.requests_of("upload")
    assert sent.path == "/api/v6/base64_to_url" and sent.status == 200
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json["key"] == KEY
    prefix = "data:image/png;base64,"
    assert sent.json["base64_string"].startswith(prefix)
    assert base64.b64decode(sent.json["base64_string"][len(prefix) :]) == data
    async with session.get(url) as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
        assert await resp.read() == data


async def test_upload_image_sends_the_given_mime_type(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    url = await client.upload_image(b"\xff\xd8\xff fake jpeg", mime_type="image/jpeg")
    assert url.endswith(".jpg")
    assert fake.requests_of("upload")[0].json["base64_string"].startswith("data:image/jpeg;base64,")


async def test_upload_image_at_the_limit_is_sent(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    url = await client.upload_image(bytes(UPLOAD_MAX_BYTES))
    assert url.startswith(fake.origin)
    assert [len(data) for _, data in fake.uploads.values()] == [UPLOAD_MAX_BYTES]


async def test_oversized_upload_is_refused_without_a_request(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    err = await raises(InputError, client.upload_image(bytes(UPLOAD_MAX_BYTES + 1)))
    assert "5.1 MB" in err.message and "the limit is 5 MB" in err.message
    assert err.http_status is None
    assert fake.requests == []


async def test_upload_with_a_bad_key_is_an_operator_error(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    client = make_client(api_key="sk-wrong")
    err = await raises(OperatorError, client.upload_image(png_bytes()))
    assert (err.reason, err.http_status) == ("invalid_key", 401)
    assert fake.uploads == {}


@pytest.mark.parametrize(
    ("fault", "expected", "reason"),
    [
        ("402", OperatorError, "no_credits"),
        ("403", OperatorError, "forbidden"),
        (FakeResponse(401, "Unauthorized"), OperatorError, "invalid_key"),
        ("500", TransientError, None),
        ("503", TransientError, None),
        ("html_502", TransientError, None),
        ("429:3", RateLimitedError, None),
        ("non_json", TransientError, None),
        ("disconnect", TransientError, None),
        ("short_body", TransientError, None),
        (FakeResponse(200, {"status": "success", "output": []}), TransientError, None),
    ],
)
async def test_upload_failures_are_classified(
    client: ModelsLabClient,
    fake: FakeModelsLab,
    fault: str | FakeResponse,
    expected: type[ModelsLabError],
    reason: str | None,
) -> None:
    fake.script_faults("upload", [fault])
    err = await raises(expected, client.upload_image(png_bytes()))
    if reason is not None:
        assert err.reason == reason
    # Safe to repeat: the next call goes through.
    assert (await client.upload_image(png_bytes())).startswith(fake.origin)


@pytest.mark.parametrize(
    "fault",
    [
        FakeResponse(200, {"status": "error", "message": "Invalid base64 string"}),
        FakeResponse(400, {"status": "error", "message": "Invalid base64 string"}),
        FakeResponse(400, {"message": "Invalid base64 string"}),
    ],
)
async def test_upload_refused_with_a_status_error_is_an_input_error(
    client: ModelsLabClient, fake: FakeModelsLab, fault: FakeResponse
) -> None:
    fake.script_faults("upload", [fault])
    err = await raises(InputError, client.upload_image(png_bytes()))
    assert err.message == "Invalid base64 string"


async def test_upload_timeout_is_transient(
    make_client: Callable[..., ModelsLabClient], fake: FakeModelsLab
) -> None:
    client = make_client(request_timeout=0.05)
    fake.script_faults("upload", ["slow:0.2"])
    await raises(TransientError, client.upload_image(png_bytes()))


async def test_upload_errors_never_carry_the_key(
    client: ModelsLabClient, fake: FakeModelsLab
) -> None:
    fake.script_faults(
        "upload",
        [
            FakeResponse(400, {"status": "error", "message": f"cannot decode data for {KEY}"}),
            FakeResponse(401, {"status": "error", "message": f"Invalid API key {KEY}"}),
            FakeResponse(500, {"status": "error", "messege": {"key": [KEY]}}),
        ],
    )
    err = await raises(InputError, client.upload_image(png_bytes()))
    assert err.message == "cannot decode data for [redacted]"
    err = await raises(OperatorError, client.upload_image(png_bytes()))
    assert "[redacted]" in err.message
    err = await raises(OperatorError, client.upload_image(png_bytes()))
    assert err.reason == "invalid_key"


# --- the fake itself --------------------------------------------------------------------------


async def test_fake_rejects_unknown_fault_and_spec_names(fake: FakeModelsLab) -> None:
    with pytest.raises(ValueError):
        fake.script_faults("submit", ["slowly"])
    with pytest.raises(ValueError):
        fake.script_faults("nowhere", ["500"])
    with pytest.raises(ValueError):
        FakeJobSpec(outcome="exploded")


async def test_fake_serves_large_clips_with_content_length(
    fake: FakeModelsLab, session: aiohttp.ClientSession, client: ModelsLabClient, clock: FakeClock
) -> None:
    fake.set_clip(size=5 * 1024 * 1024 + 7)
    job = await client.submit_motion_control(REQUEST)
    url = fake.clip_url(job.job_id or "")
    async with session.get(url) as early:
        assert early.status == 404  # not generated yet
    clock.advance(GENERATION)
    async with session.get(url) as resp:
        assert resp.content_length == 5 * 1024 * 1024 + 7
        total = 0
        async for chunk in resp.content.iter_chunked(1 << 20):
            total += len(chunk)
    assert total == 5 * 1024 * 1024 + 7
    assert fake.requests_of("media")[-1].status == 200


async def test_fake_upload_endpoint_validates_its_input(
    fake: FakeModelsLab, session: aiohttp.ClientSession
) -> None:
    url = f"{fake.base_url}/v6/base64_to_url"
    too_big = base64.b64encode(bytes(UPLOAD_MAX_BYTES + 1)).decode()
    cases = [
        ({"key": "wrong", "base64_string": "data:image/png;base64,AAAA"}, 401),
        ({"key": KEY, "base64_string": "AAAA"}, 400),
        ({"key": KEY, "base64_string": "data:image/png;base64,not*base64"}, 400),
        ({"key": KEY, "base64_string": "data:image/png;base64,"}, 400),
        ({"key": KEY, "base64_string": f"data:image/png;base64,{too_big}"}, 400),
    ]
    for body, expected in cases:
        # Streamed from a buffer: aiohttp warns about large bodies sent as plain bytes.
        payload = aiohttp.BytesIOPayload(io.BytesIO(json.dumps(body).encode()))
        async with session.post(url, data=payload) as resp:
            assert resp.status == expected
            assert (await resp.json())["status"] == "error"
    assert fake.uploads == {}
    assert [r.kind for r in fake.requests] == ["upload"] * len(cases)
    async with session.get(fake.upload_url("1.png")) as resp:
        assert resp.status == 404
