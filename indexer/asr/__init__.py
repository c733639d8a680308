"""Speech recognition (ASR) over whole files: chunking, the file timeline, caching, progress.

Engines (``faster.py``, ``openai_whisper.py``) only recognise chunks; this module turns a file (or a
segment of one) into a :class:`~indexer.models.Transcript` and remembers it, keyed by the audio's
bytes and every setting that changes the result, so the same audio is never recognised twice.
"""

from __future__ import annotations

import collections
import dataclasses
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
from typing import Iterable, Iterator, Optional

import numpy as np

from .. import align, audio
from ..errors import IndexerError, ModelError
from ..models import Transcript
from .allocator import trimming, tune_allocator
from .base import ChunkResult, DecodeOptions, Engine
from .weights import DEFAULT_MODEL, model_label

logger = logging.getLogger("indexer")

ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"

# Silence between short files recognised as one stream. VAD cuts each file's own silences, as it
# does for a single file, but this pause stays, so that Whisper hears the files apart and each word
# falls on one side of it. 2 s is the shortest silence VAD itself treats as a break in speech. On
# the benchmark's clips, pauses of 0.5-3 s made no consistent difference: 13-16 Whisper windows,
# folder WER 0.037-0.046 (bench/RESULTS.md, session 10).
JOIN_PAUSE_SECONDS = 2.0
# A joined file whose VAD speech has a stretch longer than this that no word covers is recognised
# again alone, with its neighbours. VAD joins speech across pauses under 2 s, and a word covers
# 0.5 s either side of it, so a pause inside speech leaves at most 1.0 s; no file recognised joined
# in session 10's measurements (the benchmark's clips, the sample's sentences) had more than 0.95 s.
# Skips seen: 20 words across a join (session 9: 1.54 and 2.0 s in the two files), a stream's last
# sentence cut short (2.7 s), and Whisper jumping from "the" to "next" over 8 s (2.47 s).
MAX_UNHEARD_SECONDS = 1.2
# The shortest stream of joined files worth making (see _streams): about two and a half Whisper
# windows. On the benchmark's 21 clips of ~15 s, against the same audio as one file (medians of 3):
# no minimum 1.43x (the last streams were single files, 21 windows against the file's 11), 30 s
# 1.33x, 45 s 1.14x, 60 s 1.04-1.10x, 75 s 1.01x (14 windows), 90 s 1.00-1.09x, 120 s 1.20x (the
# last stream ran alone). bench/RESULTS.md, session 10.
MIN_STREAM_SECONDS = 75.0


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
    files in the background, several to a stream, so a batch keeps every worker busy.
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
        self._decoding = threading.Lock()

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

    def ready(self, path: Path, span: audio.Span | None = None) -> bool:
        """Whether ``path`` was started in the background and has finished (or failed)."""
        with self._lock:
            started = self._prefetched.get(_prefetch_key(path, span))
        return started is not None and started.done()

    def prefetch(self, paths: Iterable[Path]) -> None:
        """Start recognising short files in the background; a later :meth:`transcribe` of one waits for it.

        For a batch: a file shorter than a chunk would keep one worker busy and leave the others
        idle, and alone it pays for Whisper windows it half fills. Files of at most a chunk are
        recognised several to a stream (:meth:`_recognise_joined`), in order, ``workers`` streams at
        a time. Longer files, files already started and files that cannot be probed are left to
        :meth:`transcribe`. Background files show no progress bar (the bar belongs to the file
        being ingested).
        """
        engine = self.engine  # load the model here, not in a background thread
        short: list[tuple[Path, float]] = []
        for path in map(Path, paths):
            try:
                duration = audio.probe(path).duration
            except IndexerError:
                continue  # reported in its turn
            if duration is not None and duration <= audio.CHUNK_SECONDS:
                short.append((path, duration))
        # Files are told apart in a stream by their words' times, share its language, and are
        # checked against their VAD speech; the batched decoder runs its own VAD over a whole input.
        options = self.options
        joinable = options.word_timestamps and options.vad and options.batch_size == 1 and bool(self.language or not engine.multilingual)
        with self._lock:
            if self._file_pool is None:
                self._file_pool = ThreadPoolExecutor(engine.workers, thread_name_prefix="indexer-file")
            short = [(path, d) for path, d in short if _prefetch_key(path, None) not in self._prefetched]
            for members in _streams(short, engine.workers) if joinable else [[path] for path, _ in short]:
                futures = {path: Future() for path in members}
                for path, future in futures.items():
                    self._prefetched[_prefetch_key(path, None)] = future
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
                    cached = self.cache.get(self._key(audio_hash, None))
                except Exception as e:
                    future.set_exception(e)
                    continue
                if cached is not None:
                    future.set_result((audio_hash, cached))
                else:
                    todo.append((path, audio_hash, future))
            if len(todo) == 1:
                path, audio_hash, future = todo[0]
                future.set_result((audio_hash, self._transcribe(path, None, audio_hash, progress=False)))
                return
            readable: list[tuple[Path, str, Future, np.ndarray]] = []
            # PyAV decodes holding the GIL: two streams decoding at once took 1.7x as long as one
            # after the other, and held both workers back from recognising.
            with self._decoding:
                for path, audio_hash, future in todo:
                    try:
                        readable.append((path, audio_hash, future, audio.load(path)))
                    except Exception as e:
                        future.set_exception(e)
            if readable:
                transcripts = self._recognise_joined([samples for *_, samples in readable])
                for (path, audio_hash, future, _), transcript in zip(readable, transcripts):
                    if transcript is None:
                        logger.info("%s: recognising alone: in the joined stream, speech in it or next to it got no words", path)
                        transcript = self._recognise(path, None, progress=False)
                    self.cache.put(self._key(audio_hash, None), transcript)
                    future.set_result((audio_hash, transcript))
        except Exception as e:  # recognition failed: every file still waiting hears why
            for future in started.values():
                if not future.done():
                    future.set_exception(e)

    def _recognise_joined(self, files: list[np.ndarray]) -> list[Optional[Transcript]]:
        """Recognise short files as one stream, a pause between them, and split the words back.

        Whisper encodes 30 seconds at a time, so a 10-second file alone costs a whole window, and a
        file's last words often take one more (Whisper decodes again from the last timestamp it is
        sure of). Joined, short files cost what the same speech in one long file does. The price:
        Whisper's previous-text prompt runs on from one file into the next, so a file's transcript
        can differ in a word from the one it gets alone (bench/RESULTS.md, session 9).

        Whisper can also jump over speech at a join (it once skipped 20 words across one). So each
        file's speech, as VAD hears it, is checked against its words; a file with speech that no
        word covers gets ``None`` with its neighbours (the words it lost may have gone to them), and
        is to be recognised alone.
        """
        from faster_whisper.vad import SpeechTimestampsMap, VadOptions, get_speech_timestamps

        engine, rate = self.engine, audio.SAMPLE_RATE
        pause = int(JOIN_PAUSE_SECONDS * rate)
        # The stream is laid out as the files with a pause after each; only their speech and the
        # pauses are recognised, as faster-whisper's own VAD filter would (VadOptions() is its default).
        spans, speech, kept, pieces, position = [], [], [], [], 0
        silence = np.zeros(pause, np.float32)
        for samples in files:
            # VAD hears the file with the pause after it, as in the stream: at the very end of
            # audio it cannot tell a pause from the end of speech, and lets speech run on to it.
            found = get_speech_timestamps(np.concatenate([samples, silence]), VadOptions(), sampling_rate=rate)
            found = [{"start": c["start"], "end": min(c["end"], len(samples))} for c in found if c["start"] < len(samples)]
            spans.append((position / rate, (position + len(samples)) / rate))
            speech.append([(c["start"] / rate, c["end"] / rate) for c in found])
            for c in found:
                kept.append({"start": position + c["start"], "end": position + c["end"]})
                pieces.append(samples[c["start"] : c["end"]])
            position += len(samples)
            if found:
                kept.append({"start": position, "end": position + pause})
                pieces.append(silence)
            position += pause
        if not pieces:
            per_file: list[list] = [[] for _ in files]
        else:
            with trimming():
                result = engine.transcribe_chunk(
                    np.concatenate(pieces), language=self.language, options=dataclasses.replace(self.options, vad=False)
                )
                speech_map = SpeechTimestampsMap(kept, rate)
                heard = [align.restore_cut_silences(segment, speech_map) for segment in result.segments]
            per_file = align.split_stream(heard, spans)
        transcripts: list[Optional[Transcript]] = [
            Transcript(
                segments=list(align.sentences(align.place_segments(found, 0.0, limit=end - start))),
                language=self.language or "en",  # joined only when given, or the model knows only English
                duration=round(end - start, 3),
                engine=engine.name,
                model=self.model_label,
            )
            for (start, end), found in zip(spans, per_file)
        ]
        suspect = [k for k, transcript in enumerate(transcripts) if align.unheard_speech(speech[k], transcript) > MAX_UNHEARD_SECONDS]
        for k in suspect:
            transcripts[max(0, k - 1) : k + 2] = [None] * len(transcripts[max(0, k - 1) : k + 2])
        with self._lock:
            self.recognitions += sum(t is not None for t in transcripts)
        return transcripts

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


def _streams(files: list[tuple[Path, float]], workers: int) -> list[list[Path]]:
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


def _prefetch_key(path: Path, span) -> tuple[str, Optional[tuple]]:
    return str(Path(path).resolve()), tuple(span) if span else None


__all__ = ["DecodeOptions", "Transcriber", "TranscriptCache", "load_engine"]
