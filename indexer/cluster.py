"""Speech recognition on a Dask distributed cluster (``indexer ingest --cluster tcp://scheduler:8786``).

The ingesting process stays in charge: it expands inputs, downloads, hashes, asks the transcript
cache, and only then sends a file to the cluster; it gets back a transcript, caches it and writes
the index. Workers only recognise: each loads the engine once, when the plugin is registered or the
worker (re)joins, and keeps it.

Why the ingesting process writes the results, not the workers: an article and its audio, links and
name aliases go into the index in one transaction that needs the article's text, which only the
ingesting process has; a Whoosh index is a local directory that workers cannot reach; workers need
no database credentials; and a task that Dask runs again after its worker died can at worst
recognise a file twice, never write it twice, because each file's result is written once, by the
one process that waits for it.

Audio reaches a worker by its path when the worker can read the same file (a shared file system;
checked by the file's SHA-256), else as bytes, scattered to the cluster once per file.

GPU workers: start them with ``dask worker tcp://scheduler:8786 --resources GPU=1`` and ingest with
``--device cuda``; every recognition then asks for one ``GPU`` resource, so it only runs on those
workers, one file per GPU at a time.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, cast

from . import audio
from .asr import DecodeOptions, Engine, Transcriber, load_engine
from .asr.streams import can_join, group_into_streams
from .asr.transcriber import started_key
from .audio import TimeRange
from .errors import IndexerError
from .models import Transcript
from .paths import default_cache_dir

if TYPE_CHECKING:
    from tqdm import tqdm

logger = logging.getLogger("indexer")

CONNECT_TIMEOUT = 20.0  # seconds
DEVICES = ("cpu", "cuda")


class ClusterError(IndexerError):
    """The cluster cannot be reached or cannot recognise a file."""


def _distributed():
    try:
        import distributed
    except ImportError as e:
        raise ClusterError(f"--cluster needs Dask distributed: pip install 'indexer[cluster]' ({e})") from e
    return distributed


@dataclass(frozen=True)
class EngineSpec:
    """What each worker loads once: the engine, model and device (``factory`` replaces them, in tests)."""

    engine: str
    model: Optional[str] = None
    device: str = "cpu"
    workers: Optional[int] = None
    factory: Optional[Callable[[], Engine]] = None

    @property
    def plugin_name(self) -> str:
        identity = f"{self.engine}|{self.model}|{self.device}|{self.workers}|{getattr(self.factory, '__qualname__', '')}"
        return "indexer-engine-" + hashlib.sha256(identity.encode()).hexdigest()[:12]

    def load(self) -> Engine:
        if self.factory is not None:
            return self.factory()
        if self.device != "cpu":
            from .asr.faster import FasterWhisperEngine

            if self.engine != "faster-whisper":
                raise ClusterError(f"--device {self.device} is supported with the faster-whisper engine only")
            return FasterWhisperEngine(self.model, cache_dir=default_cache_dir(), workers=self.workers, device=self.device)
        # A worker process does nothing but recognise: the allocator is tuned for it, as the CLI does.
        return load_engine(self.engine, self.model, cache_dir=default_cache_dir(), workers=self.workers, tune_memory=True)


def _plugin_class():
    distributed = _distributed()

    class EnginePlugin(distributed.WorkerPlugin):
        """Loads the engine when the worker starts (or when registered) and keeps it for every task."""

        def __init__(self, spec: EngineSpec):
            self.spec = spec
            self.name = spec.plugin_name
            self.engine: Optional[Engine] = None

        def setup(self, worker) -> None:
            self.engine = self.spec.load()

    return EnginePlugin


@dataclass(frozen=True)
class AudioPayload:
    """A file as sent to a worker: its path, its hash, and its bytes when the worker cannot read the path."""

    path: str
    sha256: str
    data: Optional[bytes] = None


@dataclass(frozen=True)
class Heard:
    """A file's result from a worker: its transcript, and whether it was heard joined with the other
    files of its stream; or why it failed; neither when the worker cannot see the file."""

    transcript: Optional[dict] = None
    joined: bool = False
    error: Optional[Exception] = None


def _engine_on_worker(plugin_name: str) -> Engine:
    from distributed import get_worker

    # The plugin registered under that name is an EnginePlugin (_plugin_class); distributed types it as WorkerPlugin.
    return cast(Any, get_worker().plugins[plugin_name]).engine


def _readable(payload: AudioPayload, scratch: Path) -> Optional[Path]:
    """Where the worker reads the payload's audio: its bytes written to ``scratch``, or the shared
    path when the file there has the payload's hash; None when it has not."""
    if payload.data is not None:
        scratch.mkdir()
        path = scratch / (Path(payload.path).name or "audio")
        path.write_bytes(payload.data)
        return path
    try:
        return Path(payload.path) if audio.file_hash(Path(payload.path)) == payload.sha256 else None
    except OSError:
        return None


def recognise_on_worker(plugin_name: str, payload: AudioPayload, time_range, language, options: dict) -> Optional[dict]:
    """Runs on a worker: the file's transcript as a dict, or None when the worker cannot see the file."""
    engine = _engine_on_worker(plugin_name)
    with tempfile.TemporaryDirectory(prefix="indexer-") as scratch:
        path = _readable(payload, Path(scratch) / "0")
        if path is None:
            return None
        # The pipeline's recognition (chunks, VAD, times in the file's timeline) around this worker's engine.
        transcriber = Transcriber(engine=engine, language=language, options=options, cache_dir=Path(scratch))
        transcript = transcriber._recognise(path, time_range, progress=False)
    transcript.engine, transcript.model = engine.name, engine.model_id
    return transcript.to_dict()


def recognise_stream_on_worker(plugin_name: str, payloads: list[AudioPayload], language, options: dict) -> list[Heard]:
    """Runs on a worker: short files recognised as one stream, as a local batch joins them (:mod:`.asr.streams`)."""
    engine = _engine_on_worker(plugin_name)
    heard = [Heard() for _ in payloads]
    with tempfile.TemporaryDirectory(prefix="indexer-") as scratch:
        transcriber = Transcriber(engine=engine, language=language, options=options, cache_dir=Path(scratch))
        paths = {k: _readable(payload, Path(scratch) / str(k)) for k, payload in enumerate(payloads)}
        readable = [(k, path) for k, path in paths.items() if path is not None]
        if can_join(engine, language, transcriber.options):
            results = transcriber.recognise_together([path for _, path in readable])
        else:
            results = [result for _, path in readable for result in transcriber.recognise_together([path])]
        for (k, _), result in zip(readable, results):
            if isinstance(result, Exception):
                # Sent back as the error the ingesting process reports; not every exception pickles.
                error = result if isinstance(result, IndexerError) else IndexerError(f"{payloads[k].path}: {result}")
                heard[k] = Heard(error=error)
                continue
            transcript, joined = result
            transcript.engine, transcript.model = engine.name, engine.model_id
            heard[k] = Heard(transcript.to_dict(), joined)
    return heard


def can_join_on_worker(plugin_name: str, language, options: dict) -> bool:
    """Runs on a worker: whether its engine recognises short files joined with these settings."""
    return can_join(_engine_on_worker(plugin_name), language, DecodeOptions.coerce(options))


class ClusterTranscriber(Transcriber):
    """A :class:`~indexer.asr.Transcriber` whose recognitions run on a Dask cluster.

    The cache is asked first, in this process, as for local recognition. :meth:`start_in_background`
    sends a whole batch at once, so every worker is busy: short files several to a stream, as a local
    batch joins them (one task each stream), longer files one task each. A bar shows files done / sent.
    """

    def __init__(
        self,
        address: str,
        *,
        device: str = "cpu",
        engine_factory: Optional[Callable[[], Engine]] = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        **kwargs,
    ):
        if not isinstance(kwargs.get("engine", ""), str):
            raise ClusterError("--cluster needs an engine name: each worker loads its own engine (engine_factory in tests)")
        super().__init__(**kwargs)
        _distributed()  # a missing extra is said before any work starts
        if device not in DEVICES:
            raise ClusterError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
        self.address = address
        self.spec = EngineSpec(self.engine_name, self.model, device, self.requested_workers, engine_factory)
        self.connect_timeout = connect_timeout
        self._client = None
        self._client_lock = threading.Lock()
        self._sent: list[Any] = []  # the distributed Futures of the batch, cancelled on close
        self._can_join: Optional[bool] = None
        # Results are taken apart (and unreadable files sent again as bytes) off the client's threads.
        self._collector = ThreadPoolExecutor(4, thread_name_prefix="indexer-cluster")
        self._bar: Optional[tqdm] = None
        self._bar_lock = threading.Lock()

    @property
    def client(self):
        """The connection to the scheduler, opened on first use (a batch of articles needs none)."""
        with self._client_lock:  # the ingest loop and a caller's thread may both ask first
            return self._connect()

    def _connect(self):
        if self._client is None:
            distributed = _distributed()
            try:
                client = distributed.Client(self.address, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise ClusterError(f"cannot reach the Dask scheduler at {self.address}: {e}") from e
            name = self.spec.plugin_name
            # Registering again would make every worker load the engine again.
            if not client.run_on_scheduler(_has_plugin, name=name):
                client.register_plugin(_plugin_class()(self.spec), name=name)
            self._client = client
        return self._client

    # -- sending ---------------------------------------------------------------------------------

    def _submit(self, function, *args, digest: str, files: int = 1):
        future = self.client.submit(
            function,
            self.spec.plugin_name,
            *args,
            pure=False,
            resources={"GPU": 1} if self.spec.device == "cuda" else None,
            key=f"indexer-recognise-{digest[:12]}-{uuid.uuid4().hex}",
        )
        self._count_sent(future, files)
        return future

    def _payload(self, path: Path, digest: str, as_bytes: bool) -> AudioPayload:
        return AudioPayload(self._shared_path(path), digest, Path(path).read_bytes() if as_bytes else None)

    def _submit_file(self, path: Path, time_range: Optional[TimeRange], digest: str, *, as_bytes: bool = False):
        payload = self._payload(path, digest, as_bytes)
        return self._submit(recognise_on_worker, payload, time_range, self.language, self.options.key(), digest=digest)

    def _submit_stream(self, members: list[tuple[Path, str]], *, as_bytes: bool = False):
        payloads = [self._payload(path, digest, as_bytes) for path, digest in members]
        options = self.options.key()
        return self._submit(
            recognise_stream_on_worker, payloads, self.language, options, digest=members[0][1], files=len(members)
        )

    @staticmethod
    def _shared_path(path: Path) -> str:
        """The name a worker tries first: the absolute path, right when the workers share the file system."""
        return str(Path(path).resolve())

    def _count_sent(self, future, files: int) -> None:
        from tqdm import tqdm

        with self._bar_lock:
            if self._bar is None:
                self._bar = tqdm(total=0, unit="file", desc="cluster", file=sys.stderr, disable=not self.progress or None)
            self._bar.total += files
            self._bar.refresh()
        future.add_done_callback(lambda _: self._count_done(files))

    def _count_done(self, files: int) -> None:
        with self._bar_lock:
            if self._bar is not None:
                self._bar.update(files)

    def _joinable(self) -> bool:
        """Whether the workers' engine recognises short files joined with these settings (asked once)."""
        if self._can_join is None:
            future = self.client.submit(can_join_on_worker, self.spec.plugin_name, self.language, self.options.key(), pure=False)
            self._can_join = bool(self._result(future, "the workers' engine"))
        return self._can_join

    def start_in_background(self, paths: Iterable[Path]) -> None:
        """Send every file of the batch that the cache cannot answer; :meth:`transcribe` collects them.

        Files of at most a chunk go several to a stream, grouped as a local batch groups them for as
        many workers as the cluster has threads; longer files go alone, each worker recognising its
        chunks on all its threads.
        """
        short: list[tuple[Path, float]] = []
        long: list[Path] = []
        hashes: dict[Path, str] = {}
        for path in map(Path, paths):
            key = started_key(path, None)
            if key in self._started or path in hashes:
                continue
            try:
                digest = audio.file_hash(path)
                duration = audio.probe(path).duration
            except (OSError, IndexerError):
                continue  # transcribe() reports it
            hashes[path] = digest
            cached = self._cached_for_batch(digest)
            if cached is not None:
                answered: Future = Future()
                answered.set_result((digest, cached))
                self._started[key] = answered
            elif duration is not None and duration <= audio.CHUNK_SECONDS:
                short.append((path, duration))
            else:
                long.append(path)
        if not short and not long:
            return
        threads = max(1, sum(self.client.nthreads().values()))
        streams = group_into_streams(short, threads) if len(short) > 1 and self._joinable() else [[p] for p, _ in short]
        for members in streams + [[path] for path in long]:
            self._start([(path, hashes[path]) for path in members])

    def _start(self, members: list[tuple[Path, str]]) -> None:
        """Send one stream; each file's future (:meth:`transcribe` waits on it) is set as it comes back."""
        futures: dict[Path, Future] = {path: Future() for path, _ in members}
        for path, future in futures.items():
            future.set_running_or_notify_cancel()
            self._started[started_key(path, None)] = future
        sent = self._submit_stream(members)
        self._sent.append(sent)
        sent.add_done_callback(lambda done: self._collect_later(done, members, futures))
        logger.debug("recognising on the cluster: %s", ", ".join(path.name for path, _ in members))

    def _collect_later(self, sent, members: list[tuple[Path, str]], futures: dict[Path, Future]) -> None:
        try:
            self._collector.submit(self._collect, sent, members, futures)
        except RuntimeError:
            pass  # closed: nobody waits for it

    def _collect(self, sent, members: list[tuple[Path, str]], futures: dict[Path, Future]) -> None:
        """Take a stream's results apart: cache each file's transcript and set its future."""
        try:
            heard: list[Heard] = self._result(sent, members[0][0])
            unseen = [member for member, result in zip(members, heard) if result.transcript is None and result.error is None]
            if unseen:  # the workers cannot read these paths: send their bytes, still as one stream
                logger.info("%s: not readable on the workers, sending the bytes", ", ".join(str(p) for p, _ in unseen))
                again: list[Heard] = self._result(self._submit_stream(unseen, as_bytes=True), unseen[0][0])
                heard = list(heard)
                for member, result in zip(unseen, again):
                    heard[members.index(member)] = result
            for (path, digest), result in zip(members, heard):
                future = futures[path]
                if result.error is not None:
                    future.set_exception(result.error)
                elif result.transcript is None:
                    future.set_exception(ClusterError(f"{path}: the worker could not read the audio it was sent"))
                else:
                    transcript = Transcript.from_dict(result.transcript)
                    self.cache.put(self._key(digest, None, joined=result.joined), transcript)
                    with self._lock:
                        self.recognitions += 1
                    future.set_result((digest, transcript))
        except Exception as e:  # the stream failed on every worker that tried it: each file hears why
            for future in futures.values():
                if not future.done():
                    future.set_exception(e)

    # -- receiving -------------------------------------------------------------------------------

    def _recognise(self, path: Path, time_range: Optional[TimeRange], *, progress: bool) -> Transcript:
        """A file (or time range) not sent with a batch: sent alone now, and waited for."""
        digest = audio.file_hash(path)
        result = self._result(self._submit_file(path, time_range, digest), path)
        if result is None:  # the worker could not read the path: send the bytes
            logger.info("%s: not readable on the worker, sending its bytes", path)
            result = self._result(self._submit_file(path, time_range, digest, as_bytes=True), path)
            if result is None:
                raise ClusterError(f"{path}: the worker could not read the audio it was sent")
        with self._lock:
            self.recognitions += 1
        return Transcript.from_dict(result)

    def _result(self, future, path: Path | str):
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as e:
            raise ClusterError(f"{path}: recognition failed on every worker that tried it ({e})") from e
        except IndexerError:
            raise
        except (OSError, TimeoutError) as e:
            raise ClusterError(f"{path}: lost the Dask cluster at {self.address}: {e}") from e

    def close(self) -> None:
        for future in self._sent:
            future.cancel()
        self._sent = []
        super().close()
        self._collector.shutdown(wait=True, cancel_futures=True)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._client is not None:
            self._client.close()
            self._client = None


def _has_plugin(dask_scheduler, name: str) -> bool:
    return name in dask_scheduler.worker_plugins
