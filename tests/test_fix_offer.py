"""One-tap fixes through /animate: the offer, a press that repairs and queues, a second or late
press, and requests that cannot be repaired."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cogs.fix_offer import FixButton, FixOfferView
from domain import JobState, Orientation
from services.quota import Requester
from tests.fakes.discord_fakes import Harness
from tests.media_factory import make_image, make_video

OWNER, STRANGER = 1, 2


def last_reply(h: Harness) -> str:
    [*_, last] = h.world.followups()
    assert last.ephemeral
    return last.content or ""


def the_offer(h: Harness) -> FixOfferView:
    [view] = h.cog.fix_offers.views.values()  # type: ignore[union-attr]
    return view


async def offer_for_a_long_video(h: Harness, tmp_path: Path) -> FixOfferView:
    image = h.upload(make_image(tmp_path / "hero.png"))
    video = h.upload(make_video(tmp_path / "long.mp4", seconds=12, fps=2))
    await h.animate(h.interaction(OWNER), image, video)  # orientation image: at most 10 s
    return the_offer(h)


async def test_a_repairable_request_gets_an_offer_and_nothing_is_charged(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    view = await offer_for_a_long_video(h, tmp_path)
    [offer] = [s for s in h.world.followups() if s.custom_ids]
    text = offer.content or ""
    assert offer.ephemeral and "the video is longer than allowed (12.0 s)" in text
    assert "**Use the first 10 s**" in text and "Costs 10 s of quota" in text
    assert "**Switch to orientation video**" in text and "Costs 12 s of quota" in text
    assert "15 minutes" in text
    labels = [c.item.label for c in view.children if isinstance(c, FixButton)]
    assert labels == ["Use the first 10 s", "Switch to orientation video"]
    assert view.timeout == 15 * 60
    assert await h.services.jobs.recent(OWNER) == []
    usage = await h.services.quota.usage(Requester(OWNER, 10))
    assert usage.used_today == 0 and usage.active_jobs == 0
    assert view.offer.folder.exists()  # noqa: ASYNC240 - kept for the press


async def test_trim_press_hosts_the_fixed_file_and_queues_once(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    view = await offer_for_a_long_video(h, tmp_path)
    await view.press(h.interaction(OWNER, command=None), 0)
    [job] = await h.services.jobs.recent(OWNER)
    assert job.state is JobState.QUEUED and job.orientation is Orientation.IMAGE
    assert job.video_seconds <= 10.0 and job.cost_seconds == 10.0
    assert "/fixed-video.mp4?" in job.video_url
    [kept] = [s for s in h.world.sent_in(100) if s.file_name == "fixed-video.mp4"]
    assert not kept.ephemeral and (kept.content or "").startswith("🛠️ **Fixed video** for <@1>")
    assert job.video_source is not None and job.video_source.message_id == kept.message_id
    assert job.image_source is None  # the upload, unchanged, is used as it is
    assert Path(job.video_path).is_file()  # noqa: ASYNC240 - a check in a test
    assert f"Job #{job.id} is queued" in last_reply(h)

    await view.press(h.interaction(OWNER, command=None), 1)
    assert last_reply(h) == "This offer was already used. Nothing was sent."
    assert len(await h.services.jobs.recent(OWNER)) == 1


async def test_switch_press_keeps_the_upload(harness: Harness, tmp_path: Path) -> None:
    h = harness
    view = await offer_for_a_long_video(h, tmp_path)
    await view.press(h.interaction(OWNER, command=None), 1)
    [job] = await h.services.jobs.recent(OWNER)
    assert job.orientation is Orientation.VIDEO and job.cost_seconds == 12.0
    assert job.video_url == view.offer.source.video_url


async def test_only_the_asker_may_press_and_not_late(harness: Harness, tmp_path: Path) -> None:
    h = harness
    view = await offer_for_a_long_video(h, tmp_path)
    await view.press(h.interaction(STRANGER, command=None), 0)
    assert last_reply(h) == "Only the person who asked can use this offer."
    view.offer.expires_at = 0.0
    await view.press(h.interaction(OWNER, command=None), 0)
    assert last_reply(h) == "This offer has expired (15 minutes). Nothing was sent."
    assert await h.services.jobs.recent(OWNER) == []
    await view.on_timeout()
    assert not view.offer.folder.exists()  # noqa: ASYNC240 - a check in a test
    assert not h.cog.fix_offers.views  # type: ignore[union-attr]


async def test_an_unrepairable_problem_is_refused_as_before(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    image = h.upload(make_image(tmp_path / "hero.png", width=120, height=120))
    video = h.upload(make_video(tmp_path / "long.mp4", seconds=12, fps=2))
    await h.animate(h.interaction(OWNER), image, video)
    assert "Your image is 120×120 px" in last_reply(h)
    assert not h.cog.fix_offers.views  # type: ignore[union-attr]


async def test_a_refused_press_queues_nothing_and_keeps_no_files(
    make_harness: Callable[..., Any], tmp_path: Path
) -> None:
    h = await make_harness(quota_daily_seconds=5)
    view = await offer_for_a_long_video(h, tmp_path)
    await view.press(h.interaction(OWNER, command=None), 0)  # 10 s over a 5 s daily limit
    assert await h.services.jobs.recent(OWNER) == []
    assert "Something went wrong" not in last_reply(h)
    assert not view.offer.folder.exists()  # noqa: ASYNC240 - a check in a test
    [kept] = [s for s in h.world.sent_in(100) if s.file_name == "fixed-video.mp4"]
    assert f"delete:{kept.message_id}" in h.world.calls  # the kept copy is not left behind
