"""The words for services/coaching.py's advice: what went wrong with the inputs, in plain words,
and what to change. The provider's own reason is never shown here (it is in the log)."""

from __future__ import annotations

from domain import FailureCode
from services.coaching import Advice

_WHAT_AND_FIX: dict[Advice, tuple[str, str]] = {
    Advice.FULL_BODY: (
        "it could not see the character's whole body.",
        "Use a picture where the head and body are clearly visible, not cropped, lying down or "
        "upside down, and showing as much of the body as the person in the video.",
    ),
    Advice.SEVERAL_PEOPLE: (
        "there is more than one person in the picture or the video.",
        "Use a picture of one character and a video of one person (with several, only the "
        "largest one's motion is used).",
    ),
    Advice.CUT_OR_CAMERA_MOVE: (
        "the video is not one continuous shot (a cut, or the camera moves).",
        "Use one continuous shot filmed with a still camera, trimmed to the part you want.",
    ),
    Advice.CHARACTER_TOO_SMALL: (
        "the character is too small in the picture.",
        "Crop the picture so the character fills much more of it (well over a twentieth of it).",
    ),
}

_HEAD = {
    FailureCode.INPUT: "ModelsLab refused the inputs:",
    FailureCode.PROVIDER_FAILED: "ModelsLab could not make it:",
}


def coaching_words(code: FailureCode | None, advice: Advice) -> str:
    """Why it failed and what to change, ending with how to try again."""
    what, fix = _WHAT_AND_FIX[advice]
    head = _HEAD.get(code or FailureCode.PROVIDER_FAILED, _HEAD[FailureCode.PROVIDER_FAILED])
    return f"{head} {what}\n{fix} Then run /animate again with the new files."
