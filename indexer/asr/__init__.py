"""Speech recognition (ASR) over whole files: chunking, the file timeline, caching, progress.

Engines (``faster.py``, ``openai_whisper.py``) only recognise chunks; this module turns a file (or a
segment of one) into a :class:`~indexer.models.Transcript` and remembers it, keyed by the audio's
bytes and every setting that changes the result, so the same audio is never recognised twice.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
import json
import logging
import os
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .. import align, audio
from ..errors import ModelError
from ..models import Transcript
from .allocator import trimming, tune_allocator
from .base import ChunkResult, DecodeOptions, Engine
from .weights import DEFAULT_MODEL, model_label

logger = logging.getLogger("indexer")

ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"


_loading = threading.Lock()


def load_engine(
    name: str = DEFAULT_ENGINE, model: Optional[str] = None, *, cache_dir: Path, workers: Optional[int] = None
) -> Engine:
    """Load a model once per process: every later call with the same arguments returns the same engine."""
    with _loading:  # files recognised in the background must not load a second copy
        return _load_engine(name, model, cache_dir, workers)


@functools.lru_cache(maxsize=4)
def _load_engine(name: str, model: Optional[str], cache_dir: Path, workers: Optional[int]) -> Engine:
    if name == "faster-whisper":
        from .faster import FasterWhisperEngine

        tune_allocator()
        return FasterWhisperEngine(model, cache_dir=cache_dir, workers=workers)
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

    Chunks of a file are recognised ``engine.workers`` at a time, and :meth:`prefetch` starts short
    files in the background, so a batch keeps every worker busy. ``recognitions`` counts the files
    (or segments) actually run through the model, which is how a caller can tell that a cache answered.
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
        workers: Optional[int] = None,
    ):
        self.engine_name = engine
        self.model = model
        self.model_label = model_label(model)
        self.language = language
        self.options = DecodeOptions.coerce(options)
        self.cache_dir = cache_dir
        self.cache = TranscriptCache(cache_dir / "transcripts")
        self.progress = progress
        self.requested_workers = workers
        self.recognitions = 0
        self._lock = threading.Lock()
        self._chunk_pool: Optional[ThreadPoolExecutor] = None
        self._file_pool: Optional[ThreadPoolExecutor] = None
        self._prefetched: dict[tuple[str, Optional[tuple]], Future] = {}

    @property
    def engine(self) -> Engine:
        # Loaded on first use, so listing or searching never pays for a model.
        return load_engine(self.engine_name, self.model, cache_dir=self.cache_dir, workers=self.requested_workers)

    @property
    def workers(self) -> int:
        return self.engine.workers

    def transcribe(self, path: Path, span: audio.Span | None = None, audio_hash: Optional[str] = None) -> Transcript:
        """Transcribe ``path`` (or the ``span`` of it); times are in the file's timeline."""
        audio_hash = audio_hash or audio.file_hash(path)
        with self._lock:
            started = self._prefetched.pop(_prefetch_key(path, span), None)
        if started is not None:
            hashed, transcript = started.result()  # re-raises what recognition raised
            if hashed == audio_hash:
                return transcript
        return self._transcribe(path, span, audio_hash, progress=self.progress)

    def prefetch(self, path: Path, span: audio.Span | None = None) -> None:
        """Start transcribing ``path`` in the background; a later :meth:`transcribe` of it waits for that.

        For short files in a batch: one file of less than a chunk would leave all workers but one
        idle. Background files show no progress bar (the bar belongs to the file being ingested).
        """
        key = _prefetch_key(path, span)
        engine = self.engine  # load the model here, not in a background thread
        with self._lock:
            if key in self._prefetched:
                return
            if self._file_pool is None:
                self._file_pool = ThreadPoolExecutor(engine.workers, thread_name_prefix="indexer-file")

            def run() -> tuple[str, Transcript]:
                audio_hash = audio.file_hash(path)
                return audio_hash, self._transcribe(path, span, audio_hash, progress=False)

            self._prefetched[key] = self._file_pool.submit(run)
        logger.debug("%s: recognising in the background", path)

    def close(self) -> None:
        """Stop background work that has not started (what is running finishes)."""
        with self._lock:
            pending, self._prefetched = list(self._prefetched.values()), {}
        for future in pending:
            future.cancel()
        for pool in (self._file_pool, self._chunk_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._file_pool = self._chunk_pool = None

    def _transcribe(self, path: Path, span, audio_hash: str, *, progress: bool) -> Transcript:
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
        transcript = self._recognise(path, span, progress=progress)
        self.cache.put(key, transcript)
        return transcript

    def _key(self, audio_hash: str, span) -> str:
        return TranscriptCache.key(audio_hash, span, self.engine_name, self.model_label, self.language, self.options)

    def _recognise(self, path: Path, span, *, progress: bool) -> Transcript:
        from tqdm import tqdm

        info = audio.probe(path)
        start = span[0] if span else 0.0
        end = span[1] if span and span[1] is not None else info.duration
        total = (end - start) if end is not None else None
        engine = self.engine
        segments = []
        with self._lock:
            self.recognitions += 1
        with tqdm(
            total=round(total, 1) if total else None,
            unit="s",
            unit_scale=False,
            desc=path.name[:30],
            file=sys.stderr,
            disable=not progress or None,  # None: only on a terminal
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
            leave=False,
        ) as bar, trimming():
            recognised = self._recognise_chunks(engine, audio.chunks(path, span), bar)
            language = self.language
            decoded_until = start
            for offset, chunk_end, chunk in recognised:
                placed = align.place_segments(chunk.segments, offset, limit=chunk_end)
                segments.extend(align.sentences(placed))
                # The first chunk's detected language holds for the rest of the file.
                language = language or chunk.language
                decoded_until = chunk_end
        return Transcript(
            segments=segments,
            language=language or "",
            duration=round(decoded_until - start, 3),
            engine=engine.name,
            model=self.model_label,
        )

    def _recognise_chunks(self, engine: Engine, chunks, bar) -> Iterator[tuple[float, float, ChunkResult]]:
        """Recognise ``chunks`` up to ``engine.workers`` at a time; yield them in order, as they finish.

        Chunks are independent (Whisper's context restarts at each), so the text is the same as one
        at a time. At most ``workers`` decoded chunks wait beyond those being recognised.
        """
        language = self.language
        progress_lock = threading.Lock()

        def recognise(offset: float, samples: np.ndarray) -> tuple[float, float, ChunkResult]:
            chunk_end = offset + len(samples) / audio.SAMPLE_RATE
            result = engine.transcribe_chunk(samples, language=language, options=self.options)
            found, heard_until = [], 0.0
            for segment in result.segments:  # an engine may recognise lazily, as segments are read
                found.append(segment)
                with progress_lock:
                    bar.update(max(0.0, segment.end - heard_until))
                heard_until = max(heard_until, segment.end)
            with progress_lock:
                bar.update(max(0.0, chunk_end - offset - heard_until))
            return offset, chunk_end, ChunkResult(segments=found, language=result.language)

        chunks = iter(chunks)
        if language is None and engine.multilingual:
            # Every chunk is decoded in the language the first one is heard in.
            for offset, samples in itertools.islice(chunks, 1):
                first = recognise(offset, samples)
                language = first[2].language or None
                yield first
        with self._lock:
            if self._chunk_pool is None:
                self._chunk_pool = ThreadPoolExecutor(engine.workers, thread_name_prefix="indexer-chunk")
            pool = self._chunk_pool
        pending: collections.deque[Future] = collections.deque()
        try:
            for offset, samples in chunks:
                pending.append(pool.submit(recognise, offset, samples))
                if len(pending) > engine.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # a chunk failed, or the caller stopped reading
                future.cancel()


def _prefetch_key(path: Path, span) -> tuple[str, Optional[tuple]]:
    return str(Path(path).resolve()), tuple(span) if span else None


__all__ = ["DecodeOptions", "Transcriber", "TranscriptCache", "load_engine"]
