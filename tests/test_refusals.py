"""The Discord layer's words for the engine's facts: refusals (cogs/refusals.py), operator alerts
(cogs/alerts.py) and the `kind:id` references in audit words (cogs/controls_common.py). The texts
are the ones the engine used to write itself."""

from __future__ import annotations

import pytest

from cogs.alerts import alert_text
from cogs.controls_common import change_embed, with_mentions
from cogs.refusals import refusal_text
from domain import JobState
from services.alerts import DispatchPaused, SpendingReached
from services.control_rules import Change, ControlError, ControlRefusal
from services.jobs import JobAction, JobActionRefused, JobRefusal
from services.quota import (
    Blocked,
    ChannelNotAllowed,
    EnqueueRefused,
    Paused,
    PausedBy,
    QuotaExceeded,
    QuotaLimit,
)

JOB = 7


@pytest.mark.parametrize(
    ("refusal", "text"),
    [
        (
            QuotaExceeded(QuotaLimit.DAILY, 10, 12, 5, 1_700_000_000.2),
            "This needs 5 s of video but you have used 10 s of your 12 s daily limit. "
            "Enough frees up <t:1700000001:R>.",
        ),
        (
            QuotaExceeded(QuotaLimit.MONTHLY, 0, 4, 5, None),
            "This needs 5 s of video but you have used 0 s of your 4 s 30-day limit. "
            "This request is larger than the limit allows.",
        ),
        (
            QuotaExceeded(QuotaLimit.ACTIVE, 2, 2, 1, None),
            "You already have 2 job(s) in progress; the limit on jobs in progress is 2. "
            "Wait for one to finish.",
        ),
        (
            QuotaExceeded(QuotaLimit.GLOBAL, 95, 100, 10, 1_700_000_000),
            "The bot has used today's generation budget set by its operator. "
            "Enough frees up <t:1700000000:R>.",
        ),
        (
            Blocked(None),
            "You are not allowed to use /animate here. Ask a server admin if you think this is "
            "a mistake.",
        ),
        (
            Blocked("spam"),
            "You are not allowed to use /animate here. Ask a server admin if you think this is "
            "a mistake. Reason: spam",
        ),
        (
            Paused(PausedBy.OPERATOR),
            "New animations are paused by the bot's operator. Try again later.",
        ),
        (
            Paused(PausedBy.SERVER),
            "This server's admins have paused new animations. Try again later.",
        ),
        (ChannelNotAllowed([1, 2]), "/animate can't be used here. Use it in <#1>, <#2>."),
    ],
)
def test_enqueue_refusals(refusal: EnqueueRefused, text: str) -> None:
    assert refusal_text(refusal) == text


@pytest.mark.parametrize(
    ("reason", "action", "state", "text"),
    [
        (JobRefusal.NOT_FOUND, JobAction.RETRY, None, "Job #7 does not exist."),
        (
            JobRefusal.NOT_OWNER,
            JobAction.CANCEL,
            None,
            "Only the person who started job #7 can cancel it.",
        ),
        (
            JobRefusal.NOT_OWNER,
            JobAction.RETRY,
            None,
            "Only the person who started job #7 can re-run it.",
        ),
        (
            JobRefusal.ALREADY_ENDED,
            JobAction.CANCEL,
            JobState.CANCELLED,
            "Job #7 has already cancelled.",
        ),
        (
            JobRefusal.BEING_POSTED,
            JobAction.CANCEL,
            JobState.DELIVERING,
            "Job #7 is finished and being posted now.",
        ),
        (JobRefusal.MOVED_ON, JobAction.CANCEL, None, "Job #7 changed state just now; look again."),
        (JobRefusal.NOT_ENDED, JobAction.RETRY, JobState.PROCESSING, "Job #7 is still processing."),
        (
            JobRefusal.FILES_PURGED,
            JobAction.RETRY,
            None,
            "The files of job #7 are no longer kept. Run /animate again.",
        ),
        (
            JobRefusal.UPLOADS_EXPIRED,
            JobAction.RETRY,
            None,
            "The uploads of job #7 have expired on Discord. Run /animate again.",
        ),
    ],
)
def test_job_refusals(
    reason: JobRefusal, action: JobAction, state: JobState | None, text: str
) -> None:
    assert refusal_text(JobActionRefused(reason, JOB, action, state)) == text


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            ControlError(ControlRefusal.NOT_WHOLE, limit=QuotaLimit.DAILY),
            "The daily limit must be a whole number.",
        ),
        (
            ControlError(ControlRefusal.NEGATIVE, limit=QuotaLimit.MONTHLY),
            "The 30-day limit can't be negative (0 means none at all).",
        ),
        (
            ControlError(ControlRefusal.TOO_LARGE, limit=QuotaLimit.ACTIVE, maximum=100),
            "The number of jobs at once can be at most 100.",
        ),
        (
            ControlError(ControlRefusal.TOO_LARGE, limit=QuotaLimit.GLOBAL, maximum=100_000_000),
            "The global daily cap can be at most 100,000,000.",
        ),
        (
            ControlError(ControlRefusal.NOTHING_GIVEN),
            "Give at least one value: daily, monthly or active.",
        ),
        (
            ControlError(ControlRefusal.CAP_NOT_A_NUMBER),
            "The cap must be a whole number of seconds, or `none` for no cap.",
        ),
        (
            ControlError(ControlRefusal.TIER_INCOMPLETE),
            "A role tier needs all three values: daily, monthly and active.",
        ),
        (ControlError(ControlRefusal.NO_TIER, subject_id=5), "<@&5> has no tier here."),
        (
            ControlError(ControlRefusal.NO_PERSONAL_LIMITS, subject_id=6),
            "<@6> has no personal limits here.",
        ),
        (
            ControlError(ControlRefusal.OWNER_EXEMPT),
            "Bot owners are exempt from limits and can't be blocked.",
        ),
        (
            ControlError(ControlRefusal.REASON_TOO_LONG, maximum=200),
            "Keep the reason under 200 characters.",
        ),
        (ControlError(ControlRefusal.NOT_BLOCKED, subject_id=6), "<@6> is not blocked here."),
        (
            ControlError(ControlRefusal.CHANNEL_NOT_LISTED, subject_id=3),
            "<#3> is not on the list.",
        ),
    ],
)
def test_control_refusals(error: ControlError, text: str) -> None:
    assert refusal_text(error) == text


def test_every_reason_has_its_own_words() -> None:
    job_texts = {
        refusal_text(JobActionRefused(r, JOB, JobAction.RETRY, JobState.FAILED)) for r in JobRefusal
    }
    assert len(job_texts) == len(JobRefusal)
    control_texts = {
        refusal_text(ControlError(r, limit=QuotaLimit.DAILY, maximum=1, subject_id=1))
        for r in ControlRefusal
    }
    assert len(control_texts) == len(ControlRefusal)


def test_log_notes_are_plain() -> None:
    """str() of a refusal is a note for the log, with the facts and no markup."""
    note = str(QuotaExceeded(QuotaLimit.DAILY, 10, 12, 5, 1_700_000_000.0))
    assert note.startswith("daily limit") and "<t:" not in note
    assert str(JobActionRefused(JobRefusal.NOT_OWNER, JOB, JobAction.CANCEL)) == (
        "cancel job 7: not_owner"
    )
    assert str(ControlError(ControlRefusal.NO_TIER, subject_id=5)) == "no_tier (id 5)"


@pytest.mark.parametrize(
    ("alert", "text"),
    [
        (
            SpendingReached(80, 80, 100),
            "Spending reached 80 % of the global daily cap: 80 s of 100 s of video in the last "
            "24 hours. New jobs are refused once the cap is reached. "
            "Change it with /animate-owner cap set.",
        ),
        (
            SpendingReached(100, 120, 100),
            "Spending reached the global daily cap: 120 s of 100 s of video in the last 24 "
            "hours. New jobs are refused until older ones leave the 24-hour window. "
            "Change it with /animate-owner cap set.",
        ),
        (
            DispatchPaused("no_credits", 300),
            "New jobs are paused because the ModelsLab account is out of credits. Queued jobs "
            "wait and nobody is charged. The bot tries again every 300 s, or resume it with "
            "/animate-owner resume once fixed.",
        ),
        ("Job 4: a plain note.", "Job 4: a plain note."),
    ],
)
def test_operator_alerts(alert: SpendingReached | DispatchPaused | str, text: str) -> None:
    assert alert_text(alert) == text


@pytest.mark.parametrize(
    ("words", "shown"),
    [
        ("every channel", "every channel"),
        ("channel:1, channel:2", "<#1>, <#2>"),
        ("dm:5", "DMs to <@5>"),
        ("owners' DMs", "owners' DMs"),
        ("daily 60 s · 30-day 600 s · at once 2", "daily 60 s · 30-day 600 s · at once 2"),
        ("<#1>, <#2>", "<#1>, <#2>"),  # audit entries written before references
    ],
)
def test_audit_words_show_references_as_mentions(words: str, shown: str) -> None:
    assert with_mentions(words) == shown


def test_change_embed_shows_mentions() -> None:
    embed = change_embed(Change("channel", "channel:3", "every channel", "channel:3"))
    assert embed.description == "<#3>"
    assert [field.value for field in embed.fields] == ["every channel", "<#3>"]
    same = change_embed(Change("global.alerts", "bot", "dm:4", "dm:4"))
    assert same.description == "Already DMs to <@4>."
