"""A transcript in the spelling of the articles aligned with it: presentation above the backend."""

from __future__ import annotations

from ..align import join_words
from ..models import Segment, Word
from ..normalise import EDGE_PUNCTUATION
from .backend import StoredWord

__all__ = ["article_spelling"]


def article_spelling(segment: Segment, stored: list[StoredWord]) -> Segment:
    """``segment`` with aligned words in the article's spelling (``Word.heard`` keeps what was heard);
    a word the recogniser split in two becomes one, from the first part's start to the last part's end."""
    words: list[Word] = []
    for word, kept in zip(segment.words, stored):
        if kept.alias == "" and words and words[-1].heard is not None:
            words[-1].end = word.end
            words[-1].heard = f"{words[-1].heard} {word.word}"
        elif kept.spelling:
            # The heard word's punctuation stays: the article's word is spoken in the heard sentence.
            tail = word.word[len(word.word.rstrip(EDGE_PUNCTUATION)) :]
            words.append(
                Word(start=word.start, end=word.end, word=kept.spelling + tail, probability=word.probability, heard=word.word)
            )
        else:
            words.append(word)
    if all(w.heard is None for w in words):
        return segment
    return Segment(start=segment.start, end=segment.end, text=join_words(words), words=words)
