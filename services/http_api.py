"""The operator's HTTP endpoint (off unless HTTP_PORT is set), with aiohttp.web:

- `GET /healthz`: 200 and a small JSON document when every check passes (the Discord gateway is
  connected, the database answers, the runner's loop is alive), else 503 naming what failed.
- `GET /metrics`: Prometheus' text format (services/metrics.py).
- `POST /modelslab/webhook/<secret>`: ModelsLab's webhook (services/webhooks.py); 404 for a
  secret no job has.

It knows nothing of Discord: the checks are callables handed in by the composition root. There is
no access log: webhook paths carry secrets.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from db.connection import Database
from services.metrics import CONTENT_TYPE
from services.webhooks import WebhookIntake, WebhookResult

log = logging.getLogger(__name__)

Check = Callable[[], bool | Awaitable[bool]]

# A check that takes longer than this has failed.
CHECK_TIMEOUT_SECONDS = 2.0
# Webhook bodies are small JSON envelopes.
MAX_WEBHOOK_BYTES = 64 * 1024


async def database_answers(db: Database) -> bool:
    """The database runs a trivial query."""
    return await db.fetchval("SELECT 1") == 1


class HttpApi:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        checks: Mapping[str, Check],
        metrics: Callable[[], Awaitable[bytes]],
        webhooks: WebhookIntake | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._checks = dict(checks)
        self._metrics = metrics
        self._webhooks = webhooks
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port once started (useful with port 0)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_WEBHOOK_BYTES)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._render_metrics)
        app.router.add_post("/modelslab/webhook/{secret}", self._webhook)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("HTTP endpoint listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers -------------------------------------------------------------------------------
    async def _healthz(self, request: web.Request) -> web.Response:
        results = {name: await _passes(check) for name, check in self._checks.items()}
        failing = [name for name, ok in results.items() if not ok]
        body: dict[str, object] = {"status": "unhealthy" if failing else "ok", "checks": results}
        if failing:
            body["failing"] = failing
        return web.json_response(body, status=503 if failing else 200)

    async def _render_metrics(self, request: web.Request) -> web.Response:
        data = await self._metrics()
        response = web.Response(body=data)
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def _webhook(self, request: web.Request) -> web.Response:
        if self._webhooks is None:
            return web.json_response({"status": "unknown"}, status=404)
        try:
            body = json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        result = await self._webhooks.receive(request.match_info["secret"], body)
        status = 404 if result is WebhookResult.UNKNOWN else 200
        return web.json_response({"status": result.value}, status=status)


async def _passes(check: Check) -> bool:
    try:
        value = check()
        if inspect.isawaitable(value):
            value = await asyncio.wait_for(value, timeout=CHECK_TIMEOUT_SECONDS)
        return bool(value)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - any trouble means the check failed
        return False
