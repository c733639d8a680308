"""Speech recognition (ASR): engines, the transcriber over whole files, its cache, joined streams, VAD.

``transcriber.py`` turns files into transcripts with an engine from ``engines.py`` (or one given);
``cache.py`` remembers them; ``streams.py`` recognises short files several to a stream; ``vad.py``
finds the speech; ``faster.py`` and ``openai_whisper.py`` are the engines (``base.py``: the protocol).
"""

from .base import ChunkResult, DecodeOptions, Engine
from .cache import TranscriptCache
from .engines import DEFAULT_ENGINE, ENGINES, load_engine
from .streams import JOIN_PAUSE_SECONDS, MAX_UNHEARD_SECONDS, MIN_STREAM_SECONDS
from .transcriber import TUNE_MEMORY_ENV, Transcriber

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "JOIN_PAUSE_SECONDS",
    "MAX_UNHEARD_SECONDS",
    "MIN_STREAM_SECONDS",
    "TUNE_MEMORY_ENV",
    "ChunkResult",
    "DecodeOptions",
    "Engine",
    "Transcriber",
    "TranscriptCache",
    "load_engine",
]
