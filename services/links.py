"""Fresh links for inputs kept in Discord messages.

ModelsLab fetches the inputs by URL, and Discord's signed attachment links expire after about a
day. A file the bot must be able to hand on later (a library motion, the picture or video of the
message the "Animate" menu was used on) is therefore stored as its message (`HostedFile`), and a
`LinkRefresher` fetches that message again for a freshly signed link whenever the link is needed:
when a job with such an input is submitted (services/runner/inputs.py), and when a motion is
picked. The engine defines the protocol; the Discord layer implements it with the client
(cogs/message_host.py), so the engine stays free of discord.py.
"""

from __future__ import annotations

from typing import Protocol

from domain import HostedFile


class InputGoneError(Exception):
    """The message, its channel or the attachment is gone, or the bot can no longer read it."""


class RefreshFailedError(Exception):
    """Discord could not be asked right now (an outage, a network problem): try again later."""


class LinkRefresher(Protocol):
    async def fresh_url(self, source: HostedFile) -> str:
        """A freshly signed link to the attachment. Raises InputGoneError or RefreshFailedError."""
        ...
