"""Voice activity detection: where the speech is, and the way back from audio with its silences cut out.

Silero VAD as faster-whisper runs it for ``vad_filter=True`` (``VadOptions()`` defaults), so every
engine and the joined streams cut the same speech.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from ..audio import SAMPLE_RATE

# A range of samples, [start, end).
SampleRange = tuple[int, int]


class CutTimeline(Protocol):
    """Maps times in audio whose silences were cut back to the uncut audio (faster-whisper's SpeechTimestampsMap)."""

    def get_chunk_index(self, time: float, is_end: bool = False) -> int: ...

    def get_original_time(self, time: float, chunk_index: int | None = None, is_end: bool = False) -> float: ...


def speech_ranges(samples: np.ndarray) -> list[SampleRange]:
    """The speech in 16 kHz mono ``samples``, as ranges of samples in order."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples, VadOptions(), sampling_rate=SAMPLE_RATE)
    return [(chunk["start"], chunk["end"]) for chunk in found]


def cut_timeline(kept: Sequence[SampleRange]) -> CutTimeline:
    """The map from audio made of the ``kept`` ranges, end to end, back to the audio they were cut from."""
    from faster_whisper.vad import SpeechTimestampsMap

    return SpeechTimestampsMap([{"start": start, "end": end} for start, end in kept], SAMPLE_RATE)


def keep_speech(samples: np.ndarray) -> tuple[np.ndarray, CutTimeline] | None:
    """``samples`` with only their speech left, and its timeline; None when VAD hears no speech."""
    kept = speech_ranges(samples)
    if not kept:
        return None
    return np.concatenate([samples[start:end] for start, end in kept]), cut_timeline(kept)
