"""The pure text builders in cogs/status.py: what people read, and when a card is worth an edit."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from cogs.status import (
    LINK_LIFETIME_SECONDS,
    cancelled_card,
    clip_text,
    done_card,
    failed_card,
    failure_text,
    generating_card,
    help_embed,
    job_summary,
    jobs_embed,
    jump_url,
    queued_card,
    receipt_text,
    shorten,
    usage_embed,
    worth_editing,
)
from domain import Job, JobState
from services.quota import Limits, UsageReport
from tests.helpers import new_job

NOW = 2_000_000_000.0


def make_job(**overrides: Any) -> Job:
    base: dict[str, Any] = asdict(new_job(created_at=NOW - 100))
    base |= {
        "id": 42,
        "state": JobState.QUEUED,
        "status_message_id": None,
        "result_message_id": None,
        "delivery": None,
        "provider_job_id": None,
        "provider_eta": None,
        "attempts": 0,
        "polls": 0,
        "transient_errors": 0,
        "next_attempt_at": None,
        "deadline_at": None,
        "charged_seconds": 0.0,
        "result_url": None,
        "result_path": None,
        "failure_code": None,
        "failure_reason": None,
        "submitting_at": None,
        "processing_at": None,
        "delivering_at": None,
        "finished_at": None,
        "media_purged_at": None,
    }
    return Job(**(base | overrides))


def embed_text(card: Any) -> str:
    embed = card.embed
    return "\n".join(
        [embed.title or "", embed.description or ""]
        + [f"{f.name}\n{f.value}" for f in embed.fields]
        + [embed.footer.text or ""]
    )


# --------------------------------------------------------------------------------------------------
# Status cards


def test_queued_card_shows_inputs_position_and_cost() -> None:
    card = queued_card(make_job(), 3)
    text = embed_text(card)
    assert card.phase == "queued" and card.position == 3
    assert "<@1>'s animation is queued." in text
    assert "Position in queue: **3**" in text
    assert f"Queued <t:{int(NOW - 100)}:R>" in text
    assert "Image: 512×768 PNG" in text and "Video: 480×640, 4.2 s" in text
    assert "Orientation: image (faces as in the picture)" in text
    assert "Mode: std (about 720p)" in text
    assert "Uses 5 s of quota, charged only if the clip arrives." in text
    assert "Job #42" in text


def test_queued_card_at_position_zero_says_starting() -> None:
    assert "Starting now" in embed_text(queued_card(make_job(), 0))


def test_generating_card_uses_relative_timestamps() -> None:
    job = make_job(state=JobState.PROCESSING, processing_at=NOW - 30)
    card = generating_card(job, 120.0, NOW)
    text = embed_text(card)
    assert f"Started <t:{int(NOW - 30)}:R>" in text
    assert f"Expected ready <t:{int(NOW + 120)}:R>" in text
    assert card.eta_at == NOW + 120
    assert "1 to 15 minutes" in embed_text(generating_card(job, None, NOW))


def test_long_prompts_are_shortened() -> None:
    text = embed_text(queued_card(make_job(prompt="word " * 200), 1))
    prompt_field = text.split("Prompt\n")[1].split("\n")[0]
    assert len(prompt_field) <= 200 and prompt_field.endswith("…")


@pytest.mark.parametrize(
    ("shown", "new", "expected"),
    [
        (("queued", 2, None), ("queued", 2, None), False),
        (("queued", 2, None), ("queued", 1, None), True),
        (("queued", 1, None), ("generating", None, None), True),
        (("generating", None, None), ("generating", None, NOW + 300), True),
        (("generating", None, NOW + 300), ("generating", None, NOW + 310), False),
        (("generating", None, NOW + 300), ("generating", None, NOW + 420), True),
        (("generating", None, NOW + 3600), ("generating", None, NOW + 3700), False),
        (("generating", None, NOW + 3600), ("generating", None, NOW + 4600), True),
    ],
)
def test_worth_editing(shown: tuple[Any, ...], new: tuple[Any, ...], expected: bool) -> None:
    from cogs.status import StatusCard

    def card(phase: str, position: int | None, eta: float | None) -> StatusCard:
        return StatusCard(phase, queued_card(make_job(), 1).embed, position=position, eta_at=eta)

    assert worth_editing(card(*shown), card(*new), NOW) is expected


def test_final_cards() -> None:
    job = make_job(state=JobState.FAILED)
    done = done_card(job, "https://discord.com/channels/10/100/5")
    assert done.is_final and "[Open the clip](https://discord.com/channels/10/100/5)" in embed_text(
        done
    )
    failed = failed_card(job, "No person detected.", charged=False)
    assert "No person detected.\nNothing was charged." in embed_text(failed)
    assert "by <@7>" in embed_text(cancelled_card(job, by_user_id=7))
    assert "by" not in embed_text(cancelled_card(job, by_user_id=1)).split("Cancelled")[2]


# --------------------------------------------------------------------------------------------------
# Messages


def test_receipt() -> None:
    text = receipt_text(make_job(), 2, "https://discord.com/channels/10/100/9")
    assert text.splitlines() == [
        "Job #42 is queued (position 2 in the queue).",
        "It uses 5 s of your quota, charged only if it arrives.",
        "Follow it here: https://discord.com/channels/10/100/9",
        "I'll mention you when the clip is ready.",
    ]
    assert "Follow it here" not in receipt_text(make_job(), 0, None)


def test_clip_texts() -> None:
    job = make_job(mode="pro")
    expires = NOW + LINK_LIFETIME_SECONDS
    assert clip_text(job, "file", "https://x/y.mp4", expires) == (
        "<@1> your animation is ready (job #42, pro)."
    )
    smaller = clip_text(job, "reencoded", "https://x/y.mp4", expires)
    assert "made smaller" in smaller and "Full quality: https://x/y.mp4" in smaller
    link = clip_text(job, "link", "https://x/y.mp4", expires)
    assert "too large to upload here" in link and "https://x/y.mp4" in link
    assert f"The link expires <t:{int(expires)}:R> (<t:{int(expires)}:f>); save it first." in link


def test_failure_text() -> None:
    text = failure_text(make_job(), "Generation took too long.", charged=False)
    assert text == (
        "<@1> job #42 didn't work out.\nGeneration took too long.\n"
        "Nothing was charged. Press Retry to try again."
    )


# --------------------------------------------------------------------------------------------------
# /jobs


def test_job_summaries() -> None:
    posted = make_job(
        state=JobState.SUCCEEDED, result_message_id=5, delivery="file", finished_at=NOW - 10
    )
    assert job_summary(posted, NOW) == (
        f"✅ **#42** succeeded · std · <t:{int(NOW - 10)}:R>\n"
        "[Clip](https://discord.com/channels/10/100/5)"
    )
    in_dm = make_job(state=JobState.SUCCEEDED, result_message_id=5, delivery="dm-file")
    assert job_summary(in_dm, NOW).endswith("Sent to your DMs.")
    link = make_job(
        state=JobState.SUCCEEDED, delivery="link", result_url="https://x/y.mp4", delivering_at=NOW
    )
    assert "[Download](https://x/y.mp4) (expires <t:" in job_summary(link, NOW)
    old = make_job(state=JobState.SUCCEEDED, delivery="link", result_url="https://x/y.mp4",
                   delivering_at=NOW - 2 * LINK_LIFETIME_SECONDS)  # fmt: skip
    assert job_summary(old, NOW).endswith("Link expired.")
    failed = make_job(state=JobState.FAILED, failure_reason="x " * 200)
    assert len(job_summary(failed, NOW).splitlines()[1]) <= 120


def test_jobs_embed_fits_discord() -> None:
    jobs = [make_job(id=i, state=JobState.FAILED, failure_reason="y" * 300) for i in range(50)]
    embed = jobs_embed(jobs, NOW)
    assert embed.description is not None and len(embed.description) <= 4000
    assert "No jobs yet" in (jobs_embed([], NOW).description or "")


# --------------------------------------------------------------------------------------------------
# /quota and /help


def report(**overrides: Any) -> UsageReport:
    base: dict[str, Any] = {
        "limits": Limits(60, 600, 2, source="the bot's default"),
        "used_today": 12.0,
        "used_month": 100.0,
        "active_jobs": 1,
        "next_free_at": NOW + 3600,
    }
    return UsageReport(**(base | overrides))


def test_usage_embed() -> None:
    embed = usage_embed(report(), in_server=True, pro_multiplier=2.0)
    lines = (embed.description or "").splitlines()
    assert lines == [
        "For this server, counted in seconds of video.",
        "Last 24 h: **48 s left** (12 s of 60 s)",
        "Last 30 days: **500 s left** (100 s of 600 s)",
        "In progress: 1 of 2 jobs",
        f"Usage starts freeing up <t:{int(NOW + 3600)}:R>",
    ]
    assert "pro costs ×2" in (embed.footer.text or "")


def test_usage_embed_variants() -> None:
    over = usage_embed(report(used_today=80.0), in_server=False, pro_multiplier=2)
    assert "**0 s left**" in (over.description or "")
    assert "your DMs" in (over.description or "")
    owner = report(limits=Limits(None, None, None, source="owner"))
    text = usage_embed(owner, True, 2).description or ""
    assert "No limits apply" in text and "12 s used, no limit" in text
    blocked = report(limits=Limits(0, 0, 0, source="blocked", blocked=True, block_reason="spam"))
    assert (usage_embed(blocked, True, 2).description or "").endswith("Reason: spam")
    capped = usage_embed(report(global_cap=100.0, global_used_today=30.0), True, 2)
    assert "Bot-wide budget left today: 70 s" in (capped.description or "")


def test_help_embed_lines_are_short() -> None:
    embed = help_embed(2.0)
    assert len(embed) <= 6000
    for field in embed.fields:
        for line in field.value.splitlines():
            assert len(line) <= 80, line


def test_small_helpers() -> None:
    assert jump_url(None, 5, 6) == "https://discord.com/channels/@me/5/6"
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("abcdefghijk", 5) == "abcd…"
