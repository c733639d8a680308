"""What a passage is searched under beyond PostgreSQL's own parsers, made by the project's analyzers.

PostgreSQL stems the text itself (``to_tsvector('english', ...)``); the rest comes from here, as
tsvector literals written with the passage:

- ``norm``: the text's words in their normal forms (:func:`indexer.normalise.normalising_analyzer`,
  the analyzer of Whoosh's ``norm`` and ``aliases`` fields), then, after a gap so that no phrase
  runs from one into the other, a segment's words in the spellings of the articles aligned with it
  (:func:`indexer.index.marks.corrected_text`). Query words are put in their normal forms by the same analyzer
  (:func:`normal_tokens`), so "14" and "fourteen" meet, and a phrase runs across an aliased word.
- ``sounds``: a segment's heard words that could be sound-alike candidates, and its adjacent heard
  words joined (:mod:`indexer.soundalike`), as ``~word`` lexemes; :func:`heard` also lists them
  for the lexicon table the fallback searches (``schema.MIGRATIONS``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

from ... import soundalike
from ...normalise import normalising_analyzer
from ..backend import StoredWord

__all__ = ["HeardTerm", "SOUND", "heard", "normal_tokens", "norm_vector", "quote"]

SOUND = "~"  # the prefix of heard-term lexemes: no PostgreSQL parser keeps it, so no query word meets one
MAX_POSITION = 16383  # PostgreSQL's limit; a later word takes the last position
MAX_POSITIONS_PER_LEXEME = 255
MAX_LEXEME_BYTES = 2046


class HeardTerm(NamedTuple):
    """A heard word (``pair`` False) or two adjacent heard words joined (``pair`` True), and its Metaphone code."""

    term: str
    pair: bool
    code: str


@lru_cache(maxsize=1)
def _analyzer():
    return normalising_analyzer()


def normal_tokens(text: str) -> list[str]:
    """``text``'s words in their normal forms, stop words dropped, stemmed: at consecutive positions."""
    return [token.text for token in _analyzer()(text)]


def norm_vector(text: str, corrected: str = "") -> str:
    """The ``norm`` tsvector literal: ``text``'s normal forms, then ``corrected``'s after a gap."""
    blocks = [normal_tokens(text), normal_tokens(corrected) if corrected else []]
    return _vector([[[token] for token in block] for block in blocks])


@lru_cache(maxsize=65536)
def _candidate(word: str) -> bool:
    """A heard word that the sound-alike fallback could ever return (soundalike.sounds_like's own filters)."""
    return len(word) >= soundalike.MIN_HEARD_LETTERS and word.isalpha() and not soundalike.is_common(word)


def _sound_terms(words: Sequence[StoredWord]) -> list[list[tuple[str, bool]]]:
    """Per heard word, (term, pair): its own letters if a candidate, and it joined with the next word's."""
    plain = [soundalike.letters(w.word) for w in words]
    terms: list[list[tuple[str, bool]]] = []
    for k, word in enumerate(plain):
        here = [(word, False)] if _candidate(word) else []
        if k + 1 < len(plain) and word and plain[k + 1] and soundalike.pair_kept(word + plain[k + 1]):
            here.append((word + plain[k + 1], True))
        terms.append(here)
    return terms


def heard(words: Sequence[StoredWord]) -> tuple[str, set[HeardTerm]]:
    """A segment's ``sounds`` tsvector literal (each term at its first word's position) and its
    lexicon entries: its heard words and pairs, with their Metaphone codes."""
    terms = _sound_terms(words)
    vector = _vector([[[SOUND + term for term, _ in here] for here in terms]])
    return vector, {HeardTerm(term, pair, soundalike.metaphone(term)) for here in terms for term, pair in here}


def _vector(blocks: Iterable[Iterable[Iterable[str]]]) -> str:
    """A tsvector literal: each block a list of positions, each position a list of tokens; positions
    one apart within a block, two between blocks (so no phrase runs across)."""
    positions: dict[str, list[int]] = {}
    at = 0
    for block in blocks:
        for tokens in block:
            at += 1
            for token in tokens:
                if len(token.encode()) > MAX_LEXEME_BYTES:
                    continue
                kept = positions.setdefault(token, [])
                if len(kept) < MAX_POSITIONS_PER_LEXEME and min(at, MAX_POSITION) not in kept[-1:]:
                    kept.append(min(at, MAX_POSITION))
        at += 1
    return " ".join(f"{quote(lexeme)}:{','.join(map(str, spots))}" for lexeme, spots in positions.items())


def quote(lexeme: str) -> str:
    """A lexeme as a tsvector or tsquery literal."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"
