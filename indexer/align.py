"""Putting recognised words on the original file's timeline, and tidying them for search.

Engines report times relative to the chunk they were given; a chunk may start anywhere in a long
file, and an embedded segment (``#t=300,420``) starts part-way through it. Everything that leaves
this module is in seconds from the start of the original file.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import Iterable, Iterator, Optional, Sequence

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
        yield Word(
            start=round(float(start), 3), end=round(float(end), 3), word=text, probability=round(float(word.probability), 4)
        )
        previous = start


def restore_cut_silences(segment: Segment, speech_map) -> Segment:
    """``segment``, recognised from audio whose silences VAD cut out, back on the uncut timeline.

    ``speech_map`` is faster-whisper's ``SpeechTimestampsMap``; this is its
    ``restore_speech_timestamps``: a word's start and end are moved by the silence before the
    speech chunk that holds the word's middle, so a word never straddles a cut, and a segment with
    words spans its words.
    """
    words = []
    for word in segment.words:
        chunk = speech_map.get_chunk_index((word.start + word.end) / 2)
        words.append(
            Word(
                start=speech_map.get_original_time(word.start, chunk),
                end=speech_map.get_original_time(word.end, chunk),
                word=word.word,
                probability=word.probability,
            )
        )
    if words:
        start, end = words[0].start, words[-1].end
    else:
        start = speech_map.get_original_time(segment.start)
        end = speech_map.get_original_time(segment.end, is_end=True)
    return Segment(start=start, end=end, text=segment.text, words=words)


def split_stream(segments: Iterable[Segment], spans: Sequence[tuple[float, float]]) -> list[list[Segment]]:
    """Segments recognised from several files joined into one stream, back in each file's timeline.

    ``spans`` are the files' ``(start, end)`` in the stream, in order, with a pause between them.
    A word belongs to the file its middle falls in (a word in a pause, to the nearer file), so a
    segment Whisper ran across two files is cut in two. A segment without words goes where its
    middle is. Times are shifted to each file's start; :func:`place_segments` clamps them.
    """
    cuts = [(end + next_start) / 2 for (_, end), (next_start, _) in zip(spans, spans[1:])]
    files: list[list[Segment]] = [[] for _ in spans]

    def owner(start: float, end: float) -> int:
        return bisect.bisect(cuts, (start + end) / 2)

    for segment in segments:
        if not segment.words:
            k = owner(segment.start, segment.end)
            files[k].append(_shifted(segment, -spans[k][0]))
            continue
        parts = [(k, list(words)) for k, words in itertools.groupby(segment.words, key=lambda w: owner(w.start, w.end))]
        for k, words in parts:
            piece = segment if len(parts) == 1 else Segment(words[0].start, words[-1].end, "".join(w.word for w in words), words)
            files[k].append(_shifted(piece, -spans[k][0]))
    return files


# How much of the speech around a word counts as heard (see unheard_speech): VAD pads speech by
# 0.4 s, and Whisper's word times drift by a few tenths; no word of English takes 1.5 s.
WORD_SLACK_SECONDS = 0.5
MAX_WORD_SECONDS = 1.5


def unheard_speech(speech: Iterable[tuple[float, float]], segments: Iterable[Segment]) -> float:
    """The longest stretch of ``speech`` (VAD's ``(start, end)`` seconds) that no word covers.

    A word covers its own time and ``WORD_SLACK_SECONDS`` either side (VAD pads speech, and
    Whisper's word times drift), but at most ``MAX_WORD_SECONDS`` of it: a word stretched over
    seconds of speech is how a skipped stretch shows in Whisper's word times.
    """
    covered = sorted(
        (w.start - WORD_SLACK_SECONDS, min(w.end, w.start + MAX_WORD_SECONDS) + WORD_SLACK_SECONDS)
        for segment in segments
        for w in segment.words
    )
    longest = 0.0
    for start, end in speech:
        position = start
        for lower, upper in covered:
            if lower > position:
                longest = max(longest, min(lower, end) - position)
            position = max(position, upper)
            if position >= end:
                break
        longest = max(longest, end - position)
    return longest


def _shifted(segment: Segment, by: float) -> Segment:
    words = [Word(start=w.start + by, end=w.end + by, word=w.word, probability=w.probability) for w in segment.words]
    return Segment(start=segment.start + by, end=segment.end + by, text=segment.text, words=words)


# A sentence longer than this is split at its longest pause: a search hit should show a sentence,
# not a paragraph, and the batched decoder gives one segment per 30-second window.
MAX_SENTENCE_WORDS = 40
PAUSE_SECONDS = 1.5
_SENTENCE_END = re.compile(r"[.?!…。？！][\"'”’)\]]*$")
# "U.S.", ".S." (Whisper splits "U.S." into "U" + ".S."), "e.g.", "Mr.": a full stop that ends no sentence.
_ABBREVIATION = re.compile(r"^\.?(?:[A-Za-z]\.)+$|^(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|vs|Prof|Gen|Sen|Rep|No)\.$")
# Whisper gives a word that continues the previous one without a leading space ("U" ".S.", "don" "'t").
_ATTACHED = re.compile(r"^[.,!?;:%)\]}'’”-]")


def sentences(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Regroup timed words into sentences: a segment ends after ``.``, ``?`` or ``!``, or at a pause.

    Segments without words pass through unchanged. Each new segment's text is its words joined, and
    its times are its first word's start and last word's end.
    """
    pending: list[Word] = []
    ended = False  # the last word ended a sentence, unless the next one starts in lower case
    for segment in segments:
        if not segment.words:
            yield from _flush(pending)
            pending, ended = [], False
            yield segment
            continue
        for word in segment.words:
            paused = pending and word.start - pending[-1].end > PAUSE_SECONDS
            if paused or (ended and not word.word[:1].islower()):
                yield from _flush(pending)
                pending = []
            pending.append(word)
            ended = bool(_SENTENCE_END.search(word.word)) and not _ABBREVIATION.match(word.word)
    yield from _flush(pending)


def join_words(words: Iterable[Word]) -> str:
    """Words as text: spaces between them, none before a word that continues the previous one."""
    text = ""
    for word in words:
        text += word.word if (not text or _ATTACHED.match(word.word)) else " " + word.word
    return text


def _flush(words: list[Word]) -> Iterator[Segment]:
    if not words:
        return
    if len(words) > MAX_SENTENCE_WORDS:
        # Split at the longest gap between words, away from the very ends.
        inner = range(MAX_SENTENCE_WORDS // 4, len(words) - MAX_SENTENCE_WORDS // 4)
        cut = max(inner, key=lambda i: (words[i].start - words[i - 1].end, -abs(i - len(words) // 2)))
        yield from _flush(words[:cut])
        yield from _flush(words[cut:])
        return
    yield Segment(start=words[0].start, end=words[-1].end, text=join_words(words), words=list(words))


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
            text = join_words(words)
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


# -- names from the article -----------------------------------------------------------------------

_NAME = re.compile(r"[A-Z][\w'’-]*\w")
# Two spellings this close are taken as the same name misheard: "Ashikov"/"Ushakov" (0.71),
# "Yuri"/"Yury" (0.75). Unrelated capitalised words score below 0.6 ("Nader"/"NATO" 0.44).
NAME_SIMILARITY = 0.7


def article_names(paragraphs: Iterable[str]) -> dict[str, str]:
    """Proper names in an article: capitalised words that never appear in lower case there.

    Returns lower-case form -> spelling. "The" at a sentence start is not a name because "the"
    appears too; "Ushakov" is.
    """
    text = "\n".join(paragraphs)
    lower_words = set(re.findall(r"\b[a-z][\w'’-]*", text))
    names: dict[str, str] = {}
    for match in _NAME.finditer(text):
        word = re.split(r"['’]", match.group())[0]  # "Russia’s" is Russia; "They’re" is not a name
        if word.lower() not in lower_words and len(word) >= 3:
            names.setdefault(word.lower(), word)
    return names


def name_aliases(transcript: Transcript, names: dict[str, str]) -> dict[int, list[tuple[int, str]]]:
    """Article spellings for names the recogniser misheard: segment index -> [(word index, name)].

    Whisper gets rare names wrong ("Ushakov" -> "Ashikov"), and prompting it with the article's names
    dropped whole sentences (bench/RESULTS.md, "Prompting with the article's names"). Instead the transcript is kept as heard, and a spoken
    word that is capitalised, unknown to the article and spelled like one of its names is indexed
    under that name too, so a search for the name finds the moment it is spoken.
    """
    aliases: dict[int, list[tuple[int, str]]] = {}
    if not names:
        return aliases
    for s, segment in enumerate(transcript.segments):
        for w, word in enumerate(segment.words):
            token = word.word.strip(".,;:!?\"'“”‘’()[]").removesuffix("'s").removesuffix("’s")
            if len(token) < 4 or not token[0].isupper() or token.lower() in names:
                continue
            best, score = _closest(token.lower(), names)
            if best is not None and score >= NAME_SIMILARITY:
                aliases.setdefault(s, []).append((w, names[best]))
    return aliases


def _closest(token: str, names: dict[str, str]) -> tuple[Optional[str], float]:
    from difflib import SequenceMatcher

    best, best_score = None, 0.0
    matcher = SequenceMatcher(None, "", token)  # b is the sequence SequenceMatcher caches
    for name in names:
        if abs(len(name) - len(token)) > 3:
            continue
        matcher.set_seq1(name)
        if matcher.real_quick_ratio() < NAME_SIMILARITY or matcher.quick_ratio() < NAME_SIMILARITY:
            continue
        score = matcher.ratio()
        if score > best_score:
            best, best_score = name, score
    return best, best_score
