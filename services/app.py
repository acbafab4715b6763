"""Builds the engine's services from their parts, so bot.py and the tests wire them the same way."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from db.connection import Database
from db.jobs import JobsRepository
from services.alerts import AlertSender, AlertService
from services.controls import ControlService
from services.downloads import HostAllowlist
from services.jobs import JobService
from services.links import LinkRefresher
from services.metrics import Metrics
from services.modelslab import ModelsLabClient
from services.motions import MotionService
from services.notifier import Notifier
from services.quota import QuotaService
from services.runner import Runner
from services.side_by_side_service import ReferenceFetcher, SideBySideService
from services.stats import StatsService
from services.webhooks import WebhookIntake
from settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    session: aiohttp.ClientSession
    client: ModelsLabClient
    allowlist: HostAllowlist
    quota: QuotaService
    runner: Runner
    jobs: JobService
    alerts: AlertService
    controls: ControlService
    stats: StatsService
    motions: MotionService
    side_by_side: SideBySideService
    metrics: Metrics
    webhooks: WebhookIntake


def build_services(
    *,
    settings: Settings,
    db: Database,
    session: aiohttp.ClientSession,
    notifier: Notifier,
    alert_sender: AlertSender | None = None,
    link_refresher: LinkRefresher | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Wire the client, quota, runner and job service around one database and session."""
    client = ModelsLabClient(
        session,
        api_key=settings.modelslab_api_key.reveal(),
        base_url=settings.modelslab_base_url,
        model_id=settings.modelslab_model_id,
        request_timeout=settings.request_timeout_seconds,
        submit_timeout=settings.submit_timeout_seconds,
    )
    allowlist = HostAllowlist.default(settings.media_host_allowlist)
    quota = QuotaService(db, settings, clock=clock)
    alerts = AlertService(db, settings, sender=alert_sender, clock=clock)
    metrics = Metrics(db, settings, clock=clock)
    runner = Runner(
        db=db,
        client=client,
        notifier=notifier,
        alerts=alerts,
        settings=settings,
        session=session,
        allowlist=allowlist,
        metrics=metrics,
        webhook_base=webhook_base(settings),
        clock=clock,
        link_refresher=link_refresher,
    )

    jobs = JobService(
        db=db,
        settings=settings,
        quota=quota,
        notifier=notifier,
        wake_runner=runner.wake,
        cancel_in_runner=runner.cancel,
        after_enqueue=alerts.announce_spending,
        clock=clock,
    )
    return Services(
        settings=settings,
        db=db,
        session=session,
        client=client,
        allowlist=allowlist,
        quota=quota,
        runner=runner,
        jobs=jobs,
        alerts=alerts,
        controls=ControlService(db, settings, clock=clock),
        stats=StatsService(db, clock=clock),
        motions=MotionService(db, link_refresher, clock=clock),
        side_by_side=SideBySideService(
            db,
            settings,
            fetcher=None
            if link_refresher is None
            else ReferenceFetcher(link_refresher, session, allowlist),
            clock=clock,
        ),
        metrics=metrics,
        webhooks=WebhookIntake(jobs=JobsRepository(db), runner=runner, metrics=metrics),
    )


def webhook_base(settings: Settings) -> str | None:
    """Where ModelsLab's webhooks should go, or None: both a public URL and the HTTP endpoint
    that receives them are needed."""
    if settings.public_base_url is None or settings.http_port is None:
        return None
    return settings.public_base_url
