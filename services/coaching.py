"""Why ModelsLab refused or failed a job, mapped to Kling's own input advice.

The provider's words are free text (and not documented), so the mapping matches the phrases it and
Kling are known or likely to use. The result is an advice code: the Discord layer words it for the
member (cogs/coaching_text.py); the raw reason stays in the log and on the job row, never in the
message. An unknown reason maps to None and is shown as before.
"""

from __future__ import annotations

import enum
import re

from domain import FailureCode


class Advice(enum.StrEnum):
    """What to change in the inputs, after Kling's input guidance."""

    FULL_BODY = "full_body"  # head and body not clearly visible (or cropped, or an odd pose)
    SEVERAL_PEOPLE = "several_people"  # more than one person in the picture or the video
    CUT_OR_CAMERA_MOVE = "cut_or_camera_move"  # the video is not one continuous, steady shot
    CHARACTER_TOO_SMALL = "character_too_small"  # the character fills too little of the picture


# Only failures that are about the inputs can be coached.
COACHABLE = frozenset({FailureCode.INPUT, FailureCode.PROVIDER_FAILED})

_PERSON = r"(?:person|people|persons|human|humans|character|characters|subject|subjects|figure)"

# First match wins: "multiple people detected" is several people, not "no full body";
# "the person is too small" is too small, not "no person".
_RULES: tuple[tuple[Advice, re.Pattern[str]], ...] = (
    (
        Advice.SEVERAL_PEOPLE,
        re.compile(
            rf"(?:multiple|several|more than one|too many|two or more|\b2\+?)\s+(?:\w+\s+)?"
            rf"{_PERSON}|only one {_PERSON}|single {_PERSON} (?:is )?required|"
            r"multi[- ]?(?:person|people|human|subject)",
            re.IGNORECASE,
        ),
    ),
    (
        Advice.CHARACTER_TOO_SMALL,
        re.compile(
            rf"{_PERSON}\s+(?:\w+\s+){{0,5}}(?:too small|too far)|"
            r"(?:area|proportion|ratio|size) (?:of the )?(?:\w+ )?(?:is )?(?:too )?(?:small|low)|"
            r"less than 5\s?%|occup",
            re.IGNORECASE,
        ),
    ),
    (
        Advice.CUT_OR_CAMERA_MOVE,
        re.compile(
            r"scene (?:cut|change)|shot (?:cut|change|transition)|hard cut|"
            r"\bcuts? (?:detected|in the|between)|(?:contains|has|with) (?:a |multiple )?cuts\b|"
            r"(?:scene|shot) transition|"
            r"camera (?:move|moves|movement|motion|shake|pan)|moving camera|"
            r"not (?:a )?continuous|discontinu",
            re.IGNORECASE,
        ),
    ),
    (
        Advice.FULL_BODY,
        re.compile(
            rf"full[- ]?body|whole body|half[- ]?body|upper[- ]?body|body (?:is )?(?:not|in)|"
            rf"(?:no|not|cannot|could not|couldn't|failed to|unable to) (?:\w+\s+){{0,2}}"
            rf"(?:detect|find|recogni[sz]e|identify)\w* (?:a |any |the )?(?:\w+ )?"
            rf"(?:{_PERSON}|body|pose|face|head|skeleton|keypoints?)|"
            rf"no (?:valid |visible )?(?:{_PERSON}|body|pose|face|head|skeleton|keypoints?)\b|"
            r"(?:pose|keypoint|skeleton|body) (?:detection|estimation) failed|"
            r"head (?:is )?not visible|cut off|cropped|lying|upside[- ]down",
            re.IGNORECASE,
        ),
    ),
)


def advice_for(code: FailureCode | None, detail: str | None) -> Advice | None:
    """The advice for a provider refusal or failure, or None when the reason is not known."""
    if code not in COACHABLE or not detail:
        return None
    for advice, pattern in _RULES:
        if pattern.search(detail):
            return advice
    return None
