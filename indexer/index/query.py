"""The query language, checked before any backend sees a query.

Whoosh syntax: words, ``"phrases"``, ``prefix*``, ``AND``, ``OR``, ``NOT``, ``ANDNOT``, ``ANDMAYBE``,
parentheses, and ``field:word`` for the fields in :data:`FIELDS`. Whoosh's own parser never fails:
it guesses (an unknown field becomes a word, a stray operator a term), so what it would silently
reinterpret is refused here with a :class:`~indexer.errors.QueryError`.
"""

from __future__ import annotations

import re
from typing import Iterator

from ..errors import QueryError

# Fields a query may name; ``text`` is the default. Others the index stores (times, internal
# copies of the text) are not part of the language.
FIELDS = ("text", "title", "kind", "source_id")
OPERATORS = ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE")

# ``name:`` as Whoosh reads a field name (a word that starts with a letter: "10:30" is not one).
_FIELD = re.compile(r"(?:^|(?<=[\s(]))([A-Za-z_]\w*):")


def check(text: str) -> None:
    """Raise QueryError with one line when ``text`` is not a query of the language."""
    stripped = text.strip()
    if not stripped:
        raise QueryError("empty query")
    if stripped.count('"') % 2:
        raise QueryError(f"malformed query {text!r}: unclosed quote")
    outside = "".join(_outside_quotes(stripped))
    depth = 0
    for char in outside:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        raise QueryError(f"malformed query {text!r}: unbalanced parentheses")
    for name in _FIELD.findall(outside):
        if name not in FIELDS:
            raise QueryError(f"query {text!r}: no field {name!r} (fields: {', '.join(FIELDS)})")
    words = stripped.split()
    if words[-1] in OPERATORS or words[0] in OPERATORS[:2] + OPERATORS[3:]:
        raise QueryError(f"malformed query {text!r}: an operator is missing a term")
    for before, after in zip(words, words[1:], strict=False):
        if before in OPERATORS and after in OPERATORS and not (after == "NOT" and before != "NOT"):
            raise QueryError(f"malformed query {text!r}: {before} {after}")


def _outside_quotes(text: str) -> Iterator[str]:
    inside = False
    for char in text:
        if char == '"':
            inside = not inside
        elif not inside:
            yield char
