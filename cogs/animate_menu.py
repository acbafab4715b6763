"""The "Animate" message menu: animate the picture in a message without uploading anything.

On a message with an image attachment it opens a private picker: a motion (the library's, most
used first, and the video in the message when it has one), the orientation (by default what the
motion allows), the mode, an optional prompt (a button opening a form), Start and Cancel. Start
runs exactly the /animate path (cogs/animate.py `start_and_confirm`): the same checks, one-tap
fixes (cogs/fix_offer.py), quota, receipt, status message, buttons and delivery.

The message's attachments are inputs the bot can fetch again: the job stores the message, and the
runner asks Discord for fresh links when it submits (services/runner/inputs.py), so such a job
does not depend on links that expire while it waits. Where the bot cannot read the message back
(a user install in a server without the bot), the links are used as they are, like uploads.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from cogs import fix_text
from cogs.animate import AnimateCog
from cogs.animate_inputs import AnimateRequest, FixOffered
from cogs.errors import handle_error
from cogs.message_host import MessageLinks
from cogs.motion_text import motion_label
from domain import HostedFile, Mode, Motion, Orientation
from services.links import InputGoneError, RefreshFailedError
from services.media import PROMPT_MAX_CHARS
from services.motions import MotionService, allowed_orientations

if TYPE_CHECKING:
    from cogs.app_bot import AppBot

log = logging.getLogger(__name__)

MENU_NAME = "Animate"
# The picker answers for this long; its interaction's token lives 15 minutes.
PICKER_TIMEOUT_SECONDS = 600.0
MESSAGE_VIDEO = "message-video"
SELECT_MAX_OPTIONS = 25
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov")

NO_IMAGE = (
    "This message has no picture to animate. Use **Animate** on a message with a JPG or PNG "
    "attachment, or use /animate."
)
NOTHING_TO_MOVE = (
    "There are no motions in the library yet, and this message has no video. Add a video to "
    "your message, use /animate with your own clip, or ask a curator to add motions "
    "(/motion add)."
)


def first_attachment(message: discord.Message, kind: str) -> discord.Attachment | None:
    """The message's first image (kind "image") or video (kind "video") attachment."""
    suffixes = IMAGE_SUFFIXES if kind == "image" else VIDEO_SUFFIXES
    for attachment in message.attachments:
        content_type = (attachment.content_type or "").split(";")[0].strip().lower()
        if content_type.startswith(f"{kind}/") or attachment.filename.lower().endswith(suffixes):
            return attachment
    return None


class AnimateMenu:
    """The context menu and what its pickers start jobs with."""

    def __init__(self, cog: AnimateCog, motions: MotionService, links: MessageLinks) -> None:
        self.cog = cog
        self.motions = motions
        self.links = links
        menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.open)
        menu = app_commands.allowed_installs(guilds=True, users=True)(menu)
        self.context_menu = app_commands.allowed_contexts(
            guilds=True, dms=True, private_channels=True
        )(menu)

    async def open(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Open the picker for the message's picture (or say why not)."""
        image = first_attachment(message, "image")
        if image is None:
            await interaction.response.send_message(NO_IMAGE, ephemeral=True)
            return
        video = first_attachment(message, "video")
        room = SELECT_MAX_OPTIONS - (video is not None)
        motions = await self.motions.most_used(interaction.guild_id, room)
        if video is None and not motions:
            await interaction.response.send_message(NOTHING_TO_MOVE, ephemeral=True)
            return
        picker = Picker(self, interaction, message, image, video, motions)
        await interaction.response.send_message(picker.summary(), view=picker, ephemeral=True)

    async def request_for(self, picker: Picker) -> AnimateRequest:
        """What Start asks for: the picture (and maybe video) of the message, or a motion."""
        message = picker.message
        image_source: HostedFile | None = HostedFile(
            message.channel.id, message.id, picker.image.id
        )
        video_source: HostedFile | None = None
        if picker.choice == MESSAGE_VIDEO and picker.video is not None:
            video_source = HostedFile(message.channel.id, message.id, picker.video.id)
        if image_source is not None and not await self._readable(image_source):
            image_source = video_source = None
        return AnimateRequest(
            image=picker.image,
            video=picker.video if picker.choice == MESSAGE_VIDEO else None,
            orientation=picker.orientation,
            mode=picker.mode,
            prompt=picker.prompt,
            motion=None if picker.choice == MESSAGE_VIDEO else picker.choice,
            image_source=image_source,
            video_source=video_source,
        )

    async def _readable(self, source: HostedFile) -> bool:
        """Whether the bot can fetch the message again (not so for a user install in a server
        without the bot): only then can its links be renewed."""
        try:
            await self.links.fresh_url(source)
        except (InputGoneError, RefreshFailedError) as exc:
            log.info("message %d can't be read back (%s); using its links", source.message_id, exc)
            return False
        return True


class Picker(discord.ui.View):
    """One member's private choices for animating one message's picture."""

    def __init__(
        self,
        menu: AnimateMenu,
        origin: discord.Interaction,
        message: discord.Message,
        image: discord.Attachment,
        video: discord.Attachment | None,
        motions: list[Motion],
    ) -> None:
        super().__init__(timeout=PICKER_TIMEOUT_SECONDS)
        self.menu = menu
        self.origin = origin  # the menu's interaction: the picker is its (ephemeral) reply
        self.owner_id = origin.user.id
        self.message = message
        self.image = image
        self.video = video
        self.motions = {f"#{m.id}": m for m in motions}
        self.choice = MESSAGE_VIDEO if video is not None else f"#{motions[0].id}"
        self.orientation = self.allowed()[0]
        self.mode = Mode.STD
        self.prompt = ""
        options = [discord.SelectOption(label="The video in this message", value=MESSAGE_VIDEO)]
        options = options if video is not None else []
        options += [
            discord.SelectOption(label=motion_label(m), value=k) for k, m in self.motions.items()
        ]
        self.pick_motion.options = options[:SELECT_MAX_OPTIONS]
        self._mark_defaults()

    # --- state ----------------------------------------------------------------------------------
    def allowed(self) -> tuple[Orientation, ...]:
        """Orientations the chosen motion allows (the message's video: either, checked later)."""
        motion = self.motions.get(self.choice)
        if motion is None:
            return (Orientation.IMAGE, Orientation.VIDEO)
        return allowed_orientations(motion.video_seconds)

    def summary(self) -> str:
        motion = self.motions.get(self.choice)
        what = "the video in this message" if motion is None else f"**{motion_label(motion)}**"
        prompt = f"“{self.prompt[:200]}”" if self.prompt else "the default"
        return (
            f"Animate the picture in {self.message.jump_url}\n"
            f"Motion: {what}\nOrientation: `{self.orientation}` · Mode: `{self.mode}`\n"
            f"Prompt: {prompt}\nPress **Start** when ready."
        )

    def _mark_defaults(self) -> None:
        for select, value in (
            (self.pick_motion, self.choice),
            (self.pick_orientation, self.orientation.value),
            (self.pick_mode, self.mode.value),
        ):
            for option in select.options:
                option.default = option.value == value

    async def _show(self, interaction: discord.Interaction) -> None:
        self._mark_defaults()
        await interaction.response.edit_message(content=self.summary(), view=self)

    async def on_timeout(self) -> None:
        """Take the dead components away (the reply can be edited for 15 minutes)."""
        try:
            await self.origin.edit_original_response(
                content="This picker timed out; use **Animate** again.", view=None
            )
        except discord.HTTPException as exc:
            log.info("could not close a timed-out picker (code %d)", exc.code)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("This picker is someone else's.", ephemeral=True)
        return False

    # --- what a press changes -------------------------------------------------------------------
    async def choose_motion(self, interaction: discord.Interaction, value: str) -> None:
        if value == MESSAGE_VIDEO or value in self.motions:
            self.choice = value
            if self.orientation not in self.allowed():
                self.orientation = self.allowed()[0]
        await self._show(interaction)

    async def choose_orientation(self, interaction: discord.Interaction, value: str) -> None:
        self.orientation = Orientation(value)
        await self._show(interaction)

    async def choose_mode(self, interaction: discord.Interaction, value: str) -> None:
        self.mode = Mode(value)
        await self._show(interaction)

    async def set_prompt(self, interaction: discord.Interaction, text: str) -> None:
        self.prompt = text.strip()
        await self._show(interaction)

    async def start(self, interaction: discord.Interaction) -> None:
        """Run /animate's path with these choices; on a refusal the picker stays for a change."""
        await interaction.response.edit_message(content="⏳ Checking the picture…", view=None)
        try:
            request = await self.menu.request_for(self)
            job = await self.menu.cog.start_and_confirm(interaction, request, offer_fixes=True)
        except FixOffered:  # the offer, a follow-up, is the answer now
            self.stop()
            await interaction.edit_original_response(content=fix_text.MENU_OFFERED, view=None)
            return
        except Exception as exc:  # noqa: BLE001 - the boundary: handle_error words or logs it
            await handle_error(interaction, exc)
            await interaction.edit_original_response(content=self.summary(), view=self)
            return
        self.stop()
        await interaction.edit_original_response(content=f"Started job #{job.id}.", view=None)

    async def cancel(self, interaction: discord.Interaction) -> None:
        self.stop()
        await interaction.response.edit_message(
            content="Cancelled: nothing was started.", view=None
        )

    # --- the components -------------------------------------------------------------------------
    @discord.ui.select(cls=discord.ui.Select, placeholder="Motion", row=0)
    async def pick_motion(
        self, interaction: discord.Interaction, select: discord.ui.Select[Picker]
    ) -> None:
        await self.choose_motion(interaction, select.values[0])

    @discord.ui.select(
        cls=discord.ui.Select,
        placeholder="Orientation",
        row=1,
        options=[
            discord.SelectOption(
                label="image: faces as in the picture (up to 10 s)", value="image"
            ),
            discord.SelectOption(label="video: turns like the person in the video", value="video"),
        ],
    )
    async def pick_orientation(
        self, interaction: discord.Interaction, select: discord.ui.Select[Picker]
    ) -> None:
        await self.choose_orientation(interaction, select.values[0])

    @discord.ui.select(
        cls=discord.ui.Select,
        placeholder="Mode",
        row=2,
        options=[
            discord.SelectOption(label="std: about 720p", value="std"),
            discord.SelectOption(label="pro: about 1080p, costs more quota", value="pro"),
        ],
    )
    async def pick_mode(
        self, interaction: discord.Interaction, select: discord.ui.Select[Picker]
    ) -> None:
        await self.choose_mode(interaction, select.values[0])

    @discord.ui.button(label="Prompt…", style=discord.ButtonStyle.secondary, row=3)
    async def prompt_button(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.send_modal(PromptForm(self))

    @discord.ui.button(label="Start", style=discord.ButtonStyle.success, row=3)
    async def start_button(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await self.start(interaction)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary, row=3)
    async def cancel_button(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await self.cancel(interaction)


class PromptForm(discord.ui.Modal, title="Prompt (optional)"):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Describe the scene or style",
        style=discord.TextStyle.paragraph,
        required=False,
        max_length=PROMPT_MAX_CHARS,
    )

    def __init__(self, picker: Picker) -> None:
        super().__init__()
        self.picker = picker
        self.text.default = picker.prompt or None

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.picker.set_prompt(interaction, self.text.value)


async def setup(bot: AppBot) -> None:
    cog = bot.get_cog(AnimateCog.__cog_name__)
    if not isinstance(cog, AnimateCog):
        raise RuntimeError("load cogs.animate before cogs.animate_menu")
    menu = AnimateMenu(cog, bot.services.motions, MessageLinks(bot))
    bot.tree.add_command(menu.context_menu)


async def teardown(bot: AppBot) -> None:
    bot.tree.remove_command(MENU_NAME, type=discord.AppCommandType.message)
