"""The Transcriber: a file (or a time range of one) to a Transcript, chunk by chunk, cached.

Engines (``faster.py``, ``openai_whisper.py``) only recognise chunks; this module turns a file into a
:class:`~indexer.models.Transcript` in the file's timeline and remembers it (:mod:`.cache`), so the
same audio is never recognised twice.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator, Optional

import numpy as np

from .. import align, audio
from ..audio import TimeRange
from ..errors import IndexerError
from ..models import Segment, Transcript
from ..unheard import recover_unheard
from . import engines
from .allocator import trimming
from .base import ChunkResult, DecodeOptions, Engine
from .cache import TranscriptCache
from .streams import can_join, group_into_streams, recognise_joined
from .weights import model_label

logger = logging.getLogger("indexer")

# In a batch, files of up to this many chunks are recognised in the background too, two or more at a
# time: alone, a file of a chunk and a bit leaves a worker idle while its first chunk is recognised
# (bench/RESULTS.md, "Workers and threads"). Longer files keep every worker busy with their own chunks.
MEDIUM_FILE_CHUNKS = 4

# Set to 1 to tune glibc's allocator in a library user's process, as the CLI does (see engines.load_engine).
TUNE_MEMORY_ENV = "INDEXER_TUNE_MEMORY"


class Transcriber:
    """Turns audio files into transcripts with one engine and a transcript cache.

    Args:
      engine: An engine name (``ENGINES``), loaded on first use and shared in the process, or an
        engine instance (anything that follows :class:`~indexer.asr.base.Engine`), used as given.
      model: The model for a named engine; an engine instance brings its own.
      tune_memory: Tune glibc's allocator for long recognitions when the engine loads; it changes
        the whole process, so it is off unless asked for here or by ``INDEXER_TUNE_MEMORY=1``.

    Chunks of a file are recognised ``engine.workers`` at a time, and :meth:`start_in_background`
    starts short files early, several to a stream, so a batch keeps every worker busy.
    ``recognitions`` counts the files (or time ranges) actually run through the model, which is how
    a caller can tell that a cache answered.
    """

    def __init__(
        self,
        *,
        engine: str | Engine = engines.DEFAULT_ENGINE,
        model: Optional[str] = None,
        language: Optional[str] = None,
        options: DecodeOptions | dict | None = None,
        cache_dir: Path,
        progress: bool = False,
        workers: Optional[int] = None,
        tune_memory: Optional[bool] = None,
    ):
        if isinstance(engine, str):
            self._engine: Optional[Engine] = None
            self.engine_name = engine
            self.model_label = model_label(model)
        else:
            self._engine = engine
            self.engine_name = engine.name
            self.model_label = engine.model_id
        self.model = model
        self.language = language
        self.options = DecodeOptions.coerce(options)
        self.cache_dir = cache_dir
        self.cache = TranscriptCache(cache_dir / "transcripts")
        self.progress = progress
        self.requested_workers = workers
        self.tune_memory = tune_memory if tune_memory is not None else os.environ.get(TUNE_MEMORY_ENV) == "1"
        self.recognitions = 0
        self.unheard_stretches = 0  # stretches of skipped speech recognised again (indexer.unheard)
        self._lock = threading.Lock()
        self._chunk_pool: Optional[ThreadPoolExecutor] = None
        self._file_pool: Optional[ThreadPoolExecutor] = None
        self._started: dict[tuple[str, Optional[tuple]], Future] = {}
        self._decoding = threading.Lock()

    @property
    def engine(self) -> Engine:
        # Loaded on first use, so listing or searching never pays for a model.
        if self._engine is not None:
            return self._engine
        return engines.load_engine(
            self.engine_name, self.model, cache_dir=self.cache_dir, workers=self.requested_workers, tune_memory=self.tune_memory
        )

    def transcribe(self, path: Path, time_range: TimeRange | None = None, audio_hash: Optional[str] = None) -> Transcript:
        """Transcribe ``path`` (or the ``time_range`` of it); times are in the file's timeline."""
        audio_hash = audio_hash or audio.file_hash(path)
        with self._lock:
            started = self._started.pop(started_key(path, time_range), None)
        if started is not None:
            hashed, transcript = started.result()  # re-raises what recognition raised
            if hashed == audio_hash:
                return transcript
        return self._transcribe(path, time_range, audio_hash, progress=self.progress)

    def ready(self, path: Path, time_range: TimeRange | None = None) -> bool:
        """Whether ``path`` was started in the background and has finished (or failed)."""
        with self._lock:
            started = self._started.get(started_key(path, time_range))
        return started is not None and started.done()

    def start_in_background(self, paths: Iterable[Path]) -> None:
        """Start recognising short files in the background; a later :meth:`transcribe` of one waits for it.

        For a batch: a file shorter than a chunk would keep one worker busy and leave the others
        idle, and alone it pays for Whisper windows it half fills. Files of at most a chunk are
        recognised several to a stream (:mod:`.streams`), and files of a few chunks
        (``MEDIUM_FILE_CHUNKS``) one each, in order, ``workers`` at a time, so that one file's last
        chunk is recognised beside the next file's first. Longer files, files already started and
        files that cannot be probed are left to :meth:`transcribe`. Background files show no
        progress bar (the bar belongs to the file being ingested).
        """
        engine = self.engine  # load the model here, not in a background thread
        short: list[tuple[Path, float]] = []
        medium: list[Path] = []
        order: dict[tuple, int] = {}  # each file's place in the batch
        for path in map(Path, paths):
            if started_key(path, None) in order:
                continue  # one file embedded by several articles of the batch is recognised once
            order[started_key(path, None)] = len(order)
            try:
                duration = audio.probe(path).duration
            except IndexerError:
                continue  # reported in its turn
            if duration is not None and duration <= audio.CHUNK_SECONDS:
                short.append((path, duration))
            elif duration is not None and duration <= MEDIUM_FILE_CHUNKS * audio.CHUNK_SECONDS:
                medium.append(path)
        if len(short) + len(medium) < 2:
            medium = []  # nothing to share the workers with: recognised in its turn, with its progress bar
        joinable = can_join(engine, self.language, self.options)
        with self._lock:
            if self._file_pool is None:
                self._file_pool = ThreadPoolExecutor(engine.workers, thread_name_prefix="indexer-file")
            short = [(path, d) for path, d in short if started_key(path, None) not in self._started]
            streams = group_into_streams(short, engine.workers) if joinable else [[path] for path, _ in short]
            streams += [[path] for path in medium if started_key(path, None) not in self._started]
            for members in sorted(streams, key=lambda stream: order[started_key(stream[0], None)]):  # in the batch's order
                futures: dict[Path, Future] = {path: Future() for path in members}
                for path, future in futures.items():
                    self._started[started_key(path, None)] = future
                self._file_pool.submit(self._run_stream, futures)
                logger.debug("recognising in the background: %s", ", ".join(path.name for path in members))

    def _run_stream(self, futures: dict[Path, Future]) -> None:
        """Recognise one background stream's files and resolve each file's future."""
        started = {path: future for path, future in futures.items() if future.set_running_or_notify_cancel()}
        try:
            todo: list[tuple[Path, str, Future]] = []
            for path, future in started.items():
                try:
                    audio_hash = audio.file_hash(path)
                    cached = self._cached_for_batch(audio_hash)
                except Exception as e:
                    future.set_exception(e)
                    continue
                if cached is not None:
                    future.set_result((audio_hash, cached))
                else:
                    todo.append((path, audio_hash, future))
            results = self.recognise_together([path for path, _, _ in todo])
            for (_, audio_hash, future), result in zip(todo, results):
                if isinstance(result, Exception):
                    future.set_exception(result)
                    continue
                transcript, joined = result
                self.cache.put(self._key(audio_hash, None, joined=joined), transcript)
                future.set_result((audio_hash, transcript))
        except Exception as e:  # recognition failed: every file still waiting hears why
            for future in started.values():
                if not future.done():
                    future.set_exception(e)

    def recognise_together(self, paths: list[Path]) -> list[tuple[Transcript, bool] | Exception]:
        """Recognise short files as one stream (:func:`.streams.recognise_joined`); nothing is cached.

        Per file: its transcript and whether it was heard joined with the others, or the exception
        it failed with. A file that cannot be read fails alone; a file whose speech the stream lost
        is recognised again alone, with its neighbours. One file is simply recognised alone.
        """
        if len(paths) == 1:
            try:
                return [(self._recognise(paths[0], None, progress=False), False)]
            except Exception as e:
                return [e]
        loaded: list[np.ndarray | Exception] = []
        # PyAV decodes holding the GIL: two streams decoding at once hold both workers back from
        # recognising (bench/RESULTS.md, "Joined streams").
        with self._decoding:
            for path in paths:
                try:
                    loaded.append(audio.load(path))
                except Exception as e:
                    loaded.append(e)
        readable = [samples for samples in loaded if not isinstance(samples, Exception)]
        heard = iter(
            recognise_joined(self.engine, readable, language=self.language, options=self.options, model_label=self.model_label)
            if readable
            else []
        )
        results: list[tuple[Transcript, bool] | Exception] = []
        for path, samples in zip(paths, loaded):
            if isinstance(samples, Exception):
                results.append(samples)
                continue
            transcript = next(heard)
            if transcript is not None:
                with self._lock:
                    self.recognitions += 1
                results.append((transcript, True))
                continue
            logger.info("%s: recognising alone: in the joined stream, speech in it or next to it got no words", path)
            try:
                results.append((self._recognise(path, None, progress=False), False))
            except Exception as e:
                results.append(e)
        return results

    def close(self) -> None:
        """Stop background work that has not started (what is running finishes)."""
        with self._lock:
            pending, self._started = list(self._started.values()), {}
        for future in pending:
            future.cancel()
        for pool in (self._file_pool, self._chunk_pool):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._file_pool = self._chunk_pool = None

    def _transcribe(self, path: Path, time_range: Optional[TimeRange], audio_hash: str, *, progress: bool) -> Transcript:
        key = self._key(audio_hash, time_range)
        cached = self.cache.get(key)
        if cached is not None:
            logger.info("%s: transcript from cache", path)
            return cached
        if time_range:
            whole = self.cache.get(self._key(audio_hash, None))
            if whole is not None:
                logger.info("%s: segment cut from the cached whole-file transcript", path)
                return align.clip(whole, time_range[0], time_range[1])
        transcript = self._recognise(path, time_range, progress=progress)
        self.cache.put(key, transcript)
        return transcript

    def _cached_for_batch(self, audio_hash: str) -> Optional[Transcript]:
        """A whole file's cached transcript, recognised alone or joined: either is as good an answer."""
        return self.cache.get(self._key(audio_hash, None)) or self.cache.get(self._key(audio_hash, None, joined=True))

    def _key(self, audio_hash: str, time_range: Optional[TimeRange], *, joined: bool = False) -> str:
        return TranscriptCache.key(
            audio_hash, time_range, self.engine_name, self.model_label, self.language, self.options, joined=joined
        )

    def _recognise(self, path: Path, time_range: Optional[TimeRange], *, progress: bool) -> Transcript:
        from tqdm import tqdm

        info = audio.probe(path)
        start = time_range[0] if time_range else 0.0
        end = time_range[1] if time_range and time_range[1] is not None else info.duration
        total = (end - start) if end is not None else None
        engine = self.engine
        segments: list[Segment] = []
        with self._lock:
            self.recognitions += 1
        with (
            tqdm(
                total=round(total, 1) if total else None,
                unit="s",
                unit_scale=False,
                desc=path.name[:30],
                file=sys.stderr,
                disable=not progress or None,  # None: only on a terminal
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
                leave=False,
            ) as bar,
            trimming(),
        ):
            recognised = self._recognise_chunks(engine, audio.chunks(path, time_range), bar)
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
            # Speech the engine skipped inside the chunk, recognised again alone (indexer.unheard).
            recovery = recover_unheard(
                samples,
                found,
                lambda piece: list(engine.transcribe_chunk(piece, language=language, options=self.options).segments),
            )
            with progress_lock:
                self.unheard_stretches += recovery.stretches
            return offset, chunk_end, ChunkResult(segments=recovery.segments, language=result.language)

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


def started_key(path: Path, time_range: Optional[TimeRange]) -> tuple[str, Optional[tuple]]:
    """The name a file (or time range) started in the background goes by, however its path is written."""
    return str(Path(path).resolve()), tuple(time_range) if time_range else None


__all__ = ["MEDIUM_FILE_CHUNKS", "TUNE_MEMORY_ENV", "Transcriber"]
