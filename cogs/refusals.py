"""The words for the engine's refusals, the one place they are written.

The engine raises facts: a request refused by policy (`EnqueueRefused`, services/quota.py), a
cancel or retry that cannot be done (`JobActionRefused`, services/jobs.py), an admin or owner
change that cannot be made (`ControlError`, services/control_rules.py). `refusal_text` turns any
of them into the sentence the user reads, with Discord timestamps, mentions and command names.
"""

from __future__ import annotations

import math

from cogs.status import mention, seconds_text, ts
from services.control_rules import ControlError, ControlRefusal
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

Refusal = EnqueueRefused | JobActionRefused | ControlError
REFUSALS = (EnqueueRefused, JobActionRefused, ControlError)

# A limit as a quota refusal names it ("the limit on jobs in progress is 2").
QUOTA_LIMIT_NAMES = {
    QuotaLimit.DAILY: "daily limit",
    QuotaLimit.MONTHLY: "30-day limit",
    QuotaLimit.ACTIVE: "limit on jobs in progress",
    QuotaLimit.GLOBAL: "bot-wide daily budget",
}
# A value as a control refusal names it ("The daily limit must be a whole number.").
CONTROL_VALUE_NAMES = {
    QuotaLimit.DAILY: "daily limit",
    QuotaLimit.MONTHLY: "30-day limit",
    QuotaLimit.ACTIVE: "number of jobs at once",
    QuotaLimit.GLOBAL: "global daily cap",
}
JOB_ACTION_VERBS = {JobAction.CANCEL: "cancel", JobAction.RETRY: "re-run"}
PAUSED_WORDS = {
    PausedBy.OPERATOR: "New animations are paused by the bot's operator. Try again later.",
    PausedBy.SERVER: "This server's admins have paused new animations. Try again later.",
}


def refusal_text(error: Refusal) -> str:
    """The sentence a user reads for a refusal."""
    if isinstance(error, JobActionRefused):
        return job_refusal_text(error)
    if isinstance(error, ControlError):
        return control_refusal_text(error)
    return enqueue_refusal_text(error)


def enqueue_refusal_text(error: EnqueueRefused) -> str:
    if isinstance(error, QuotaExceeded):
        return quota_text(error)
    if isinstance(error, Blocked):
        reason = f" Reason: {error.reason}" if error.reason else ""
        return (
            "You are not allowed to use /animate here. Ask a server admin if you think this is "
            f"a mistake.{reason}"
        )
    if isinstance(error, Paused):
        return PAUSED_WORDS[error.by]
    if isinstance(error, ChannelNotAllowed):
        listed = ", ".join(f"<#{c}>" for c in error.channel_ids)
        return f"/animate can't be used here. Use it in {listed}."
    return "This request can't be queued right now. Try again later."


def quota_text(error: QuotaExceeded) -> str:
    name = QUOTA_LIMIT_NAMES[error.limit]
    if error.limit is QuotaLimit.ACTIVE:
        text = (
            f"You already have {int(error.used)} job(s) in progress; the {name} is "
            f"{int(error.allowed)}. Wait for one to finish."
        )
    elif error.limit is QuotaLimit.GLOBAL:
        text = "The bot has used today's generation budget set by its operator."
    else:
        text = (
            f"This needs {seconds_text(error.needed)} of video but you have used "
            f"{seconds_text(error.used)} of your {seconds_text(error.allowed)} {name}."
        )
    if error.frees_at is not None:
        text += f" Enough frees up {ts(math.ceil(error.frees_at))}."
    elif error.limit is not QuotaLimit.ACTIVE:
        text += " This request is larger than the limit allows."
    return text


def job_refusal_text(error: JobActionRefused) -> str:
    job = f"job #{error.job_id}"
    state = error.state.value if error.state is not None else "changed"
    match error.reason:
        case JobRefusal.NOT_FOUND:
            return f"Job #{error.job_id} does not exist."
        case JobRefusal.NOT_OWNER:
            verb = JOB_ACTION_VERBS[error.action]
            return f"Only the person who started {job} can {verb} it."
        case JobRefusal.ALREADY_ENDED:
            return f"Job #{error.job_id} has already {state}."
        case JobRefusal.BEING_POSTED:
            return f"Job #{error.job_id} is finished and being posted now."
        case JobRefusal.MOVED_ON:
            return f"Job #{error.job_id} changed state just now; look again."
        case JobRefusal.NOT_ENDED:
            return f"Job #{error.job_id} is still {state}."
        case JobRefusal.FILES_PURGED:
            return f"The files of {job} are no longer kept. Run /animate again."
        case JobRefusal.UPLOADS_EXPIRED:
            return f"The uploads of {job} have expired on Discord. Run /animate again."
    return f"That can't be done with {job} right now."


def control_refusal_text(error: ControlError) -> str:
    name = CONTROL_VALUE_NAMES[error.limit] if error.limit is not None else "value"
    subject = error.subject_id or 0
    match error.reason:
        case ControlRefusal.NOT_WHOLE:
            return f"The {name} must be a whole number."
        case ControlRefusal.NEGATIVE:
            return f"The {name} can't be negative (0 means none at all)."
        case ControlRefusal.TOO_LARGE:
            return f"The {name} can be at most {error.maximum or 0:,}."
        case ControlRefusal.NOTHING_GIVEN:
            return "Give at least one value: daily, monthly or active."
        case ControlRefusal.CAP_NOT_A_NUMBER:
            return "The cap must be a whole number of seconds, or `none` for no cap."
        case ControlRefusal.TIER_INCOMPLETE:
            return "A role tier needs all three values: daily, monthly and active."
        case ControlRefusal.NO_TIER:
            return f"<@&{subject}> has no tier here."
        case ControlRefusal.NO_PERSONAL_LIMITS:
            return f"{mention(subject)} has no personal limits here."
        case ControlRefusal.OWNER_EXEMPT:
            return "Bot owners are exempt from limits and can't be blocked."
        case ControlRefusal.REASON_TOO_LONG:
            return f"Keep the reason under {error.maximum} characters."
        case ControlRefusal.NOT_BLOCKED:
            return f"{mention(subject)} is not blocked here."
        case ControlRefusal.CHANNEL_NOT_LISTED:
            return f"<#{subject}> is not on the list."
    return "That change can't be made."
