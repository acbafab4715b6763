"""The job runner: the loop (loop.py), the provider gate (gate.py), the steps of a job
(steps.py) and their outcomes (outcomes.py), the one writer of job rows (recorder.py), and
housekeeping (housekeeping.py)."""

from services.runner.loop import Runner
from services.runner.steps import OPERATOR_REASONS

__all__ = ["OPERATOR_REASONS", "Runner"]
