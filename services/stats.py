"""Usage statistics for a server or the whole bot, and a small chart of the last two weeks.

The chart is drawn with Pillow, which is CPU work: call `render_daily_chart` through
`asyncio.to_thread` from async code.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from PIL import Image, ImageDraw, ImageFont

from db.connection import Database
from db.stats import SECONDS_PER_DAY, StatsRepository
from services.quota import DAY, MONTH

CHART_DAYS = 14

# Discord's dark theme, so the image sits well in an embed.
_BACKGROUND = (43, 45, 49)
_BAR = (88, 101, 242)
_TEXT = (219, 222, 225)
_GRID = (70, 73, 80)


@dataclass(frozen=True)
class Stats:
    """Figures for one scope. guild_id None: every server and DMs together."""

    guild_id: int | None
    by_state: dict[str, int]  # jobs requested in the last 30 days, by state
    seconds_today: float  # generated (charged) in the last 24 hours
    seconds_month: float  # generated (charged) in the last 30 days
    failures: dict[str, int]  # failure code -> count, last 30 days, most frequent first
    median_turnaround: float | None  # seconds from request to clip, last 30 days
    daily: list[tuple[date, float]]  # the last CHART_DAYS UTC days, oldest first, zeros kept
    top_motions: list[tuple[str, int]] = field(default_factory=list)  # library motions, 30 days

    @property
    def total_jobs(self) -> int:
        return sum(self.by_state.values())

    @property
    def has_chart_data(self) -> bool:
        return any(seconds > 0 for _, seconds in self.daily)


@dataclass(frozen=True)
class QueueState:
    """The job queue right now, bot-wide."""

    by_state: dict[str, int]  # unfinished jobs by state
    oldest_queued_at: float | None


class StatsService:
    """Collects figures from the jobs table (read-only)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._stats = StatsRepository(db)
        self._clock = clock

    async def collect(self, guild_id: int | None = None) -> Stats:
        """Figures for one server, or for everything when guild_id is None."""
        now = self._clock()
        month_ago = now - MONTH
        return Stats(
            guild_id=guild_id,
            by_state=await self._stats.jobs_by_state(month_ago, guild_id),
            seconds_today=await self._stats.seconds_generated(now - DAY, guild_id),
            seconds_month=await self._stats.seconds_generated(month_ago, guild_id),
            failures=await self._stats.failures_by_code(month_ago, guild_id),
            median_turnaround=await self._stats.median_turnaround(month_ago, guild_id),
            daily=await self._daily(now, guild_id),
            top_motions=await self._stats.top_motions(month_ago, guild_id),
        )

    async def _daily(self, now: float, guild_id: int | None) -> list[tuple[date, float]]:
        today = int(now // SECONDS_PER_DAY)
        first = today - CHART_DAYS + 1
        found = dict(await self._stats.seconds_by_day(first * SECONDS_PER_DAY, guild_id))
        epoch = datetime(1970, 1, 1, tzinfo=UTC).date()
        return [
            (epoch + timedelta(days=day), found.get(day, 0.0)) for day in range(first, today + 1)
        ]

    async def queue_state(self) -> QueueState:
        """Unfinished jobs by state and the longest wait, for the operator."""
        return QueueState(
            by_state=await self._stats.active_counts(),
            oldest_queued_at=await self._stats.oldest_queued_at(),
        )


def render_daily_chart(daily: list[tuple[date, float]], title: str) -> bytes:
    """A bar chart of seconds generated per day, as PNG bytes. Blocking: run it in a thread."""
    width, height = 640, 280
    left, right, top, bottom = 48, 16, 40, 36
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    small = ImageFont.load_default(size=12)
    draw.text((left, 10), title, fill=_TEXT, font=font)

    peak = max((seconds for _, seconds in daily), default=0.0) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom
    base_y = top + plot_h
    draw.line((left, base_y, width - right, base_y), fill=_GRID)
    draw.line((left, top, width - right, top), fill=_GRID)
    draw.text((4, top - 7), _short(peak), fill=_TEXT, font=small)
    draw.text((4, base_y - 7), "0", fill=_TEXT, font=small)

    slot = plot_w / max(len(daily), 1)
    for i, (day, seconds) in enumerate(daily):
        x0 = left + i * slot + slot * 0.15
        x1 = left + (i + 1) * slot - slot * 0.15
        bar_h = plot_h * seconds / peak
        if bar_h > 0:
            draw.rectangle((x0, base_y - max(bar_h, 1), x1, base_y), fill=_BAR)
        draw.text((x0, base_y + 6), f"{day.day:02d}", fill=_TEXT, font=small)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _short(seconds: float) -> str:
    return f"{seconds / 1000:.1f}k s" if seconds >= 10_000 else f"{seconds:g} s"
