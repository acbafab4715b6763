"""What people read about the motion library: labels, refusals, the list, the message that keeps
a motion's clip, and why a job whose input message vanished failed. Pure functions, written for
phones."""

from __future__ import annotations

import discord

from domain import Motion, Orientation
from services.media import VIDEO_MAX_SECONDS
from services.motions import (
    DESCRIPTION_MAX_CHARS,
    LIBRARY_MAX_MOTIONS,
    NAME_MAX_CHARS,
    Library,
    MotionError,
    MotionProblem,
    allowed_orientations,
)

COLOUR = discord.Colour.blurple()
# /motion list shows this many motions of each library per page (the embed holds 4096 chars).
PAGE_SIZE = 20


def seconds_label(seconds: float) -> str:
    """`6 s`, `4.5 s`."""
    return f"{round(seconds, 1):g} s"


def orientations_label(seconds: float) -> str:
    """`image or video`, or `video` for a clip too long for orientation image."""
    return " or ".join(o.value for o in allowed_orientations(seconds))


def motion_label(motion: Motion) -> str:
    """`name · 6 s · image or video`: how autocomplete and the picker show a motion."""
    seconds = seconds_label(motion.video_seconds)
    return f"{motion.name} · {seconds} · {orientations_label(motion.video_seconds)}"


def _library(bot_wide: bool) -> str:
    return "the bot-wide library" if bot_wide else "this server's library"


def motion_error_text(error: MotionError) -> str:
    """The reply for a refused motion request."""
    name, problem = error.name, error.problem
    if problem is MotionProblem.BAD_NAME:
        return (
            f"A motion name is 1 to {NAME_MAX_CHARS} letters, digits, spaces or . ' ( ) ! & + - "
            "and starts with a letter or digit."
        )
    if problem is MotionProblem.NAME_TAKEN:
        return (
            f"There is already a motion called **{name}** in {_library(error.bot_wide)}. "
            "Pick another name, or remove that one first with /motion remove."
        )
    if problem is MotionProblem.LIBRARY_FULL:
        return (
            f"{_library(error.bot_wide).capitalize()} already holds {LIBRARY_MAX_MOTIONS} "
            "motions. Remove some with /motion remove first."
        )
    if problem is MotionProblem.NOT_FOUND:
        return (
            f"There is no motion called **{name}** here. Type a few letters in `motion` to pick "
            "one, or see them all with /motion list."
        )
    if problem is MotionProblem.UNAVAILABLE:
        return (
            f"The motion **{name}** is no longer available: the message that held its clip was "
            "deleted. Pick another motion (a curator can add it again)."
        )
    if problem is MotionProblem.UNREACHABLE:
        return (
            f"Discord didn't hand me the clip of the motion **{name}** just now. Try again in a "
            "minute."
        )
    return _too_long_text(error)


def _too_long_text(error: MotionError) -> str:
    seconds = seconds_label(error.seconds or 0.0)
    orientation = error.orientation or Orientation.IMAGE
    limit = VIDEO_MAX_SECONDS[orientation.value]
    longest = max(VIDEO_MAX_SECONDS.values())
    return (
        f"The motion **{error.name}** is {seconds}. With orientation `{orientation.value}` the "
        f"limit is {limit:g} s: choose orientation `video` (up to {longest:g} s), or another "
        "motion."
    )


def announcement(motion_name: str, seconds: float, user_id: int, description: str | None) -> str:
    """The message that keeps a new motion's clip and shows members it exists."""
    about = f"\n> {description[:DESCRIPTION_MAX_CHARS]}" if description else ""
    return (
        f"🎬 New motion **{motion_name}** ({seconds_label(seconds)}, "
        f"{orientations_label(seconds)}) added by <@{user_id}>.{about}\n"
        f"Use it with `/animate motion:{motion_name}`, or on any picture: ⋯ → Apps → **Animate**.\n"
        "-# Keep this message: the motion's clip lives here."
    )


def too_big_to_keep(size: int, limit: int) -> str:
    mb = 1024 * 1024
    return (
        f"Your video is {size / mb:.1f} MB, but I can post files of at most {limit / mb:g} MB "
        "here, and a motion's clip is kept as a message I post. Compress or trim it."
    )


def added_text(motion: Motion, jump_url: str) -> str:
    where = "every server and DMs" if motion.guild_id is None else "this server"
    return (
        f"Added **{motion.name}** ({seconds_label(motion.video_seconds)}, "
        f"{orientations_label(motion.video_seconds)}) for {where}. Its clip is kept in this "
        f"message: {jump_url} (deleting it makes the motion unavailable)."
    )


def removed_text(motion: Motion) -> str:
    return (
        f"Removed **{motion.name}**. Jobs already queued with it still run; its message can be "
        "deleted once they are done."
    )


def _line(motion: Motion) -> str:
    uses = f"{motion.uses} use" + ("" if motion.uses == 1 else "s")
    return f"**{motion_label(motion)}** · {uses} · <@{motion.added_by}>"


def list_embed(library: Library, page: int, curator_of: tuple[bool, bool]) -> discord.Embed:
    """/motion list, one page. `curator_of`: whether the reader curates the (server's,
    bot-wide) library; curators also see the motions that became unavailable."""
    sections = []
    if library.guild_id is not None:
        sections.append(("This server", library.own, curator_of[0]))
    sections.append(("Everywhere (bot-wide)", library.bot_wide, curator_of[1]))
    parts, pages = [], 1
    for title, motions, curator in sections:
        available = [m for m in motions if m.available]
        pages = max(pages, -(-len(available) // PAGE_SIZE))
        shown = available[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        lines = [_line(m) for m in shown] or ["None on this page."]
        parts.append(f"__{title}: {len(available)}__\n" + "\n".join(lines))
        gone = [f"**{m.name}**" for m in motions if not m.available]
        if curator and gone:
            parts.append(
                "⚠️ Unavailable, their message was deleted: "
                + ", ".join(gone)[:600]
                + ". Remove them with /motion remove, or add them again."
            )
    embed = discord.Embed(title="Motion library", colour=COLOUR)
    embed.description = _fit("\n\n".join(parts), 4096)
    embed.set_footer(text=f"Page {min(page, pages)} of {pages} · use one with /animate motion:")
    return embed


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def input_gone_words(detail: str | None) -> str:
    """Why a job failed whose input message vanished (failure detail from the engine)."""
    if detail and detail.startswith("motion:"):
        name = detail.removeprefix("motion:")
        return (
            f"The message holding the motion **{name}** was deleted, so its clip couldn't be "
            "handed to the generator. Pick another motion."
        )
    if detail in ("image", "video"):
        return (
            f"The message with your {detail} was deleted (or I can no longer read it), so it "
            "couldn't be handed to the generator."
        )
    return "Discord didn't give me fresh links to your inputs, so the job couldn't start."
