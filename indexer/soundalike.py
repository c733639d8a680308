"""Sound-alike matching for names no article spells: the fallback below exact and aligned matches.

A spoken-only name (a guest introducing themselves) cannot be aligned with any article, and the
recogniser hears it as something else: ``Ngozi`` as ``Angozia``, a surname as two short words. A
query word that is long and rare (not an English dictionary word) is matched against heard words
and adjacent heard pairs joined that are spelled and sound alike:

- a heard word: not a dictionary word itself, at most ``MAX_LENGTH_DIFFERENCE`` letters longer or
  shorter, Metaphone codes (jellyfish) at most one edit apart, and spellings at least
  ``MIN_SIMILARITY`` alike (rapidfuzz's normalised InDel ratio);
- two adjacent heard words joined: not a dictionary word joined ("to day"), the same Metaphone
  code and ``MIN_PAIR_SIMILARITY``.

Common words are never matched either way, so a query for a word nobody says finds nothing; and
what could never be matched is not indexed (:func:`sound_terms`, :func:`pair_kept`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Optional

MIN_QUERY_LETTERS = 5
MIN_HEARD_LETTERS = 4
MAX_LENGTH_DIFFERENCE = 3
MIN_SIMILARITY = 60.0
MIN_PAIR_SIMILARITY = 75.0

_PLAIN = re.compile(r"^[^\W\d_]+$")
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"}


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    from english_words import get_english_words_set

    words = get_english_words_set(["web2", "gcide"], lower=False, alpha=True)
    return frozenset(w for w in words if w.islower())


def is_common(word: str) -> bool:
    """Whether ``word`` is an English dictionary word (in either spelling): never matched by sound."""
    from breame.spelling import get_american_spelling

    lower = get_american_spelling(word.lower())
    # The word lists hold base forms: "called" is common because "call" is.
    forms = {lower}
    for suffix in ("s", "es", "ed", "d", "ing", "er", "ers"):
        if lower.endswith(suffix):
            base = lower[: -len(suffix)]
            forms |= {base, base + "e", base[:-1] if len(base) > 2 and base[-1] == base[-2] else base}
    return any(len(f) >= 3 and f in _dictionary() for f in forms)


def plain_words(query: str) -> Optional[list[str]]:
    """The words of a query made only of plain words (no operators, quotes, fields or wildcards), else None."""
    words = query.split()
    if not words or any(w in _OPERATORS or not _PLAIN.match(w) for w in words):
        return None
    return words


def eligible(word: str) -> bool:
    """A query word long and rare enough to be matched by sound."""
    return len(word) >= MIN_QUERY_LETTERS and bool(_PLAIN.match(word)) and not is_common(word)


def letters(word: str) -> str:
    return re.sub(r"[^\w]|[\d_]", "", word.lower())


def joined_pairs(words: Iterable[str]) -> str:
    """Adjacent words joined, lower-case letters only, space-separated: indexed for pair matching."""
    plain = [letters(w) for w in words]
    return " ".join(a + b for a, b in zip(plain, plain[1:]) if a and b)


# Metaphone's letters (jellyfish writes "0" for "th"): a code one edit away is made of these.
_CODE_LETTERS = "0ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=65536)
def metaphone(word: str) -> str:
    import jellyfish

    return jellyfish.metaphone(word)


def near_codes(code: str) -> set[str]:
    """``code`` and every code one deletion, insertion or substitution away from it: the codes a
    heard word that sounds like a word of that code can have."""
    alphabet = set(_CODE_LETTERS) | set(code)
    near = {code}
    for k in range(len(code) + 1):
        near |= {code[:k] + c + code[k:] for c in alphabet}
        if k < len(code):
            near.add(code[:k] + code[k + 1 :])
            near |= {code[:k] + c + code[k + 1 :] for c in alphabet}
    return near


@lru_cache(maxsize=65536)
def pair_kept(joined: str) -> bool:
    """Whether two adjacent heard words joined could ever be matched (:func:`sounds_like` with
    ``pairs``), so are worth indexing."""
    return len(joined) >= MIN_HEARD_LETTERS and joined.isalpha() and not is_common(joined)


def sound_terms(words: Iterable[str]) -> str:
    """Heard words (``s``) and adjacent pairs joined (``p``), each after its Metaphone code, space-separated:
    ``sANKS.angozia pATYM.adayemi``. Indexed, so candidates are found by code, not by reading every heard word."""
    plain = [letters(w) for w in words]
    terms = {f"s{metaphone(a)}.{a}" for a in plain if len(a) >= MIN_HEARD_LETTERS}
    terms |= {f"p{metaphone(a + b)}.{a + b}" for a, b in zip(plain, plain[1:]) if a and b and pair_kept(a + b)}
    return " ".join(sorted(terms))


def sounds_like(word: str, heard: Iterable[str], *, pairs: bool = False) -> set[str]:
    """The heard words (or joined pairs) in ``heard`` that sound like query ``word``."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import Levenshtein

    target = letters(word)
    code = metaphone(target)
    found = set()
    for candidate in heard:
        if abs(len(candidate) - len(target)) > MAX_LENGTH_DIFFERENCE:
            continue
        if len(candidate) < MIN_HEARD_LETTERS or not candidate.isalpha():
            continue
        if pairs:
            if fuzz.ratio(target, candidate) < MIN_PAIR_SIMILARITY or metaphone(candidate) != code:
                continue
        elif fuzz.ratio(target, candidate) < MIN_SIMILARITY or Levenshtein.distance(code, metaphone(candidate)) > 1:
            continue
        if is_common(candidate):  # a dictionary word, heard as one word or as two joined ("to day")
            continue
        found.add(candidate)
    return found
