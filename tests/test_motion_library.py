"""The motion library through the fake Discord: /motion add, remove and list, who may change a
library, /animate with `motion`, autocomplete, unavailable motions, audit and stats. Real SQLite,
real media served from the loopback CDN, where the bot's own posts live behind expiring links."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import discord
import pytest

from cogs.admin import AdminCog
from cogs.motion_text import motion_label
from db.jobs import JobsRepository
from domain import HostedFile, JobState, Motion
from services.media import VideoInfo
from services.motions import LIBRARY_MAX_MOTIONS, MotionError
from services.quota import Requester
from tests.control_helpers import run_command
from tests.fakes.discord_fakes import Harness
from tests.helpers import new_job
from tests.media_factory import make_image, make_video

GUILD, CHANNEL = 10, 100
ADMIN, CURATOR, MEMBER, OWNER = 900, 901, 902, 999
CURATOR_ROLE = 4242


@pytest.fixture
def bot_owner_ids() -> frozenset[int]:
    return frozenset({OWNER})


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("library-media")
    return {
        "image": make_image(folder / "hero.png"),
        "short": make_video(folder / "wave.mp4", seconds=4, fps=4),
        "long": make_video(folder / "long.mp4", seconds=12, fps=1),
        "tiny": make_video(folder / "tiny.mp4", seconds=2, fps=4),
    }


def last_reply(h: Harness) -> str:
    [*_, reply] = h.world.followups()
    assert reply.ephemeral
    return reply.text


async def stored_motion(
    h: Harness, name: str, *, guild_id: int | None = GUILD, seconds: float = 6.0, uses: int = 0
) -> Motion:
    """A motion straight through the service (no media), used `uses` times."""
    motion = await h.services.motions.add(
        guild_id=guild_id,
        actor_id=ADMIN,
        name=name,
        description=None,
        source=HostedFile(CHANNEL, h.world.next_id(), h.world.next_id()),
        filename="m.mp4",
        video=VideoInfo("mp4", 480, 640, seconds, 2000, False),
    )
    repo = JobsRepository(h.services.db)
    for _ in range(uses):
        await repo.insert(new_job(motion_id=motion.id, created_at=time.time()))
    return motion


async def library_row(h: Harness, name: str, guild_id: int | None = GUILD) -> Motion:
    library = await h.services.motions.library(guild_id)
    [motion] = [m for m in (library.own + library.bot_wide) if m.name == name]
    return motion


# --------------------------------------------------------------------------------------------------
# /motion add, then /animate with it


async def test_add_posts_the_clip_and_animate_uses_it_without_downloading(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Wave", media["short"], description="a friendly wave")

    [post] = h.world.sent_in(CHANNEL)
    assert post.file_name == "motion-wave.mp4" and "New motion **Wave**" in post.text
    assert "a friendly wave" in post.text and post.mentions_users == []
    motion = await library_row(h, "Wave")
    assert motion.source.message_id == post.message_id and motion.guild_id == GUILD
    assert (motion.video_kind, motion.video_width, motion.video_height) == ("mp4", 480, 640)
    assert motion.video_seconds == pytest.approx(4.0, abs=0.3)
    assert "Added **Wave** (4 s, image or video) for this server" in last_reply(h)
    assert not list(h.settings.media_dir.glob("motion-*"))  # the upload is not kept

    downloads = len([c for c in h.world.calls if c.startswith("cdn:")])
    await h.animate(h.interaction(1), h.upload(media["image"]), motion=f"#{motion.id}")
    [job] = await h.services.jobs.recent(1)
    assert job.state is JobState.QUEUED and job.motion_id == motion.id
    assert [c for c in h.world.calls if c.startswith("cdn:")][downloads:] == ["cdn:hero.png"]
    assert job.video_source == motion.source and job.image_source is None
    assert job.video_path == "" and job.video_seconds == motion.video_seconds
    assert h.cdn.link_works(job.video_url)  # a link fetched just now
    assert job.cost_seconds == 4.0
    assert " is queued (position 1" in last_reply(h)


async def test_a_typed_name_finds_the_motion_in_any_case(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Wave", media["short"])
    await h.animate(h.interaction(1), h.upload(media["image"]), motion="  wAVE ")
    [job] = await h.services.jobs.recent(1)
    assert job.motion_id == (await library_row(h, "Wave")).id


@pytest.mark.parametrize(
    ("clip", "options", "expected"),
    [
        ("tiny", {}, "Your video is 2.0 s long; it must be at least 3 s."),
        ("image", {}, "Your video"),
    ],
)
async def test_add_validates_the_clip_like_an_uploaded_video(
    harness: Harness, media: dict[str, Path], clip: str, options: dict[str, Any], expected: str
) -> None:
    h = harness
    await h.add_motion("Bad", media[clip], **options)
    assert expected in last_reply(h)
    assert h.world.sent_in(CHANNEL) == []
    assert (await h.services.motions.library(GUILD)).own == []


async def test_names_are_unique_per_library_in_any_case(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Wave", media["short"])
    await h.add_motion("wave", media["short"])
    assert "There is already a motion called **Wave** in this server's library" in last_reply(h)
    assert len(h.world.sent_in(CHANNEL)) == 1  # refused before anything was fetched or posted
    await h.add_motion("bad:name", media["short"])
    assert "A motion name is 1 to 32" in last_reply(h)


async def test_a_library_holds_at_least_200_motions(harness: Harness) -> None:
    h = harness
    assert LIBRARY_MAX_MOTIONS >= 200
    for i in range(LIBRARY_MAX_MOTIONS):
        await stored_motion(h, f"m{i}")
    with pytest.raises(MotionError):
        await stored_motion(h, "one-too-many")
    await stored_motion(h, "one-too-many", guild_id=GUILD + 1)  # each server its own library


# --------------------------------------------------------------------------------------------------
# Exactly one of video and motion; a motion too long for the orientation


@pytest.mark.parametrize("give", ["neither", "both"])
async def test_exactly_one_of_video_and_motion(
    harness: Harness, media: dict[str, Path], give: str
) -> None:
    h = harness
    motion = await stored_motion(h, "wave")
    video = h.upload(media["short"]) if give == "both" else None
    motion_value = f"#{motion.id}" if give == "both" else None
    await h.animate(h.interaction(1), h.upload(media["image"]), video, motion=motion_value)
    reply = last_reply(h)
    assert "`video`" in reply and "`motion`" in reply
    assert await h.services.jobs.recent(1) == []
    assert not [c for c in h.world.calls if c.startswith(("cdn:", "fetch:"))]
    usage = await h.services.quota.usage(Requester(1, GUILD))
    assert usage.used_today == 0 and usage.active_jobs == 0


async def test_a_motion_too_long_for_the_orientation_is_refused_with_the_reason(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    await h.add_motion("Spin", media["long"])
    motion = await library_row(h, "Spin")
    await h.animate(h.interaction(1), h.upload(media["image"]), motion=f"#{motion.id}")
    assert last_reply(h) == (
        "The motion **Spin** is 12 s. With orientation `image` the limit is 10 s: choose "
        "orientation `video` (up to 30 s), or another motion."
    )
    assert await h.services.jobs.recent(1) == []

    await h.animate(
        h.interaction(1), h.upload(media["image"]), orientation="video", motion=f"#{motion.id}"
    )
    [job] = await h.services.jobs.recent(1)
    assert job.orientation == "video" and job.cost_seconds == 12.0


async def test_an_unknown_motion_is_refused(harness: Harness, media: dict[str, Path]) -> None:
    h = harness
    other = await stored_motion(h, "elsewhere", guild_id=GUILD + 1)
    for value in ("nope", f"#{other.id}"):  # another server's motion is not offered here
        await h.animate(h.interaction(1), h.upload(media["image"]), motion=value)
        assert "There is no motion called" in last_reply(h)
    assert await h.services.jobs.recent(1) == []


# --------------------------------------------------------------------------------------------------
# Autocomplete


async def test_autocomplete_ranks_the_servers_own_first_then_by_uses_and_stops_at_25(
    harness: Harness,
) -> None:
    h = harness
    await stored_motion(h, "bot dance", guild_id=None, uses=9)
    await stored_motion(h, "bot jump", guild_id=None, uses=1)
    await stored_motion(h, "our spin", uses=2)
    await stored_motion(h, "our dance", uses=5)
    await stored_motion(h, "Other server dance", guild_id=GUILD + 1, uses=50)
    await stored_motion(h, "long dance", seconds=20.0)

    interaction = h.interaction(1)
    choices = await h.cog.motion_autocomplete(interaction, "DANCE")
    assert [c.name for c in choices] == [
        "our dance · 6 s · image or video",
        "long dance · 20 s · video",
        "bot dance · 6 s · image or video",
    ]
    motion = await library_row(h, "our dance")
    assert choices[0].value == f"#{motion.id}"

    names = [c.name.split(" · ")[0] for c in await h.cog.motion_autocomplete(interaction, "")]
    assert names == ["our dance", "our spin", "long dance", "bot dance", "bot jump"]

    dm = h.interaction(1, guild_id=None, channel_id=h.world.dm_channel_id(1))
    in_dm = await h.cog.motion_autocomplete(dm, "")
    assert [c.name.split(" · ")[0] for c in in_dm] == ["bot dance", "bot jump"]

    for i in range(30):
        await stored_motion(h, f"extra {i:02d}")
    many = await h.cog.motion_autocomplete(interaction, "")
    assert len(many) == 25
    assert all(len(c.name) <= 100 and len(c.value) <= 100 for c in many)


# --------------------------------------------------------------------------------------------------
# Who may change a library


async def test_a_member_without_manage_server_or_a_curator_role_is_refused(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    await stored_motion(h, "keep")
    add = h.interaction(MEMBER, command="motion add")
    await h.motion("add", add, name="mine", video=h.upload(media["short"]))
    remove = h.interaction(MEMBER, command="motion remove")
    await h.motion("remove", remove, name="keep")
    for sent in h.world.followups():
        assert "Manage Server" in sent.text and "curator role" in sent.text
        assert sent.ephemeral and sent.embed is not None
        assert sent.embed.colour == discord.Colour.red()
    assert "defer" not in h.world.calls
    assert not [c for c in h.world.calls if c.startswith("cdn:")]
    library = await h.services.motions.library(GUILD)
    assert [m.name for m in library.own] == ["keep"]
    assert await h.services.controls.audit_log(GUILD) != []  # only the stored motion's entry
    assert {e.action for e in await h.services.controls.audit_log(GUILD)} == {"motion.add"}


async def test_admins_choose_curator_roles_whose_members_may_add_and_remove(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    admin_cog = AdminCog(h.bot)
    admin = h.interaction(ADMIN, manage_guild=True, command="animate-admin")
    role = discord.Object(id=CURATOR_ROLE)
    await run_command(admin_cog, "curators add", admin, role=role)
    assert f"<@&{CURATOR_ROLE}>" in h.world.followups()[-1].text

    curator = h.interaction(CURATOR, role_ids=(CURATOR_ROLE,), command="motion add")
    await h.motion("add", curator, name="Wave", video=h.upload(media["short"]))
    assert "Added **Wave**" in last_reply(h)
    remove = h.interaction(CURATOR, role_ids=(CURATOR_ROLE,), command="motion remove")
    await h.motion("remove", remove, name="wave")
    assert "Removed **Wave**" in last_reply(h)
    assert (await h.services.motions.library(GUILD)).own == []

    await run_command(admin_cog, "curators remove", admin, role=role)
    again = h.interaction(CURATOR, role_ids=(CURATOR_ROLE,), command="motion add")
    await h.motion("add", again, name="Wave", video=h.upload(media["short"]))
    assert "curator role" in h.world.followups()[-1].text

    actions = [e.action for e in await h.services.controls.audit_log(GUILD, 10)]
    assert actions == [
        "motion.curators",
        "motion.remove",
        "motion.add",
        "motion.curators",
    ]


async def test_curator_commands_refuse_members_without_manage_server(harness: Harness) -> None:
    h = harness
    admin_cog = AdminCog(h.bot)
    member = h.interaction(MEMBER, manage_guild=False, command="animate-admin")
    await run_command(admin_cog, "curators add", member, role=discord.Object(id=CURATOR_ROLE))
    assert "Manage Server" in h.world.followups()[-1].text
    assert await h.services.motions.curator_roles(GUILD) == []


async def test_only_owners_change_the_bot_wide_library(
    harness: Harness, media: dict[str, Path]
) -> None:
    h = harness
    admin = h.interaction(ADMIN, manage_guild=True, command="motion add")
    await h.motion("add", admin, name="Everywhere", video=h.upload(media["short"]), everywhere=True)
    assert "Only the bot's owners" in h.world.followups()[-1].text
    dm = h.interaction(MEMBER, guild_id=None, channel_id=h.world.dm_channel_id(MEMBER))
    await h.motion("add", dm, name="Everywhere", video=h.upload(media["short"]))
    assert "Only the bot's owners" in h.world.followups()[-1].text
    assert (await h.services.motions.library(None)).bot_wide == []

    owner = h.interaction(OWNER, command="motion add")
    await h.motion("add", owner, name="Everywhere", video=h.upload(media["short"]), everywhere=True)
    assert "for every server and DMs" in last_reply(h)
    motion = await library_row(h, "Everywhere", None)
    assert motion.guild_id is None
    [entry] = await h.services.controls.audit_log(None)
    assert (entry.action, entry.actor_id) == ("motion.add", OWNER)
    assert entry.target == "motion:Everywhere"


# --------------------------------------------------------------------------------------------------
# /motion list, unavailable motions


async def test_list_shows_length_orientations_uses_and_who_added_it(harness: Harness) -> None:
    h = harness
    await stored_motion(h, "wave", uses=3)
    await stored_motion(h, "spin", seconds=20.0, uses=1)
    await stored_motion(h, "global", guild_id=None)
    await h.motion("list", h.interaction(MEMBER, command="motion list"))
    [sent] = h.world.followups()
    assert sent.ephemeral
    text = sent.text
    assert "This server: 2" in text and "Everywhere (bot-wide): 1" in text
    assert f"**spin · 20 s · video** · 1 use · <@{ADMIN}>" in text
    assert f"**wave · 6 s · image or video** · 3 uses · <@{ADMIN}>" in text
    assert text.index("spin") < text.index("wave") < text.index("global")


async def test_a_motion_whose_message_was_deleted(harness: Harness, media: dict[str, Path]) -> None:
    h = harness
    await h.add_motion("Wave", media["short"])
    motion = await library_row(h, "Wave")
    h.world.delete_message(motion.source.channel_id, motion.source.message_id)

    await h.animate(h.interaction(1), h.upload(media["image"]), motion=f"#{motion.id}")
    assert "The motion **Wave** is no longer available" in last_reply(h)
    assert await h.services.jobs.recent(1) == []
    assert not (await library_row(h, "Wave")).available
    assert await h.cog.motion_autocomplete(h.interaction(1), "wave") == []

    await h.motion("list", h.interaction(MEMBER, command="motion list"))
    assert "Unavailable" not in h.world.followups()[-1].text
    assert "This server: 0" in h.world.followups()[-1].text
    await h.motion("list", h.interaction(ADMIN, manage_guild=True, command="motion list"))
    told = h.world.followups()[-1].text
    assert "⚠️ Unavailable, their message was deleted: **Wave**" in told

    # The name can be used again: the new clip replaces the unavailable one.
    await h.add_motion("wave", media["short"])
    assert (await library_row(h, "wave")).available


async def test_a_motion_whose_channel_was_deleted(harness: Harness, media: dict[str, Path]) -> None:
    h = harness
    await h.add_motion("Wave", media["short"])
    h.world.delete_channel(CHANNEL)
    await h.animate(h.interaction(1, channel_id=200), h.upload(media["image"]), motion="wave")
    assert "no longer available" in last_reply(h)
    assert not (await library_row(h, "Wave")).available


async def test_when_the_bot_cannot_post_the_motion_is_not_added(
    harness: Harness, media: dict[str, Path]
) -> None:
    from tests.fakes.discord_fakes import forbidden

    h = harness
    h.world.fail_sends(CHANNEL, forbidden(), always=True)
    await h.add_motion("Wave", media["short"])
    assert "I can't post in this channel" in last_reply(h)
    assert (await h.services.motions.library(GUILD)).own == []


# --------------------------------------------------------------------------------------------------
# Stats


async def test_stats_list_the_most_used_motions(harness: Harness) -> None:
    h = harness
    await stored_motion(h, "wave", uses=3)
    await stored_motion(h, "spin", uses=5)
    await stored_motion(h, "unused")
    stats = await h.services.stats.collect(GUILD)
    assert stats.top_motions == [("spin", 5), ("wave", 3)]
    admin_cog = AdminCog(h.bot)
    await run_command(admin_cog, "stats", h.interaction(ADMIN, manage_guild=True))
    embed = h.world.followups()[-1].embed
    assert embed is not None
    [field] = [f for f in embed.fields if f.name == "Most used motions"]
    assert field.value == "**spin** × 5\n**wave** × 3"


def test_labels() -> None:
    motion = Motion(
        id=1,
        guild_id=None,
        name="wave",
        description=None,
        source=HostedFile(1, 2, 3),
        filename="m.mp4",
        video_kind="mp4",
        video_bytes=1,
        video_width=480,
        video_height=640,
        video_seconds=6.04,
        has_audio=False,
        added_by=1,
        added_at=0.0,
    )
    assert motion_label(motion) == "wave · 6 s · image or video"


async def test_a_clip_larger_than_the_bot_may_post_here_is_refused(
    harness: Harness, media: dict[str, Path]
) -> None:
    from tests.fakes.discord_fakes import too_large

    h = harness
    interaction = h.interaction(ADMIN, manage_guild=True, command="motion add")
    clip = h.upload(media["short"], size=20 * 1024 * 1024)  # fine for /animate, not to post
    await h.motion("add", interaction, name="Big", video=clip)
    assert "I can post files of at most 10 MB here" in last_reply(h)
    assert not [c for c in h.world.calls if c.startswith("cdn:")]

    h.world.fail_sends(CHANNEL, too_large())  # Discord says so itself
    await h.add_motion("Big", media["short"])
    assert "I can post files of at most 10 MB here" in last_reply(h)
    assert (await h.services.motions.library(GUILD)).own == []
