"""What a finished job costs: the length of the clip that actually arrived, not the reservation.

A job reserves its cost when it is queued (services/quota.py `job_cost`). When the clip is
delivered the engine probes it and charges its real length, rounded up to the whole second,
times the pro multiplier, but never more than was reserved. A clip that did not reach the member
costs nothing. When the length cannot be measured (only the provider's link was handed over, or
the file does not probe), the reservation is charged, which is the most the member agreed to.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from domain import Job, Mode
from services.media import MediaError, probe_video

log = logging.getLogger(__name__)

# A clip of 5.0000001 s is a 5 s clip, not a 6 s one.
_ROUNDING_SLACK = 1e-3


def clip_seconds(path: Path | None) -> float | None:
    """The delivered clip's length in seconds, or None when it cannot be measured.
    Sync (reads the file with PyAV): run it in a thread."""
    if path is None:
        return None
    try:
        return probe_video(path).duration_seconds
    except (MediaError, OSError) as exc:
        log.warning("clip %s could not be measured (%s); charging the reservation", path, exc)
        return None


def charge_for(job: Job, seconds: float | None, pro_multiplier: float, *, delivered: bool) -> float:
    """Seconds of quota a finished job is charged."""
    if not delivered:
        return 0.0
    if seconds is None:
        return job.cost_seconds
    whole = max(math.ceil(seconds - _ROUNDING_SLACK), 0)
    factor = pro_multiplier if job.mode == Mode.PRO else 1.0
    return min(float(whole) * factor, job.cost_seconds)
