"""What /animate (and the Animate menu) check before anything is downloaded or charged: the
request's options, declared sizes, and the errors that name the input at fault; plus downloading
an input and publishing a converted image."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord

from domain import HostedFile, Mode, Motion, Orientation
from services.downloads import DownloadError, HostAllowlist, TooLargeError, download_to_file
from services.media import (
    IMAGE_MAX_BYTES,
    VIDEO_MAX_BYTES,
    MediaError,
    MediaLimitError,
    validate_prompt,
)
from services.modelslab import ModelsLabClient

if TYPE_CHECKING:
    pass


# Uploads come from Discord's CDN; 100 MB at a modest 2 MB/s still fits well inside this.
DOWNLOAD_TIMEOUT_SECONDS = 120.0
_MB = 1024 * 1024

#: Gives a public URL for a local PNG (the provider fetches inputs by URL). Needed for WebP
#: uploads, which are converted to PNG; without one, WebP is refused with a clear message.
PublishImage = Callable[[Path], Awaitable[str]]

_FIXES = {
    "image": "Save it as a JPG or make it smaller.",
    "video": "Compress or trim it.",
}


class ChooseOneVideoError(MediaError):
    """Neither or both of `video` and `motion` were given."""

    def __init__(self, both: bool) -> None:
        text = (
            "Give either `video` (your own clip) or `motion` (one from the library), not both."
            if both
            else "Give the motion as `video` (upload a clip) or as `motion` (pick one from the "
            "library): one of the two."
        )
        super().__init__(text, "video")


class FixOffered(Exception):
    """The inputs can be repaired: a one-tap fix was offered instead (cogs/fix_offer.py)."""


class InputDownloadError(DownloadError):
    """One of the user's uploads could not be fetched from Discord; names which one."""

    def __init__(self, input_name: str, cause: DownloadError) -> None:
        self.input_name = input_name
        super().__init__(f"Your {input_name} couldn't be fetched from Discord. {cause}")


@dataclass(frozen=True)
class AnimateRequest:
    """The options of one /animate call (or of the Animate menu's picker)."""

    image: discord.Attachment
    video: discord.Attachment | None
    orientation: Orientation
    mode: Mode
    prompt: str
    motion: str | None = None  # a library motion, by name or `#id`, instead of `video`
    # The messages holding the attachments, when they can be fetched again (the Animate menu).
    image_source: HostedFile | None = None
    video_source: HostedFile | None = None


@dataclass(frozen=True)
class PickedMotion:
    """A library motion with a link to its clip fetched just now."""

    motion: Motion
    url: str


def _size_text(size: int, limit: int) -> str:
    """Megabytes with enough decimals that a value just over the limit reads as over it."""
    for decimals in range(1, 7):
        text = f"{size / _MB:.{decimals}f}"
        if float(text) > limit / _MB:
            return text
    return f"{size / _MB:.6f}"


def too_large(input_name: str, size: int | None, limit: int) -> MediaLimitError:
    """The refusal for an upload over its limit (size None: it sent more than it declared)."""
    found = f"is {_size_text(size, limit)} MB" if size else "is larger than allowed"
    return MediaLimitError(
        f"Your {input_name} {found}; the limit is {limit // _MB} MB. {_FIXES[input_name]}",
        input_name,
    )


def check_declared_sizes(image: discord.Attachment, video: discord.Attachment | None) -> None:
    """Refuse oversized uploads from Discord's own size figure, before downloading anything."""
    if image.size > IMAGE_MAX_BYTES:
        raise too_large("image", image.size, IMAGE_MAX_BYTES)
    if video is not None and video.size > VIDEO_MAX_BYTES:
        raise too_large("video", video.size, VIDEO_MAX_BYTES)


def check_one_video(request: AnimateRequest) -> None:
    """Exactly one of `video` and `motion`."""
    if (request.video is None) == (request.motion is None):
        raise ChooseOneVideoError(both=request.video is not None)


def clean_prompt(prompt: str | None) -> str:
    """The user's prompt, checked; empty means the configured default (JobService applies it)."""
    text = (prompt or "").strip()
    if text:
        validate_prompt(text)
    return text


async def download_input(
    session: aiohttp.ClientSession,
    allowlist: HostAllowlist,
    input_name: str,
    url: str,
    dest: Path,
    max_bytes: int,
) -> None:
    """Download one of the member's attachments, capped; refusals name the input."""
    try:
        await download_to_file(
            session,
            url,
            dest,
            max_bytes=max_bytes,
            allowlist=allowlist,
            timeout=DOWNLOAD_TIMEOUT_SECONDS,
        )
    except TooLargeError as exc:
        raise too_large(input_name, exc.size_bytes, max_bytes) from exc
    except DownloadError as exc:
        raise InputDownloadError(input_name, exc) from exc


def _remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def modelslab_publisher(client: ModelsLabClient) -> PublishImage:
    """Publish a local PNG through ModelsLab's ``base64_to_url``; the URL lasts about 24 hours."""

    async def publish(path: Path) -> str:
        data = await asyncio.to_thread(path.read_bytes)
        return await client.upload_image(data, mime_type="image/png")

    return publish
