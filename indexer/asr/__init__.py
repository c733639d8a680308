"""Speech recognition (ASR) over whole files: chunking, the file timeline, caching, progress.

Engines (``faster.py``, ``openai_whisper.py``) only recognise chunks; this module turns a file (or a
segment of one) into a :class:`~indexer.models.Transcript` and remembers it, keyed by the audio's
bytes and every setting that changes the result, so the same audio is never recognised twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .. import align, audio
from ..errors import ModelError
from ..models import Transcript
from .base import ChunkResult, DecodeOptions, Engine
from .weights import DEFAULT_MODEL, model_label

logger = logging.getLogger("indexer")

ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"


@functools.lru_cache(maxsize=4)
def load_engine(name: str = DEFAULT_ENGINE, model: Optional[str] = None, *, cache_dir: Path) -> Engine:
    """Load a model once per process: every later call with the same arguments returns the same engine."""
    if name == "faster-whisper":
        from .faster import FasterWhisperEngine

        return FasterWhisperEngine(model, cache_dir=cache_dir)
    if name == "openai-whisper":
        try:
            from .openai_whisper import OpenAIWhisperEngine
        except ImportError as e:
            raise ModelError(f"the openai-whisper engine is not installed: pip install 'indexer[openai-whisper]' ({e})") from e
        return OpenAIWhisperEngine(model or DEFAULT_MODEL, cache_dir=cache_dir)
    raise ModelError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


class TranscriptCache:
    """Transcripts on disk, one JSON file per (audio bytes, span, engine, model, settings)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    @staticmethod
    def key(audio_hash: str, span, engine: str, model: str, language: Optional[str], options: DecodeOptions) -> str:
        identity = {
            "audio": audio_hash,
            "span": list(span) if span else None,
            "engine": engine,
            "model": model,
            "language": language,
            "options": options.key(),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> Optional[Transcript]:
        path = self._path(key)
        try:
            return Transcript.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable cached transcript %s", path)
            return None

    def put(self, key: str, transcript: Transcript) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(transcript.to_dict(), f)
            os.replace(tmp, path)
        except OSError as e:
            # A cache that cannot be written costs time later, never the user's result now.
            logger.warning("could not cache transcript in %s: %s", path.parent, e)


class Transcriber:
    """Turns audio files into transcripts with one loaded engine and a transcript cache.

    ``recognitions`` counts the files (or segments) actually run through the model, which is how a
    caller can tell that a cache answered.
    """

    def __init__(
        self,
        *,
        engine: str = DEFAULT_ENGINE,
        model: Optional[str] = None,
        language: Optional[str] = None,
        options: DecodeOptions | dict | None = None,
        cache_dir: Path,
        progress: bool = False,
    ):
        self.engine_name = engine
        self.model = model
        self.model_label = model_label(model)
        self.language = language
        self.options = DecodeOptions.coerce(options)
        self.cache_dir = cache_dir
        self.cache = TranscriptCache(cache_dir / "transcripts")
        self.progress = progress
        self.recognitions = 0

    @property
    def engine(self) -> Engine:
        # Loaded on first use, so listing or searching never pays for a model.
        return load_engine(self.engine_name, self.model, cache_dir=self.cache_dir)

    def transcribe(self, path: Path, span: audio.Span | None = None, audio_hash: Optional[str] = None) -> Transcript:
        """Transcribe ``path`` (or the ``span`` of it); times are in the file's timeline."""
        audio_hash = audio_hash or audio.file_hash(path)
        key = self._key(audio_hash, span)
        cached = self.cache.get(key)
        if cached is not None:
            logger.info("%s: transcript from cache", path)
            return cached
        if span:
            whole = self.cache.get(self._key(audio_hash, None))
            if whole is not None:
                logger.info("%s: segment cut from the cached whole-file transcript", path)
                return align.clip(whole, span[0], span[1])
        transcript = self._recognise(path, span)
        self.cache.put(key, transcript)
        return transcript

    def _key(self, audio_hash: str, span) -> str:
        return TranscriptCache.key(audio_hash, span, self.engine_name, self.model_label, self.language, self.options)

    def _recognise(self, path: Path, span) -> Transcript:
        from tqdm import tqdm

        info = audio.probe(path)
        start = span[0] if span else 0.0
        end = span[1] if span and span[1] is not None else info.duration
        total = (end - start) if end is not None else None
        engine = self.engine
        language = self.language
        segments = []
        decoded_until = start
        self.recognitions += 1
        with tqdm(
            total=round(total, 1) if total else None,
            unit="s",
            unit_scale=False,
            desc=path.name[:30],
            file=sys.stderr,
            disable=not self.progress or None,  # None: only on a terminal
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
            leave=False,
        ) as bar:
            for offset, samples in audio.chunks(path, span):
                chunk_end = offset + len(samples) / audio.SAMPLE_RATE
                result: ChunkResult = engine.transcribe_chunk(samples, language=language, options=self.options)
                placed = align.place_segments(result.segments, offset, limit=chunk_end)
                for segment in align.sentences(placed):
                    segments.append(segment)
                    bar.update(max(0.0, segment.end - decoded_until))
                    decoded_until = max(decoded_until, segment.end)
                # The first chunk's detected language holds for the rest of the file.
                language = language or result.language
                bar.update(max(0.0, chunk_end - decoded_until))
                decoded_until = chunk_end
        return Transcript(
            segments=segments,
            language=language or "",
            duration=round(decoded_until - start, 3),
            engine=engine.name,
            model=self.model_label,
        )


__all__ = ["DecodeOptions", "Transcriber", "TranscriptCache", "load_engine"]
