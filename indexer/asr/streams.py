"""Short files recognised several to a stream: how a batch is grouped, and the joined recognition.

Whisper encodes 30 seconds at a time, so a 10-second file alone costs a whole window, and a file's
last words often take one more. Joined, short files cost what the same speech in one long file does
(bench/RESULTS.md, "Joined streams").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np

from .. import align, audio
from ..models import Transcript
from .allocator import trimming
from .base import DecodeOptions, Engine
from .vad import SampleRange, cut_timeline, speech_ranges

# Silence between files in a stream, so that Whisper hears them apart and each word falls on one
# side of it; 2 s is the shortest silence VAD itself treats as a break in speech.
JOIN_PAUSE_SECONDS = 2.0
# A joined file with a stretch of speech longer than this that no word covers is recognised again
# alone: a pause inside speech leaves at most 1 s uncovered (VAD joins speech across pauses under
# 2 s, a word covers 0.5 s either side), and Whisper skipping speech at a join leaves more
# (bench/RESULTS.md, "Joined streams").
MAX_UNHEARD_SECONDS = 1.2
# The shortest stream worth making, about two and a half Whisper windows: shorter streams pay for
# windows they half fill (bench/RESULTS.md, "Joined streams").
MIN_STREAM_SECONDS = 75.0


def group_into_streams(files: list[tuple[Path, float]], workers: int) -> list[list[Path]]:
    """Consecutive short files, ``(path, seconds)``, grouped into streams of at most a chunk.

    Each stream takes a ``2 * workers``-th of the audio still to come, but at least
    MIN_STREAM_SECONDS. Streams shrink towards the end of a batch so that the workers finish at
    about the same time, rather than one recognising a last long stream while the others wait;
    shorter streams would pay more for their partly filled windows than that wait costs. A file
    joins a stream if most of it fits the share. A stream's length counts the pause after each
    file, and is more than a chunk only when it is a single file (recognised on its own).
    """
    streams: list[list[Path]] = []
    remaining = sum(seconds for _, seconds in files)
    length = share = 0.0
    for path, seconds in files:
        seconds += JOIN_PAUSE_SECONDS
        if not streams or length + seconds / 2 > share or length + seconds > audio.CHUNK_SECONDS:
            streams.append([])
            length, share = 0.0, max(remaining / (2 * workers), MIN_STREAM_SECONDS)
        streams[-1].append(path)
        length += seconds
        remaining -= seconds - JOIN_PAUSE_SECONDS
    return streams


def can_join(engine: Engine, language: Optional[str], options: DecodeOptions) -> bool:
    """Whether files can be recognised joined with these settings.

    Files are told apart in a stream by their words' times, share its language, and are checked
    against their VAD speech; the batched decoder runs its own VAD over a whole input.
    """
    return options.word_timestamps and options.vad and options.batch_size == 1 and bool(language or not engine.multilingual)


def recognise_joined(
    engine: Engine, files: list[np.ndarray], *, language: Optional[str], options: DecodeOptions, model_label: str
) -> list[Optional[Transcript]]:
    """Recognise short files as one stream, a pause between them, and split the words back.

    The price of joining: Whisper's previous-text prompt runs on from one file into the next, so a
    file's transcript can differ in a word from the one it gets alone.

    Whisper can also jump over speech at a join. So each file's speech, as VAD hears it, is checked
    against its words; a file with speech that no word covers gets ``None`` with its neighbours (the
    words it lost may have gone to them), and is to be recognised alone.
    """
    rate = audio.SAMPLE_RATE
    pause = int(JOIN_PAUSE_SECONDS * rate)
    # The stream is laid out as the files with a pause after each; only their speech and the pauses
    # are recognised, as the engine's own VAD filter would.
    ranges: list[tuple[float, float]] = []  # each file's (start, end) in the stream, seconds
    speech: list[list[tuple[float, float]]] = []  # each file's speech, seconds in the file
    kept: list[SampleRange] = []
    pieces: list[np.ndarray] = []
    position = 0
    silence = np.zeros(pause, np.float32)
    for samples in files:
        # VAD hears the file with the pause after it, as in the stream: at the very end of audio it
        # cannot tell a pause from the end of speech, and lets speech run on to it.
        found = [
            (start, min(end, len(samples)))
            for start, end in speech_ranges(np.concatenate([samples, silence]))
            if start < len(samples)
        ]
        ranges.append((position / rate, (position + len(samples)) / rate))
        speech.append([(start / rate, end / rate) for start, end in found])
        for start, end in found:
            kept.append((position + start, position + end))
            pieces.append(samples[start:end])
        position += len(samples)
        if found:
            kept.append((position, position + pause))
            pieces.append(silence)
        position += pause
    if not pieces:
        per_file: list[list] = [[] for _ in files]
    else:
        with trimming():
            result = engine.transcribe_chunk(
                np.concatenate(pieces), language=language, options=dataclasses.replace(options, vad=False)
            )
            timeline = cut_timeline(kept)
            heard = [align.restore_cut_silences(segment, timeline) for segment in result.segments]
        per_file = align.split_stream(heard, ranges)
    heard_alone = [
        Transcript(
            segments=list(align.sentences(align.place_segments(found, 0.0, limit=end - start))),
            language=language or "en",  # joined only when given, or the model knows only English
            duration=round(end - start, 3),
            engine=engine.name,
            model=model_label,
        )
        for (start, end), found in zip(ranges, per_file)
    ]
    suspect = [k for k, transcript in enumerate(heard_alone) if align.unheard_speech(speech[k], transcript) > MAX_UNHEARD_SECONDS]
    transcripts: list[Optional[Transcript]] = list(heard_alone)
    for k in suspect:
        transcripts[max(0, k - 1) : k + 2] = [None] * len(transcripts[max(0, k - 1) : k + 2])
    return transcripts


__all__ = [
    "JOIN_PAUSE_SECONDS",
    "MAX_UNHEARD_SECONDS",
    "MIN_STREAM_SECONDS",
    "can_join",
    "group_into_streams",
    "recognise_joined",
]
