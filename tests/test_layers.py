"""The engine speaks no Discord: services/, db/ and domain/ return values (times, limits,
reasons) and the Discord layer (cogs/) words them. This scans the engine's string literals for
Discord markup and command or button names, so that it stays true.

Docstrings and other bare strings are skipped: they document the code and never reach anyone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = [*sorted((ROOT / "domain").rglob("*.py")), *sorted((ROOT / "services").rglob("*.py"))]
ENGINE += sorted((ROOT / "db").rglob("*.py"))

COMMANDS = ("animate", "animate-admin", "animate-owner", "quota", "jobs", "help")
DISCORD_TEXT = {
    "a timestamp (<t:...>)": re.compile(r"<t:"),
    "a user or role mention (<@...>)": re.compile(r"<@"),
    "a channel mention (<#...>)": re.compile(r"<#"),
    "bold or italic markdown (**, __)": re.compile(r"\*\*|__\w"),
    "a spoiler or strike (||, ~~)": re.compile(r"\|\||~~"),
    "a slash command name": re.compile(
        r"(?<![\w/.:-])/(?:" + "|".join(re.escape(c) for c in COMMANDS) + r")(?![\w-])"
    ),
    "a button name": re.compile(r"\b(?:Press|Click|Tap) [A-Z]"),
}


def _bare_strings(tree: ast.AST) -> set[int]:
    """ids of string constants that are whole statements (docstrings and the like)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def discord_text(source: str) -> list[tuple[int, str, str]]:
    """(line, kind, text) for every string literal in `source` that carries Discord text."""
    tree = ast.parse(source)
    skip = _bare_strings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in skip:
            continue
        for kind, pattern in DISCORD_TEXT.items():
            if pattern.search(node.value):
                found.append((node.lineno, kind, node.value))
    return found


def test_the_engine_is_scanned() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in ENGINE}
    assert {"services/quota.py", "services/jobs.py", "db/jobs.py", "domain/__init__.py"} <= names


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_engine_strings_carry_no_discord_text(path: Path) -> None:
    found = discord_text(path.read_text(encoding="utf-8"))
    where = [f"{path.name}:{line}: {kind}: {text!r}" for line, kind, text in found]
    assert not where, "Discord text belongs in cogs/:\n" + "\n".join(where)


@pytest.mark.parametrize(
    "source",
    [
        'x = f"frees up <t:{int(t)}:R>"',
        'x = f"<@{user_id}> is not blocked"',
        'x = f"<@&{role}> has no tier"',
        'x = ", ".join(f"<#{c}>" for c in channels)',
        'x = "**bold**"',
        'x = "Run /animate again."',
        'x = "Change it with /animate-owner cap set."',
        'x = "See /quota."',
        'x = "Press Retry to try again."',
    ],
)
def test_the_scan_finds_discord_text(source: str) -> None:
    assert discord_text(source)


@pytest.mark.parametrize(
    "source",
    [
        '"""Docstrings may name /animate and <t:...:R>."""',
        'def f():\n    """For /quota."""',
        'x = "https://modelslab.com/api/v7/jobs/help"',
        "x = 2**failures",
        'x = "Retry-After"',
        'x = "spend:80:cap600:day20412"',
        'x = "channel:5"',
    ],
)
def test_the_scan_leaves_plain_text_alone(source: str) -> None:
    assert not discord_text(source)
