"""ModelsLab's failures as one exception family: the class tells the caller what to do (retry
later, tell the user, alert the operator, or never retry a submit blindly)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

EMPTY_FIELD_ERRORS: Mapping[str, tuple[str, ...]] = MappingProxyType({})

OperatorReason = Literal["invalid_key", "no_credits", "forbidden"]


class ModelsLabError(Exception):
    """Base of every error this client raises. ``message`` never contains the API key."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, http_status={self.http_status!r})"


class TransientError(ModelsLabError):
    """Try again later (network trouble, 5xx, an unusable answer to a call that is safe to
    repeat). ``retry_after`` is the provider's hint in seconds, if it gave one."""

    def __init__(
        self, message: str, *, http_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after


class RateLimitedError(TransientError):
    """The account's queue at ModelsLab is full (HTTP 429 / "Rate limit exceeded"): wait, retry."""


class InputError(ModelsLabError):
    """ModelsLab refused the user's inputs (files, prompt). ``field_errors`` maps a field name to
    its messages when the provider gave them."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        field_errors: Mapping[str, tuple[str, ...]] = EMPTY_FIELD_ERRORS,
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.field_errors = field_errors


class OperatorError(ModelsLabError):
    """The account cannot be used until the operator acts: ``reason`` is ``"invalid_key"``,
    ``"no_credits"`` or ``"forbidden"``."""

    def __init__(
        self, message: str, *, reason: OperatorReason, http_status: int | None = None
    ) -> None:
        super().__init__(message, http_status=http_status)
        self.reason: OperatorReason = reason

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, reason={self.reason!r}, "
            f"http_status={self.http_status!r})"
        )


class OutcomeUnknownError(ModelsLabError):
    """Submit only: the request may have reached ModelsLab but no usable answer came back. The job
    may exist and be billed, so it must not be resubmitted blindly."""
