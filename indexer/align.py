"""Putting recognised words on the original file's timeline, and tidying them for search.

Engines report times relative to the chunk they were given; a chunk may start anywhere in a long
file, and an embedded segment (``#t=300,420``) starts part-way through it. Everything that leaves
this module is in seconds from the start of the original file.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Optional

from .models import Segment, Transcript, Word


def place_segments(segments: Iterable[Segment], offset: float, limit: Optional[float] = None) -> Iterator[Segment]:
    """Shift chunk-relative segments by ``offset`` and clean their words.

    Word times are clamped inside their segment and made non-decreasing (Whisper's alignment can
    put a word a few milliseconds before its predecessor); words are stripped of the leading space
    Whisper's tokenizer gives them. Segments without text are dropped. ``limit`` is the end of the
    audio in the file's timeline; nothing is placed after it.
    """
    previous = offset
    for segment in segments:
        text = segment.text.strip()
        if not text:
            continue
        start = max(previous, segment.start + offset)
        end = max(start, segment.end + offset)
        if limit is not None:
            start, end = min(start, limit), min(end, limit)
        words = list(_place_words(segment.words, offset, start, end))
        if words:
            # Segment bounds follow the words: VAD-trimmed audio can leave a segment's own bounds
            # wider than the speech in it.
            start, end = words[0].start, max(end, words[-1].end)
        yield Segment(start=round(float(start), 3), end=round(float(end), 3), text=text, words=words)
        previous = start


def _place_words(words: Iterable[Word], offset: float, lower: float, upper: float) -> Iterator[Word]:
    previous = lower
    for word in words:
        text = word.word.strip()
        if not text:
            continue
        start = min(max(word.start + offset, previous), upper)
        end = min(max(word.end + offset, start), upper)
        yield Word(start=round(float(start), 3), end=round(float(end), 3), word=text, probability=round(float(word.probability), 4))
        previous = start


def clip(transcript: Transcript, start: float, end: Optional[float]) -> Transcript:
    """The part of a whole-file transcript inside ``[start, end]``, times kept in the file's timeline.

    Used when a segment of a file is embedded and the whole file was already transcribed.
    """
    stop = end if end is not None else float("inf")
    kept = []
    for segment in transcript.segments:
        if segment.end <= start or segment.start >= stop:
            continue
        words = [w for w in segment.words if w.start >= start and w.end <= stop]
        if segment.words and not words:
            continue
        if words and len(words) != len(segment.words):
            text = " ".join(w.word for w in words)
            kept.append(Segment(start=words[0].start, end=words[-1].end, text=text, words=words))
        else:
            kept.append(segment)
    return Transcript(
        segments=kept,
        language=transcript.language,
        duration=(min(stop, transcript.duration) - start),
        source_id=transcript.source_id,
        engine=transcript.engine,
        model=transcript.model,
        origin=transcript.origin,
    )
