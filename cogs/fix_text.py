"""The words of one-tap fixes (cogs/fix_offer.py): what is wrong, what each button does and costs,
and the short answers to a press. Read on phones: short lines, the important word first."""

from __future__ import annotations

from services.fixes import Fix, FixKind, FixPlan, Problem, Remedy
from services.media import ImageInfo, VideoInfo

OFFER_MINUTES = 15

_PROBLEMS = {
    Problem.VIDEO_TOO_LONG: "the video is longer than allowed ({video_seconds:.1f} s)",
    Problem.VIDEO_TOO_BIG: "the video is larger than 3850 px ({width}×{height})",
    Problem.VIDEO_TOO_SMALL: "the video is smaller than 340 px ({width}×{height})",
    Problem.IMAGE_TOO_SMALL: "the picture is smaller than 300 px ({image_width}×{image_height})",
    Problem.IMAGE_ASPECT: "the picture is too long and thin ({image_width}×{image_height})",
}

OFFER_GONE = (
    "**Offer gone**: offers last 15 minutes and end when I restart. Nothing was sent.\n"
    "Run /animate (or **Animate**) again."
)
NOT_YOURS = "Only the person who asked can use this offer."
OFFER_USED = "This offer was already used. Nothing was sent."
OFFER_EXPIRED = "This offer has expired (15 minutes). Nothing was sent."
FALLBACK_NOTE = "The fixed files, as sent to the generator:"
MENU_OFFERED = "**Not started yet**: see the fix offer below."


def fix_label(fix: Fix, orientation_switched: bool = False) -> str:
    if fix.kind is FixKind.TRIM:
        switched = " (orientation video)" if orientation_switched else ""
        return f"Use the first {fix.seconds:g} s{switched}"
    return {
        FixKind.SWITCH_ORIENTATION: "Switch to orientation video",
        FixKind.DOWNSCALE: "Downscale",
        FixKind.UPSCALE: "Upscale",
        FixKind.UPSCALE_IMAGE: "Upscale",
        FixKind.PAD: "Pad",
        FixKind.CROP: "Crop",
    }[fix.kind]


def button_label(remedy: Remedy, plan: FixPlan | None = None) -> str:
    """The button's name: the repairs that tell it apart from the plan's other buttons (all of
    them when there is one button), so two buttons never read the same."""
    switched = remedy.orientation.value == "video" and remedy.fix(FixKind.TRIM) is not None
    others = [r for r in (plan.remedies if plan else ()) if r is not remedy]
    own = [f for f in remedy.fixes if any(f not in r.fixes for r in others)] or [remedy.fixes[0]]
    return " + ".join(fix_label(f, switched and f.kind is FixKind.TRIM) for f in own)[:80]


def fix_words(fix: Fix) -> str:
    size = f"{fix.size[0]}×{fix.size[1]}" if fix.size else ""
    return {
        FixKind.TRIM: f"keeps the first {fix.seconds or 0:g} s of the video",
        FixKind.SWITCH_ORIENTATION: "uses orientation `video` (the character turns as in it)",
        FixKind.DOWNSCALE: f"makes the video smaller ({size})",
        FixKind.UPSCALE: f"makes the video larger ({size})",
        FixKind.UPSCALE_IMAGE: f"makes the picture larger ({size}); it may look softer",
        FixKind.PAD: f"adds black bars to the picture ({size})",
        FixKind.CROP: f"cuts the picture's edges ({size}); check the character stays in",
    }[fix.kind]


def offer_text(plan: FixPlan, image: ImageInfo, video: VideoInfo, costs: list[float]) -> str:
    facts = {
        "video_seconds": video.duration_seconds,
        "width": video.width,
        "height": video.height,
        "image_width": image.width,
        "image_height": image.height,
    }
    wrong = "; ".join(_PROBLEMS[p].format(**facts) for p in plan.problems)
    lines = [f"I can't send this as it is: {wrong}. I can fix it here:"]
    for remedy, cost in zip(plan.remedies, costs, strict=True):
        what = ", ".join(fix_words(f) for f in remedy.fixes)
        lines.append(f"**{button_label(remedy, plan)}**: {what}. Costs {cost:g} s of quota.")
    lines.append(
        f"Nothing is sent or charged until you press one. This offer lasts {OFFER_MINUTES} minutes."
    )
    return "\n".join(lines)


def kept_text(user_id: int, what: str) -> str:
    """The public message that keeps a repaired file, so the generator can fetch it later."""
    return f"🛠️ **Fixed {what}** for <@{user_id}>'s animation: this is what the generator gets."


def too_large_text(what: str, size_bytes: int, limit_bytes: int) -> str:
    mb = 1024 * 1024
    return (
        f"**Too large to keep**: the fixed {what} is {size_bytes / mb:.1f} MB; "
        f"this channel takes {limit_bytes / mb:.0f} MB.\n"
        "Trim or compress it, then run /animate again. Nothing was charged."
    )
