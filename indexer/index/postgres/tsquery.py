"""The query language (:mod:`indexer.index.query`) translated into a PostgreSQL ``tsquery``.

Grammar and precedence follow Whoosh's default parser: ``ANDNOT``/``ANDMAYBE`` bind tightest, then
``NOT``, ``AND``, ``OR``, and words side by side are ANDed last (``a b OR c d`` is
``a AND (b OR c) AND d``). Leaves are words (stemmed), ``"phrases"`` (``<->``), ``prefix*``
(``:*`` over stems and unstemmed words), ``title:``/``text:`` words and ``kind:``/``source_id:``
values (matched whole, as Whoosh's ID fields). Each word leaf is
normalised by PostgreSQL itself (``phraseto_tsquery``), so query and index stem alike; a bare word
or phrase is also looked for in its normal forms (``14`` as "fourteen", :mod:`.forms`), as Whoosh
searches its ``norm`` and ``aliases`` fields beside ``text``; a leaf of stop words only drops out, as in Whoosh. Wildcards inside a word (``te?t``) search the prefix before
the first wildcard: tsquery has prefixes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Union

from ...errors import QueryError
from ..query import OPERATORS, check
from . import forms

FIELDS = {"text": "A", "title": "C"}  # weights, see schema.DOCUMENT
ID_FIELDS = ("kind", "source_id")
# A bare word searches the text and the normal forms of the text and of the aligned articles'
# spellings, as Whoosh's MultifieldParser searches text, norm and aliases.
DEFAULT_WEIGHTS = "AB"
NORMAL = "B"
UNSTEMMED = "D"

_TOKEN = re.compile(
    r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<phrase>"[^"]*")|(?P<field>[A-Za-z_]\w*):(?=[^\s])|(?P<word>[^\s()"]+))'
)
_LEXEME = re.compile(r"'(?:[^']|'')*'")


@dataclass
class Leaf:
    text: str
    kind: str  # "word", "phrase", "prefix" or "id" (a kind: or source_id: value)
    weights: str
    tsquery: Optional[str] = None  # filled by compile(); None when only stop words
    lexemes: list[str] = field(default_factory=list)  # as PostgreSQL's parser made them
    normal: list[str] = field(default_factory=list)  # normal forms (weight B), forms.normal_tokens
    headline: Optional[str] = None  # the part of ``tsquery`` that marks words in the text


@dataclass
class Node:
    op: str  # "and", "or", "not", "andnot", "andmaybe"
    children: list["Query"]


Query = Union[Leaf, Node]


class _Parser:
    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        for match in _TOKEN.finditer(text):
            kind = match.lastgroup
            if kind is None:
                continue
            value = match.group(kind)
            if kind == "word" and value in OPERATORS:
                kind = value
            self.tokens.append((kind, value))
        self.at = 0

    def peek(self) -> Optional[str]:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def query(self, weights: str = DEFAULT_WEIGHTS) -> Query:
        parts = []
        while self.peek() not in (None, "close"):
            if self.peek() in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
                self.take()  # a stray operator, as Whoosh ignores it
                continue
            parts.append(self.or_expr(weights))
        return parts[0] if len(parts) == 1 else Node("and", parts)  # no parts: nothing to search

    def or_expr(self, weights: str) -> Query:
        parts = [self.and_expr(weights)]
        while self.peek() == "OR" and self._operand_follows():
            self.take()
            parts.append(self.and_expr(weights))
        return parts[0] if len(parts) == 1 else Node("or", parts)

    def and_expr(self, weights: str) -> Query:
        parts = [self.not_expr(weights)]
        while self.peek() == "AND" and self._operand_follows():
            self.take()
            parts.append(self.not_expr(weights))
        return parts[0] if len(parts) == 1 else Node("and", parts)

    def not_expr(self, weights: str) -> Query:
        if self.peek() == "NOT" and self._operand_follows():
            self.take()
            return Node("not", [self.not_expr(weights)])
        return self.andnot_expr(weights)

    def andnot_expr(self, weights: str) -> Query:
        node = self.atom(weights)
        while self.peek() in ("ANDNOT", "ANDMAYBE") and self._operand_follows():
            op = self.take()[0].lower()
            node = Node(op, [node, self.atom(weights)])
        return node

    def _operand_follows(self) -> bool:
        return self.at + 1 < len(self.tokens) and self.tokens[self.at + 1][0] not in ("close",)

    def atom(self, weights: str) -> Query:
        kind, value = self.take()
        if kind == "open":
            inner = self.query(weights)
            if self.peek() == "close":
                self.take()
            return inner
        if kind == "field":
            if self.peek() in (None, "close"):
                return Leaf(value, "word", weights)
            if value in ID_FIELDS:
                inner = self.atom(weights)
                return Leaf(f"#{value}:{_leaf_text(inner)}", "id", "")
            return self.atom(FIELDS.get(value, weights))
        if kind == "phrase":
            return Leaf(value.strip('"'), "phrase", weights)
        if kind in OPERATORS:
            return Leaf(value.lower(), "word", weights)  # an operator with nothing to join is a word
        if "*" in value or "?" in value:
            stem = re.split(r"[*?]", value, maxsplit=1)[0]
            return Leaf(stem, "prefix", weights) if stem else Leaf(value.strip("*?"), "word", weights)
        return Leaf(value, "word", weights)


def _leaf_text(query: Query) -> str:
    return " ".join(leaf.text for leaf in leaves(query))


def parse(text: str) -> Query:
    """The query's syntax tree; malformed queries raise :class:`QueryError` (:func:`indexer.index.query.check`)."""
    check(text)
    return _Parser(text.replace("\x00", "")).query()  # PostgreSQL text cannot hold NUL


def leaves(query: Query) -> list[Leaf]:
    if isinstance(query, Leaf):
        return [query]
    return [leaf for child in query.children for leaf in leaves(child)]


def normalise(conn, query: Query) -> None:
    """Give each leaf its tsquery, stemmed and stop-worded by PostgreSQL (one round trip)."""
    found = [leaf for leaf in leaves(query) if leaf.kind != "id"]
    for leaf in leaves(query):
        if leaf.kind == "id":
            leaf.tsquery = leaf.headline = forms.quote(leaf.text)
    configs = ["simple" if leaf.kind == "prefix" else "english" for leaf in found]
    rows = conn.execute(
        "SELECT phraseto_tsquery(config::regconfig, text)::text FROM unnest(%s::text[], %s::text[])"
        " WITH ORDINALITY AS leaf(text, config, n) ORDER BY n",
        ([leaf.text for leaf in found], configs),
    ).fetchall()
    for leaf, (tsquery,) in zip(found, rows):
        if leaf.kind in ("word", "phrase") and NORMAL in leaf.weights:
            _add_normal_forms(leaf, tsquery)
            continue
        if not tsquery:
            continue
        leaf.lexemes = [lexeme[1:-1].replace("''", "'") for lexeme in _LEXEME.findall(tsquery)]
        if leaf.kind == "prefix":
            # One word: among stems and unstemmed words; several ("o'brien*"): the unstemmed phrase.
            single = len(leaf.lexemes) == 1
            weights = _PREFIX_WEIGHTS[leaf.weights] if single else ("C" if leaf.weights == "C" else UNSTEMMED)
            count = len(leaf.lexemes)
            seen = iter(range(count))
            leaf.tsquery = _LEXEME.sub(
                lambda m: f"{m.group(0)}:*{weights}" if next(seen) == count - 1 else f"{m.group(0)}:{weights}", tsquery
            )
        else:
            leaf.tsquery = _LEXEME.sub(lambda m: f"{m.group(0)}:{leaf.weights}", tsquery)
        leaf.headline = leaf.tsquery


def _add_normal_forms(leaf: Leaf, tsquery: str) -> None:
    """The leaf as PostgreSQL stems it in the text (weights but B), or in its normal forms (B).

    A phrase's normal forms follow each other; a word with several ("38": thirty eight) needs them
    all, as Whoosh's parser ANDs the tokens of one word.
    """
    text_weights = leaf.weights.replace(NORMAL, "")
    stemmed = _LEXEME.sub(lambda m: f"{m.group(0)}:{text_weights}", tsquery) if tsquery and text_weights else None
    leaf.lexemes = [lexeme[1:-1].replace("''", "'") for lexeme in _LEXEME.findall(tsquery)] if stemmed else []
    leaf.normal = forms.normal_tokens(leaf.text)
    joined = " <-> " if leaf.kind == "phrase" else " & "
    normal = joined.join(f"{forms.quote(token)}:{NORMAL}" for token in leaf.normal) or None
    leaf.headline = stemmed
    leaf.tsquery = " | ".join(f"({part})" for part in (stemmed, normal) if part) or None


_PREFIX_WEIGHTS = {"AB": "ABD", "A": "AD", "B": "BD", "C": "C"}


def to_tsquery(query: Query, *, ranking: bool = False, headline: bool = False) -> Optional[str]:
    """The tsquery text of a normalised query; None when nothing searchable is left.

    ``ranking``: the query to rank with, where ``a ANDMAYBE b`` counts ``b`` too and ``kind:``/``source_id:``
    values are left out (they only filter); ``headline``: that
    query without the normal forms, to mark words in the text with (as Whoosh highlights ``text`` only).
    """
    if isinstance(query, Leaf):
        if query.kind == "id" and (ranking or headline):
            return None  # no position in the text: ts_rank_cd finds no cover for a query that needs one
        return query.headline if headline else query.tsquery
    parts = [to_tsquery(child, ranking=ranking or headline, headline=headline) for child in query.children]
    if query.op == "not":
        return f"!({parts[0]})" if parts[0] else None
    if query.op == "andnot":
        left, right = parts
        if left is None:
            return None
        return f"({left}) & !({right})" if right else left
    if query.op == "andmaybe":
        left, right = parts
        if left is None:
            return None
        return f"({left}) | ({right})" if ranking and right else left
    kept = [f"({p})" for p in parts if p]
    if not kept:
        return None
    return (" & " if query.op == "and" else " | ").join(kept)


def positive_leaves(query: Query) -> list[Leaf]:
    """The leaves whose words make a hit (not those under NOT or on the right of ANDNOT)."""
    if isinstance(query, Leaf):
        return [query] if query.tsquery and query.kind != "id" else []
    if query.op == "not":
        return []
    if query.op == "andnot":
        return positive_leaves(query.children[0])
    return [leaf for child in query.children for leaf in positive_leaves(child)]


@dataclass
class Compiled:
    """A query as PostgreSQL runs it: ``match`` finds, ``rank`` ranks, ``headline`` marks words in
    the text (None: none to mark); ``leaves`` are those that make a hit."""

    match: str
    rank: str
    headline: Optional[str]
    leaves: list[Leaf]


def compile(conn, text: str) -> Compiled:
    """A query in the Whoosh language, compiled; raises QueryError when nothing searchable is left."""
    query = parse(text)
    normalise(conn, query)
    match = to_tsquery(query)
    if match is None:
        raise QueryError(f"query {text!r} has no searchable words (only stop words or operators)")
    return Compiled(match, to_tsquery(query, ranking=True) or match, to_tsquery(query, headline=True), positive_leaves(query))
