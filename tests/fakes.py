"""A fake speech engine for every test that is not about recognition itself.

:class:`FakeEngine` follows :class:`indexer.asr.Engine`. It "hears" the sample
(``samples/seed_article.mp3``) by finding where a chunk's loudness envelope lies in the sample's, and
returns the sample's known sentences (``seed_article.sentences.json``) that fall there, word by word
with times spread over each sentence. So a clip, a time range, another format or a download of the
sample gets stable words at about the times they are spoken, with no model loaded. Audio that is
not the sample (a tone, silence) gets no words, as for speech the recogniser cannot hear.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from indexer import audio
from indexer.asr import ChunkResult, DecodeOptions
from indexer.models import Segment, Word

from .conftest import SAMPLE_AUDIO, SAMPLES

FRAME_SECONDS = 0.05
# A chunk whose envelope correlates less than this with every stretch of the sample is not the sample.
MIN_CORRELATION = 0.8


@dataclass(frozen=True)
class ScriptWord:
    start: float
    end: float
    word: str
    sentence: int


@functools.lru_cache(maxsize=1)
def sample_script() -> tuple[ScriptWord, ...]:
    """The sample's words, each sentence's time shared among its words by their length."""
    sentences = json.loads((SAMPLES / "seed_article.sentences.json").read_text())["sentences"]
    words = []
    for n, sentence in enumerate(sentences):
        tokens = [t for t in sentence["text"].split() if re.search(r"\w", t)]
        total = sum(len(t) + 1 for t in tokens)
        position, span = sentence["start"], sentence["end"] - sentence["start"]
        for token in tokens:
            length = span * (len(token) + 1) / total
            words.append(ScriptWord(round(position, 3), round(position + length * 0.9, 3), token, n))
            position += length
    return tuple(words)


def envelope(samples: np.ndarray) -> np.ndarray:
    """Loudness in dB per FRAME_SECONDS frame."""
    frame = int(FRAME_SECONDS * audio.SAMPLE_RATE)
    usable = len(samples) // frame * frame
    power = np.square(samples[:usable].astype(np.float64)).reshape(-1, frame).mean(axis=1)
    return 10 * np.log10(power + 1e-10)


@functools.lru_cache(maxsize=1)
def sample_envelope() -> np.ndarray:
    return envelope(audio.load(SAMPLE_AUDIO))


def locate(chunk: np.ndarray) -> Optional[float]:
    """Where in the sample ``chunk`` starts, in seconds (negative: before it), or None if it is not the sample."""
    found, reference = envelope(chunk), sample_envelope()
    if len(found) < 20 or found.std() < 1.0:
        return None  # under a second, or a steady sound: nothing to match
    quiet = min(found.min(), reference.min())
    padded = np.concatenate([np.full(len(found), quiet), reference, np.full(len(found), quiet)])
    pattern = (found - found.mean()) / found.std()
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(found))
    means, stds = windows.mean(axis=1), windows.std(axis=1)
    scores = (windows @ pattern - len(found) * means * pattern.mean()) / (len(found) * np.maximum(stds, 1e-6))
    best = int(np.argmax(scores))
    if scores[best] < MIN_CORRELATION:
        return None
    return (best - len(found)) * FRAME_SECONDS


class FakeEngine:
    """Scripted recognition of the sample: the Engine protocol with no model.

    Args:
      mishear: Words to hear as other words (``{"Ushakov": "Ashikov"}``), as a real model mishears names.

    ``constructed`` counts the fakes made in this process; ``chunks`` the chunks this one recognised.
    """

    name = "fake"
    model_id = "scripted-sample"
    multilingual = True  # detects "en", and like a multilingual model joins files only given a language
    workers = 2
    constructed = 0
    _constructing = threading.Lock()

    def __init__(self, mishear: Optional[dict[str, str]] = None):
        self.mishear = dict(mishear or {})
        self.chunks = 0
        self._lock = threading.Lock()
        with FakeEngine._constructing:
            FakeEngine.constructed += 1

    def transcribe_chunk(self, samples: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        with self._lock:
            self.chunks += 1
        language = language or "en"
        offset = locate(samples)
        if offset is None:
            return ChunkResult(segments=[], language=language)
        duration = len(samples) / audio.SAMPLE_RATE
        heard = [w for w in sample_script() if 0 <= (w.start + w.end) / 2 - offset < duration]
        segments = []
        for n in sorted({w.sentence for w in heard}):
            words = [
                Word(
                    start=round(max(0.0, w.start - offset), 3),
                    end=round(min(duration, w.end - offset), 3),
                    word=" " + self._hear(w.word),
                    probability=0.9,
                )
                for w in heard
                if w.sentence == n
            ]
            segments.append(Segment(start=words[0].start, end=words[-1].end, text="".join(w.word for w in words), words=words))
        return ChunkResult(segments=segments, language=language)

    def _hear(self, token: str) -> str:
        for spoken, heard in self.mishear.items():
            token = token.replace(spoken, heard)
        return token
