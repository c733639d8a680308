"""How a hit shows the way its words matched, the same for every backend.

A word heard differently and found under an aligned article's spelling is marked with that spelling
beside it (``**Ashikov** (Ushakov)``), a sound-alike one with the query word (``**Ashikov** (sounds
like Ushakov)``), and a word found through its normal form (``14`` for "fourteen") is marked as it
stands. A backend says which normal-form tokens its query matched (``matched``: a token ->
bool predicate, tokens as :func:`indexer.normalise.normalising_analyzer` makes them).
"""

from __future__ import annotations

import re
from typing import Callable, Optional, Sequence

from .. import soundalike
from ..align import join_words
from ..models import Word
from ..normalise import EDGE_PUNCTUATION, normalising_analyzer
from .backend import StoredWord

__all__ = ["alias_match_kind", "alias_matches", "corrected_text", "mark_aliases", "mark_normal_forms", "mark_sounds_like"]

Matched = Callable[[str], bool]


def corrected_text(words: Sequence[StoredWord]) -> str:
    """A segment's words with the article's spellings in place of what was heard (an empty alias
    marks a heard word that is part of the previous word's spelling)."""
    return " ".join(w.spelling if w.spelling is not None else w.word for w in words if w.alias != "")


def alias_matches(words: Sequence[StoredWord], matched: Matched) -> list[tuple[str, str, bool]]:
    """(heard, article spelling, given by sound) of the words of a segment that matched only as an
    article spells them."""
    found = []
    normal = normalising_analyzer()
    for k, word in enumerate(words):
        if not word.alias:
            continue
        spelled = {t.text for t in normal(word.spelling or "")}
        heard = word.word
        for following in words[k + 1 :]:  # heard words that are part of this one's spelling
            if following.alias != "":
                break
            heard += " " + following.word
        if spelled == {t.text for t in normal(heard.replace(" ,", ","))}:
            continue  # "14" for "fourteen": the same word, found through its normal form
        if any(matched(t) for t in spelled):
            found.append((word.word, word.spelling or "", word.by_sound))
    return found


def mark_aliases(snippet: str, aliased: list[tuple[str, str, bool]]) -> str:
    """The heard word marked and the article's spelling beside it: ``**Ashikov** (Ushakov)``, or
    ``**Ashikov** (sounds like Ushakov)`` for a spelling given by sound."""
    for heard, spelled, by_sound in aliased:
        word = heard.strip(EDGE_PUNCTUATION) or heard
        beside = f"sounds like {spelled}" if by_sound else spelled
        pattern = re.compile(r"(?<!\w)(?:\*\*)?" + re.escape(word) + r"(?:\*\*)?(?!\w)")
        snippet = pattern.sub(lambda _: f"**{word}** ({beside})", snippet, count=1)
    return snippet


def alias_match_kind(aliased: list[tuple[str, str, bool]]) -> str:
    """The hit's match: "article" if an aligned article's spelling matched, else "sounds-like"."""
    return "article" if any(not by_sound for _, _, by_sound in aliased) else "sounds-like"


def mark_sounds_like(words: Sequence[StoredWord], start: float, text: str, alike: dict[str, str]) -> tuple[float, str]:
    """Jump-in and snippet of a sound-alike hit: the heard word (or pair) marked, the query word beside it.

    ``alike`` maps heard words and joined pairs (:func:`indexer.soundalike.letters`) to the query word.
    """
    plain = [soundalike.letters(w.word) for w in words]
    marks: dict[int, tuple[int, str]] = {}  # first word index -> (word count, query word)
    for k, word in enumerate(plain):
        if word in alike:
            marks.setdefault(k, (1, alike[word]))
        elif k + 1 < len(plain) and word + plain[k + 1] in alike:
            marks.setdefault(k, (2, alike[word + plain[k + 1]]))
    if not marks:
        return start, text[:240]
    parts, k = [], 0
    while k < len(words):
        if k in marks:
            count, query = marks[k]
            heard = " ".join(w.word for w in words[k : k + count])
            parts.append(f"**{heard}** (sounds like {query})")
            k += count
        else:
            parts.append(words[k].word)
            k += 1
    return words[min(marks)].start, join_words(Word(0, 0, p, 0) for p in parts)


def mark_normal_forms(text: str, matched: Matched) -> Optional[str]:
    """``text`` with the words marked whose normal forms the query matched (``14`` for "fourteen")."""
    normal = normalising_analyzer()
    marked, hit = [], False
    for piece in re.split(r"(\s+)", text):
        if piece.strip() and any(matched(t.text) for t in normal(piece)):
            marked.append(f"**{piece}**")
            hit = True
        else:
            marked.append(piece)
    return "".join(marked) if hit else None
