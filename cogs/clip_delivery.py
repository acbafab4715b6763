"""Delivering a finished clip, and telling a member their job failed, along the routes in order:
the job's channel, the interaction's follow-up while its token is valid, then the member's DMs.
On each route the clip goes as a file if it fits the upload limit, else a smaller re-encode,
else the provider's link with its expiry. A route that refuses (forbidden, unknown channel,
closed DMs) moves on to the next; server errors raise so the runner retries later (the message
nonce keeps a retry from posting twice)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import discord

from cogs.buttons import job_view
from cogs.clip_fit import ClipFitter
from cogs.routes import Route, RouteClosed, Routes, TooLarge, describe, message_kwargs
from cogs.side_by_side import SideBySideButton
from cogs.status import clip_text, failure_text, link_expiry
from cogs.status_board import STATUS_TROUBLE
from domain import DeliveryRoute, Job, JobState
from services.notifier import Clip, DeliveryReceipt

log = logging.getLogger(__name__)

Posted = tuple[DeliveryReceipt, Any]


class ClipDelivery:
    def __init__(self, routes: Routes, *, clock: Callable[[], float] = time.time) -> None:
        self._routes = routes
        self._clock = clock

    async def deliver(self, job: Job, clip: Clip) -> Posted:
        """Post the clip on the first route that takes it: the receipt and the message."""
        async with ClipFitter(job.id, clip.path) as fitter:
            for route in self._routes.for_delivery(job, clip.size_bytes):
                try:
                    posted = await self._via(route, job, clip, fitter)
                except RouteClosed:
                    continue
                if posted is not None:
                    return posted
        log.warning("job %d: no route could deliver the clip", job.id)
        return DeliveryReceipt(DeliveryRoute.UNDELIVERED, None, delivered=False), None

    async def _via(self, route: Route, job: Job, clip: Clip, fitter: ClipFitter) -> Posted | None:
        """File if it fits, else a smaller re-encode, else the link. None: nothing to send."""
        if clip.path is not None and clip.size_bytes is not None:
            if clip.size_bytes <= route.upload_limit:
                posted = await self._send_clip(route, job, clip, clip.path, "file")
                if posted is not None:
                    return posted
            smaller = await fitter.smaller_copy(route.upload_limit)
            if smaller is not None:
                posted = await self._send_clip(route, job, clip, smaller, "reencoded")
                if posted is not None:
                    return posted
        if clip.url:
            return await self._send_clip(route, job, clip, None, "link")
        return None

    async def _send_clip(
        self, route: Route, job: Job, clip: Clip, path: Path | None, form: str
    ) -> Posted | None:
        """Post one form of the clip. None when Discord says the file is too large."""
        content = clip_text(job, form, clip.url, link_expiry(job, self._clock()))
        kwargs = message_kwargs(content=content, view=view_after(job), mention=job.user_id)
        kwargs["nonce"] = f"job-{job.id}"
        method = DeliveryRoute.of(route.prefix, form)
        if path is None:
            message = await self._routes.send(job, route, kwargs)
            return DeliveryReceipt(method, message.id), message
        file = discord.File(path, filename=f"animation-{job.id}.mp4")
        try:
            message = await self._routes.send(job, route, {**kwargs, "file": file})
        except TooLarge:
            log.info("job %d: %s upload too large for %s", job.id, form, route.name)
            return None
        finally:
            file.close()
        return DeliveryReceipt(method, message.id), message

    async def tell_failure(self, job: Job, text_reason: str, charged: bool) -> bool:
        """Tell the member their job ended without a clip; True if a route took it."""
        kwargs = message_kwargs(
            content=failure_text(job, text_reason, charged), view=job_view(job), mention=job.user_id
        )
        for route in self._routes.for_delivery(job):
            try:
                await self._routes.send(job, route, {**kwargs, "nonce": f"fail-{job.id}"})
            except RouteClosed:
                continue
            except STATUS_TROUBLE as exc:
                log.warning("job %d: failure notice not sent (%s)", job.id, describe(exc))
                continue
            return True
        return False


def view_after(job: Job) -> discord.ui.View | None:
    """Buttons for the message that ends a job (Retry, other mode). The job passed in is still
    `delivering`, so build the view of its finished self. A clip the bot keeps a copy of also
    gets "Side by side" (cogs/side_by_side.py)."""
    view = job_view(replace(job, state=JobState.SUCCEEDED))
    if view is not None and job.result_path:
        view.add_item(SideBySideButton(job.id))
    return view
