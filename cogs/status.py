"""What people read: status cards, clip and failure messages, /jobs, /quota and /help.

Pure functions of their arguments (no clock, no I/O), so every wording is unit-tested. Written for
phones: short lines, embeds, no tables. Times are Discord timestamps (`<t:X:R>`), which the client
renders in the reader's time zone and keeps ticking, so nothing needs editing just because time
passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import discord

from cogs.coaching_text import coaching_words
from cogs.motion_text import input_gone_words
from domain import FailureCode, Job, JobState
from services.coaching import advice_for
from services.media import (
    IMAGE_MAX_ASPECT,
    IMAGE_MAX_BYTES,
    IMAGE_MIN_SIDE,
    PROMPT_MAX_CHARS,
    VIDEO_MAX_BYTES,
    VIDEO_MAX_SECONDS,
    VIDEO_MAX_SIDE,
    VIDEO_MIN_SECONDS,
    VIDEO_MIN_SIDE,
)
from services.quota import UsageReport

# Provider links are temporary; the API documentation says to assume about a day.
LINK_LIFETIME_SECONDS = 24 * 3600
# A new provider estimate is shown only when it moves the expected finish by more than this
# (or by a quarter of the time left), so a wobbling estimate does not cause an edit per poll.
ETA_MIN_SHIFT_SECONDS = 60.0

COLOUR_QUEUED = discord.Colour.blurple()
COLOUR_GENERATING = discord.Colour.gold()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()

ORIENTATION_TEXT = {
    "image": "faces as in the picture",
    "video": "follows the person in the video",
}
MODE_TEXT = {"std": "std (about 720p)", "pro": "pro (about 1080p)"}
STATE_ICONS = {
    JobState.QUEUED: "⏳",
    JobState.SUBMITTING: "⚙️",
    JobState.PROCESSING: "⚙️",
    JobState.DELIVERING: "📤",
    JobState.SUCCEEDED: "✅",
    JobState.FAILED: "❌",
    JobState.CANCELLED: "🚫",
}
_MB = 1024 * 1024


def ts(seconds: float, style: str = "R") -> str:
    """A Discord timestamp: R = relative ("in 5 minutes"), t = time, f = date and time."""
    return f"<t:{int(seconds)}:{style}>"


def mention(user_id: int) -> str:
    return f"<@{user_id}>"


def seconds_text(value: float) -> str:
    """`12 s`, `2.5 s`: quota amounts as people write them."""
    return f"{value:g} s"


def jump_url(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """Link to a message; DMs use `@me` in place of a server id."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------------------
# Status cards


@dataclass(frozen=True)
class StatusCard:
    """One rendering of a job's status message. `position` and `eta_at` are what the card shows
    that may change within a phase; `worth_editing` compares them."""

    phase: str  # "queued", "generating", "done", "failed", "cancelled"
    embed: discord.Embed
    position: int | None = None
    eta_at: float | None = None

    @property
    def is_final(self) -> bool:
        return self.phase in ("done", "failed", "cancelled")


def worth_editing(shown: StatusCard, new: StatusCard, now: float) -> bool:
    """Whether `new` tells a person something `shown` does not."""
    if shown.phase != new.phase:
        return True
    if shown.position != new.position:
        return True
    if (shown.eta_at is None) != (new.eta_at is None):
        return True
    if shown.eta_at is None or new.eta_at is None:
        return False
    remaining = max(shown.eta_at - now, 0.0)
    return abs(new.eta_at - shown.eta_at) > max(ETA_MIN_SHIFT_SECONDS, remaining / 4)


def _inputs_text(job: Job) -> str:
    return "\n".join(
        (
            f"Image: {job.image_width}×{job.image_height} {job.image_kind.upper()}",
            f"Video: {job.video_width}×{job.video_height}, {job.video_seconds:.1f} s",
            f"Orientation: {job.orientation} ({ORIENTATION_TEXT.get(job.orientation, '?')})",
            f"Mode: {MODE_TEXT.get(job.mode, job.mode)}",
        )
    )


def _base_embed(job: Job, title: str, colour: discord.Colour, description: str) -> discord.Embed:
    embed = discord.Embed(title=title, description=description, colour=colour)
    embed.add_field(name="Inputs", value=_inputs_text(job), inline=False)
    embed.add_field(name="Prompt", value=shorten(job.prompt, 200) or "-", inline=False)
    embed.set_footer(text=f"Job #{job.id}")
    return embed


def _cost_line(job: Job) -> str:
    return f"Uses {seconds_text(job.cost_seconds)} of quota, charged only if the clip arrives."


def queued_card(job: Job, position: int) -> StatusCard:
    """Waiting for a slot at the provider. Position 1 is next; 0 means it is leaving the queue."""
    place = f"Position in queue: **{position}**" if position > 0 else "Starting now…"
    description = (
        f"{mention(job.user_id)}'s animation is queued.\n{place}\nQueued {ts(job.created_at)}\n"
        f"{_cost_line(job)}"
    )
    embed = _base_embed(job, "⏳ Queued", COLOUR_QUEUED, description)
    return StatusCard("queued", embed, position=position)


def generating_card(job: Job, eta_seconds: float | None, now: float) -> StatusCard:
    """At the provider. Elapsed time and the estimate are relative timestamps the client ticks."""
    started = job.processing_at or job.submitting_at or now
    eta_at = now + eta_seconds if eta_seconds and eta_seconds > 0 else None
    lines = [f"{mention(job.user_id)}'s animation is being generated.", f"Started {ts(started)}"]
    if eta_at is not None:
        lines.append(f"Expected ready {ts(eta_at)} (the provider's estimate)")
    else:
        lines.append("Usually takes 1 to 15 minutes.")
    lines.append(_cost_line(job))
    embed = _base_embed(job, "⚙️ Generating", COLOUR_GENERATING, "\n".join(lines))
    return StatusCard("generating", embed, eta_at=eta_at)


def done_card(job: Job, result_url: str | None, charged: float | None = None) -> StatusCard:
    where = f"[Open the clip]({result_url})" if result_url else "The clip was posted."
    description = f"{mention(job.user_id)}'s animation is ready. {where}"
    if charged is not None:
        description += "\n" + charged_text(job, charged)
    return StatusCard("done", _base_embed(job, "✅ Done", COLOUR_DONE, description))


def failed_card(job: Job, reason: str, charged: bool) -> StatusCard:
    description = f"{shorten(reason, 600)}\n{charge_text(charged)}"
    return StatusCard("failed", _base_embed(job, "❌ Failed", COLOUR_FAILED, description))


def cancelled_card(job: Job, by_user_id: int | None = None) -> StatusCard:
    who = "" if by_user_id in (None, job.user_id) else f" by {mention(by_user_id or 0)}"
    description = f"Cancelled{who}. Nothing was charged."
    return StatusCard("cancelled", _base_embed(job, "🚫 Cancelled", COLOUR_CANCELLED, description))


def charged_text(job: Job, charged: float) -> str:
    """What a finished job cost: the clip's real length, never more than was reserved."""
    if charged <= 0:
        return "Nothing was charged."
    if charged < job.cost_seconds:
        return (
            f"Charged {seconds_text(charged)} of quota: the clip came out shorter than the "
            f"{seconds_text(job.cost_seconds)} reserved."
        )
    return f"Charged {seconds_text(charged)} of quota."


def charge_text(charged: bool) -> str:
    return "Your quota was charged for it." if charged else "Nothing was charged."


# --------------------------------------------------------------------------------------------------
# Messages to the user


def receipt_text(job: Job, position: int, status_url: str | None) -> str:
    """The private reply to /animate (or a retry) once the job is queued."""
    place = f"position {position} in the queue" if position > 0 else "starting now"
    lines = [
        f"Job #{job.id} is queued ({place}).",
        f"It uses {seconds_text(job.cost_seconds)} of your quota, charged only if it arrives.",
    ]
    if status_url:
        lines.append(f"Follow it here: {status_url}")
    lines.append("I'll mention you when the clip is ready.")
    return "\n".join(lines)


def link_expiry(job: Job, now: float) -> float:
    """When the provider's link stops working, counted from when the clip was made."""
    return (job.delivering_at or now) + LINK_LIFETIME_SECONDS


def clip_text(job: Job, method: str, link_url: str | None, link_expires_at: float) -> str:
    """The new message that delivers the clip (`method`: file, reencoded or link)."""
    head = f"{mention(job.user_id)} your animation is ready (job #{job.id}, {job.mode})."
    expires = f"The link expires {ts(link_expires_at)} ({ts(link_expires_at, 'f')}); save it first."
    if method == "file":
        return head
    if method == "reencoded":
        lines = [head, "It was made smaller to fit Discord's upload limit."]
        if link_url:
            lines.append(f"Full quality: {link_url}")
            lines.append(expires)
        return "\n".join(lines)
    too_big = "It is too large to upload here, so here is the download link:"
    return "\n".join((head, too_big, link_url or "", expires))


_FAILURE_WORDS = {
    FailureCode.SUBMIT_OUTCOME_UNKNOWN: (
        "The bot lost contact with ModelsLab while starting your job, so it was stopped rather "
        "than risk running it twice. Press Retry to try again."
    ),
    FailureCode.PROVIDER_UNREACHABLE: "ModelsLab could not be reached for too long.",
    FailureCode.NO_OUTPUT: "ModelsLab reported success but never provided the clip.",
    FailureCode.EXPIRED_IN_QUEUE: (
        "Your job waited in the queue too long and its uploaded files expired. Run /animate again."
    ),
    FailureCode.NO_PROVIDER_ID: "ModelsLab accepted the job but returned no id to follow it.",
    FailureCode.CANCELLED: "Cancelled.",
}


def failure_words(job: Job) -> str:
    """Why a failed job failed, in words a member can act on (from its code and detail)."""
    code, detail = job.failure_code, job.failure_reason
    advice = advice_for(code, detail)
    if advice is not None:  # a known input problem: coach, without the provider's raw words
        return coaching_words(code, advice)
    if code is FailureCode.INPUT:
        return f"ModelsLab refused the inputs: {detail or 'no reason given'}"
    if code is FailureCode.INPUT_GONE:
        return input_gone_words(detail)
    if code is FailureCode.PROVIDER_FAILED:
        return f"ModelsLab could not make it: {detail or 'no reason given'}"
    if code is FailureCode.TIMEOUT:
        if job.deadline_at and job.processing_at:
            minutes = (job.deadline_at - job.processing_at) / 60
            return f"Generation took longer than {minutes:g} minutes and was stopped."
        return "Generation took too long and was stopped."
    if code is not None and code in _FAILURE_WORDS:
        return _FAILURE_WORDS[code]
    return detail or "No reason recorded."


def failure_text(job: Job, reason: str, charged: bool) -> str:
    """The new message that tells the user their job failed."""
    # The same inputs would fail the same way: coached failures do not offer Retry.
    again = "" if advice_for(job.failure_code, job.failure_reason) else " Press Retry to try again."
    return (
        f"{mention(job.user_id)} job #{job.id} didn't work out.\n{shorten(reason, 600)}\n"
        f"{charge_text(charged)}{again}"
    )


# --------------------------------------------------------------------------------------------------
# /jobs


def _job_result(job: Job, now: float) -> str:
    if job.state is JobState.SUCCEEDED:
        if job.delivery and job.delivery.startswith("dm-"):
            return "Sent to your DMs."
        if job.result_message_id and job.channel_id:
            return f"[Clip]({jump_url(job.guild_id, job.channel_id, job.result_message_id)})"
        if job.result_url and link_expiry(job, now) > now:
            return f"[Download]({job.result_url}) (expires {ts(link_expiry(job, now))})"
        return "Link expired."
    if job.state is JobState.FAILED:
        return shorten(failure_words(job), 120)
    if job.state is JobState.CANCELLED:
        return "Cancelled."
    return "In progress."


def job_summary(job: Job, now: float) -> str:
    """Two short lines about one job, for /jobs."""
    icon = STATE_ICONS.get(job.state, "•")
    when = job.finished_at or job.created_at
    head = f"{icon} **#{job.id}** {job.state.value} · {job.mode} · {ts(when)}"
    return f"{head}\n{_job_result(job, now)}"


def jobs_embed(jobs: Sequence[Job], now: float) -> discord.Embed:
    embed = discord.Embed(title="Your recent jobs", colour=COLOUR_QUEUED)
    if not jobs:
        embed.description = "No jobs yet. Start one with /animate."
        return embed
    embed.description = shorten_block("\n\n".join(job_summary(j, now) for j in jobs), 4000)
    return embed


def shorten_block(text: str, limit: int) -> str:
    """Cut a multi-line text at a line boundary to fit an embed."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 2].rsplit("\n", 1)[0]
    return cut + "\n…"


# --------------------------------------------------------------------------------------------------
# /quota


def _window_line(name: str, used: float, allowed: float | None) -> str:
    if allowed is None:
        return f"{name}: {seconds_text(used)} used, no limit"
    left = max(allowed - used, 0.0)
    used_of = f"{seconds_text(used)} of {seconds_text(allowed)}"
    return f"{name}: **{seconds_text(left)} left** ({used_of})"


def usage_embed(report: UsageReport, in_server: bool, pro_multiplier: float) -> discord.Embed:
    """What /quota shows: seconds left today and this month, jobs in flight, when usage frees."""
    limits = report.limits
    scope = "this server" if in_server else "your DMs and personal use"
    embed = discord.Embed(title="Your quota", colour=COLOUR_QUEUED)
    if limits.blocked:
        reason = f" Reason: {limits.block_reason}" if limits.block_reason else ""
        embed.description = f"You are blocked from /animate in {scope}.{reason}"
        return embed
    lines = [f"For {scope}, counted in seconds of video."]
    if limits.exempt:
        lines.append("No limits apply to you (bot owner).")
    lines.append(_window_line("Last 24 h", report.used_today, limits.daily_seconds))
    lines.append(_window_line("Last 30 days", report.used_month, limits.monthly_seconds))
    if limits.max_active_jobs is not None:
        lines.append(f"In progress: {report.active_jobs} of {limits.max_active_jobs} jobs")
    else:
        lines.append(f"In progress: {report.active_jobs} jobs")
    if report.next_free_at is not None:
        lines.append(f"Usage starts freeing up {ts(report.next_free_at)}")
    if report.global_cap is not None:
        left = max(report.global_cap - report.global_used_today, 0.0)
        lines.append(f"Bot-wide budget left today: {seconds_text(left)}")
    embed.description = "\n".join(lines)
    embed.set_footer(
        text=f"A job costs its video length (rounded up); pro costs ×{pro_multiplier:g}. "
        f"Limits set by: {limits.source}."
    )
    return embed


# --------------------------------------------------------------------------------------------------
# /help


def help_embed(pro_multiplier: float) -> discord.Embed:
    """How to use the bot, what orientation means and the input limits."""
    image_limit = f"{IMAGE_MAX_BYTES // _MB} MB"
    video_limit = f"{VIDEO_MAX_BYTES // _MB} MB"
    short, long = VIDEO_MAX_SECONDS["image"], VIDEO_MAX_SECONDS["video"]
    embed = discord.Embed(
        title="How to use /animate",
        colour=COLOUR_QUEUED,
        description=(
            "Give a picture of a character and a video of someone moving; "
            "the bot makes the character do the motion."
        ),
    )
    embed.add_field(
        name="image: the character",
        value=(
            f"JPG or PNG (WebP is converted)\nUp to {image_limit}\n"
            f"Each side at least {IMAGE_MIN_SIDE} px\n"
            f"Shape between 1:{IMAGE_MAX_ASPECT:g} and {IMAGE_MAX_ASPECT:g}:1"
        ),
        inline=False,
    )
    embed.add_field(
        name="video: the motion",
        value=(
            f"MP4 or MOV, up to {video_limit}\n"
            f"Each side {VIDEO_MIN_SIDE} to {VIDEO_MAX_SIDE} px\n"
            f"At least {VIDEO_MIN_SECONDS:g} s\nOne person, one continuous shot"
        ),
        inline=False,
    )
    embed.add_field(
        name="orientation",
        value=(
            f"`image`: the character faces as in the picture. Video up to {short:g} s.\n"
            f"`video`: the character turns like the person in the video. Video up to {long:g} s."
        ),
        inline=False,
    )
    embed.add_field(
        name="No video? Use the library",
        value=(
            "Give `motion:` instead of `video:` to use a library clip.\n"
            "/motion list shows them all.\n"
            "On a message with a picture: ⋯ → Apps → **Animate**."
        ),
        inline=False,
    )
    embed.add_field(
        name="mode and prompt",
        value=(
            f"`std` about 720p. `pro` about 1080p, costs ×{pro_multiplier:g}.\n"
            f"prompt is optional, up to {PROMPT_MAX_CHARS} characters."
        ),
        inline=False,
    )
    embed.add_field(
        name="After you start",
        value=(
            "A status message shows the queue and progress.\n"
            "**Cancel** stops a job that is still waiting or running.\n"
            "When it's done you're mentioned with the clip.\n"
            "**Retry** or **Run again** in the other mode from there.\n"
            "/quota: what you have left. /jobs: your recent jobs."
        ),
        inline=False,
    )
    return embed
