"""Turn the repositories' `?` and `:name` parameters into PostgreSQL's numbered `$1, $2 ...`.

String literals and `::type` casts are left alone. A name used twice gets one number, so a
statement passes each value once. Translations are cached: the repositories' SQL is a small, fixed
set of strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

# A quoted literal (kept), a cast (kept), a named parameter, or a positional one.
_TOKEN = re.compile(r"'(?:[^']|'')*'|::|:([A-Za-z_][A-Za-z0-9_]*)|\?")


@lru_cache(maxsize=512)
def numbered(sql: str) -> tuple[str, tuple[str, ...] | int]:
    """(the statement with $n parameters, the names in $n order) for `:name` statements, or
    (statement, how many) for `?` statements."""
    names: list[str] = []
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        text = match.group(0)
        if text.startswith("'") or text == "::":
            return text
        name = match.group(1)
        if name is None:
            positional += 1
            return f"${positional}"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _TOKEN.sub(replace, sql)
    if names and positional:
        raise ValueError("a statement mixes ? and :name parameters")
    return text, (tuple(names) if names else positional)


def bind(sql: str, params: Sequence[Any] | dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement for asyncpg and its arguments in order."""
    text, shape = numbered(sql)
    if isinstance(params, dict):
        if not isinstance(shape, tuple):
            raise ValueError("named values given for a statement with ? parameters")
        return text, [params[name] for name in shape]
    if isinstance(shape, tuple) and shape:
        raise ValueError("positional values given for a statement with :name parameters")
    values = list(params)
    if len(values) != (shape if isinstance(shape, int) else 0):
        raise ValueError(f"statement takes {shape} values, got {len(values)}")
    return text, values
