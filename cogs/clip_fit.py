"""Fitting a clip to an upload limit: a smaller re-encode (in a worker thread), made once per
limit for one delivery, removed afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from services.transcode import reencode_to_fit

log = logging.getLogger(__name__)

# Re-encodes aim a little under the limit: the limit counts the whole attachment.
REENCODE_TARGET_SHARE = 0.95


class ClipFitter:
    """Smaller copies of one clip, by upload limit. Use as an async context manager: the copies
    are deleted when the delivery is over."""

    def __init__(self, job_id: int, source: Path | None) -> None:
        self._job_id = job_id
        self._source = source
        self._made: dict[int, Path | None] = {}

    async def __aenter__(self) -> ClipFitter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(_remove_files, [p for p in self._made.values() if p])

    async def smaller_copy(self, limit: int) -> Path | None:
        """A re-encode under `limit`, or None if it cannot be done."""
        if self._source is None:
            return None
        target = int(limit * REENCODE_TARGET_SHARE)
        if target not in self._made:
            src = self._source
            dest = src.with_name(f"{src.stem}-fit-{target}.mp4")
            log.info("job %d: re-encoding the clip to fit %d bytes", self._job_id, target)
            fits = await asyncio.to_thread(reencode_to_fit, src, dest, target)
            self._made[target] = dest if fits else None
        return self._made[target]


def _remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
