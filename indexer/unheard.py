"""Speech the recogniser skipped: found with VAD, recognised again on its own, merged back in.

Whisper sometimes jumps over a stretch of speech (from "the" to "next" over 8 seconds, once). The
joined-stream guard in the transcriber catches it between short files; :func:`recover_unheard`
does the same inside any audio: VAD's speech that no recognised word covers, longer than
``MAX_UNHEARD_SECONDS``, is recognised again alone and its words are merged in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from .align import MAX_WORD_SECONDS, WORD_SLACK_SECONDS
from .asr.vad import speech_ranges
from .models import Segment, Word

logger = logging.getLogger("indexer")

# The same threshold as the joined-stream guard (indexer.asr.MAX_UNHEARD_SECONDS): a pause inside
# speech leaves at most 1.0 s uncovered, so anything longer is speech without words.
MAX_UNHEARD_SECONDS = 1.2
# Audio either side of a stretch recognised with it: the words at its edges are partly outside it.
PAD_SECONDS = 0.3


@dataclass
class Recovery:
    """What :func:`recover_unheard` did: the segments with recovered words merged in, in time order."""

    segments: list[Segment]
    stretches: int = 0  # unheard stretches found (each recognised again)
    words: int = 0  # words recovered from them


def unheard_stretches(
    speech: Iterable[tuple[float, float]], segments: Iterable[Segment], minimum: float = MAX_UNHEARD_SECONDS
) -> list[tuple[float, float]]:
    """Stretches of ``speech`` (VAD's ``(start, end)`` seconds) that no word covers, longer than ``minimum``.

    A word covers its own time and ``WORD_SLACK_SECONDS`` either side, but at most
    ``MAX_WORD_SECONDS`` of it (as in :func:`indexer.align.unheard_speech`).
    """
    covered = sorted(
        (w.start - WORD_SLACK_SECONDS, min(w.end, w.start + MAX_WORD_SECONDS) + WORD_SLACK_SECONDS)
        for segment in segments
        for w in segment.words
    )
    found = []
    for start, end in speech:
        position = start
        for lower, upper in covered:
            if upper <= position:
                continue
            if lower >= end:
                break
            if lower - position > minimum:
                found.append((position, lower))
            position = max(position, upper)
        if end - position > minimum:
            found.append((position, end))
    return found


def recover_unheard(
    samples: np.ndarray,
    segments: Sequence[Segment],
    recognise: Callable[[np.ndarray], Iterable[Segment]],
    *,
    sample_rate: int = 16000,
) -> Recovery:
    """Find speech in ``samples`` that ``segments`` have no words for; recognise it again; merge.

    VAD listens only to the stretches no word covers, so audio whose words leave no gap longer
    than ``MAX_UNHEARD_SECONDS`` (with their slack) costs nothing but this check.

    ``segments`` are the recogniser's, timed from the start of ``samples``; ``recognise`` runs the
    recogniser on a piece of audio and returns its segments timed from the piece's start. Recovered
    words are those whose middle falls inside an unheard stretch; each stretch gives one segment.
    """
    # VAD runs only where no word is heard for long enough to hide a skip: most audio is covered
    # by words, and VAD over all of it cost a third of recognition's time on the sample.
    duration = len(samples) / sample_rate
    speech = []
    for lower, upper in unheard_stretches([(0.0, duration)], segments):
        piece = samples[int(lower * sample_rate) : int(upper * sample_rate)]
        speech += [(lower + first / sample_rate, lower + last / sample_rate) for first, last in speech_ranges(piece)]
    stretches = unheard_stretches(speech, segments)
    if not stretches:
        return Recovery(list(segments))
    heard = [w for segment in segments for w in segment.words]
    added: list[Segment] = []
    for start, end in stretches:
        # The gap runs from the last heard word before the stretch to the first after it: the
        # stretch itself stops short of them by the slack a word is given.
        start = max((w.end for w in heard if w.end <= start + WORD_SLACK_SECONDS), default=start)
        end = min((w.start for w in heard if w.start >= end - WORD_SLACK_SECONDS), default=end)
        lower = max(0.0, start - PAD_SECONDS)
        upper = min(len(samples) / sample_rate, end + PAD_SECONDS)
        piece = samples[int(lower * sample_rate) : int(upper * sample_rate)]
        words = [
            Word(start=w.start + lower, end=w.end + lower, word=w.word, probability=w.probability)
            for segment in recognise(piece)
            for w in segment.words
            if start < lower + (w.start + w.end) / 2 < end
        ]
        if words:
            text = " ".join(w.word.strip() for w in words)
            added.append(Segment(start=words[0].start, end=words[-1].end, text=text, words=words))
    count = sum(len(s.words) for s in added)
    logger.info("recognised %d stretch(es) of skipped speech again: %d word(s) recovered", len(stretches), count)
    merged = sorted([*segments, *added], key=lambda s: s.start)
    return Recovery(merged, stretches=len(stretches), words=count)
