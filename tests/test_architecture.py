"""House rules for production code that no linter checks: small modules and classes, and no
`type: ignore`. (The import rules are import-linter contracts in pyproject.toml: `lint-imports`.)"""

from __future__ import annotations

import ast
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 450
MAX_CLASS_LINES = 300


def production_files() -> list[Path]:
    files = [ROOT / "bot.py", ROOT / "settings.py", ROOT / "startup.py"]
    for package in ("domain", "cogs", "services", "db"):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", production_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_classes_are_small(path: Path) -> None:
    source = path.read_text()
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= MAX_CLASS_LINES, f"class {node.name} has {length} lines"


@pytest.mark.parametrize("path", production_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_type_ignore(path: Path) -> None:
    with tokenize.open(path) as handle:
        comments = [
            (tok.start[0], tok.string)
            for tok in tokenize.generate_tokens(handle.readline)
            if tok.type == tokenize.COMMENT and "type: ignore" in tok.string
        ]
    assert comments == []
