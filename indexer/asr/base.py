"""The engine protocol: what the pipeline needs from a Whisper implementation.

An engine turns one chunk of 16 kHz mono float32 audio into segments whose times are relative to
the chunk's start. Chunking a long file, shifting times into the file's timeline, caching and
progress are the pipeline's job (``indexer.asr``), so an engine stays small.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Optional, Protocol

import numpy as np

from ..models import Segment


@dataclass
class DecodeOptions:
    """Decoding settings shared by the engines.

    Attributes:
      beam_size: Beam width; 1 is greedy. Greedy dropped whole sentences on long audio here.
      vad: Skip non-speech (music beds, silence) with Silero VAD before recognition.
      word_timestamps: Compute word times from cross-attention alignment.
      condition_on_previous_text: Feed the previous window's text as a prompt.
      batch_size: Decode this many 30-second windows of speech at once (faster-whisper's batched
        pipeline, which always uses VAD and does not condition on previous text); 1 decodes them one
        after the other. Engines without batching ignore it. Batching is faster and gets fewer
        words right, so it is a choice, not the default (bench/RESULTS.md, "Batched decoding").
    """

    beam_size: int = 5
    vad: bool = True
    word_timestamps: bool = True
    condition_on_previous_text: bool = True
    batch_size: int = 1

    @classmethod
    def coerce(cls, value: "DecodeOptions | dict | None") -> "DecodeOptions":
        if value is None:
            return cls()
        if isinstance(value, dict):
            return cls(**value)
        return value

    def key(self) -> dict:
        """The settings that change a transcript; part of the cache key."""
        return asdict(self)


@dataclass
class ChunkResult:
    """Segments of one chunk (a list, or a lazy iterator that recognises as it is consumed)."""

    segments: Iterable[Segment]
    language: str


class Engine(Protocol):
    """A loaded Whisper model. Load once per process and reuse for every file."""

    name: str  # "faster-whisper", "openai-whisper"
    model_id: str  # "tiny.en", "base", or a path
    multilingual: bool
    workers: int  # chunks it can recognise at once, from that many threads

    def transcribe_chunk(
        self,
        audio: np.ndarray,
        *,
        language: Optional[str],
        options: DecodeOptions,
    ) -> ChunkResult:
        """Recognise one chunk; segment and word times are seconds from the chunk's start."""
        ...
