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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, cast

from . import audio
from .asr import Engine, Transcriber, load_engine
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


def recognise_on_worker(plugin_name: str, payload: AudioPayload, time_range, language, options: dict) -> Optional[dict]:
    """Runs on a worker: the file's transcript as a dict, or None when the worker cannot see the file."""
    from distributed import get_worker

    # The plugin registered under that name is an EnginePlugin (_plugin_class); distributed types it as WorkerPlugin.
    engine = cast(Any, get_worker().plugins[plugin_name]).engine
    with tempfile.TemporaryDirectory(prefix="indexer-") as scratch:
        if payload.data is not None:
            path = Path(scratch) / (Path(payload.path).name or "audio")
            path.write_bytes(payload.data)
        else:
            path = Path(payload.path)
            try:
                if audio.file_hash(path) != payload.sha256:
                    return None  # another file by that name on this machine
            except OSError:
                return None
        # The pipeline's recognition (chunks, VAD, times in the file's timeline) around this worker's engine.
        transcriber = Transcriber(engine=engine, language=language, options=options, cache_dir=Path(scratch))
        transcript = transcriber._recognise(path, time_range, progress=False)
    transcript.engine, transcript.model = engine.name, engine.model_id
    return transcript.to_dict()


class ClusterTranscriber(Transcriber):
    """A :class:`~indexer.asr.Transcriber` whose recognitions run on a Dask cluster.

    The cache is asked first, in this process, as for local recognition; :meth:`start_in_background` sends a
    whole batch at once, so every worker is busy, and a bar shows files done / sent.
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
        # (path, time range) -> (the distributed Future of its recognition, the file's hash)
        self._remote: dict[tuple[str, Optional[tuple]], tuple[Any, str]] = {}
        self._bar: Optional[tqdm] = None
        self._bar_lock = threading.Lock()

    @property
    def client(self):
        """The connection to the scheduler, opened on first use (a batch of articles needs none)."""
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

    def _submit(self, path: Path, time_range: Optional[TimeRange], digest: str, *, as_bytes: bool = False):
        payload = AudioPayload(self._shared_path(path), digest)
        if as_bytes:
            payload = AudioPayload(payload.path, digest, Path(path).read_bytes())
        resources = {"GPU": 1} if self.spec.device == "cuda" else None
        future = self.client.submit(
            recognise_on_worker,
            self.spec.plugin_name,
            payload,
            time_range,
            self.language,
            self.options.key(),
            pure=False,
            resources=resources,
            key=f"indexer-recognise-{digest[:12]}-{uuid.uuid4().hex}",
        )
        self._count_sent(future)
        return future

    @staticmethod
    def _shared_path(path: Path) -> str:
        """The name a worker tries first: the absolute path, right when the workers share the file system."""
        return str(Path(path).resolve())

    def _count_sent(self, future) -> None:
        from tqdm import tqdm

        with self._bar_lock:
            if self._bar is None:
                self._bar = tqdm(total=0, unit="file", desc="cluster", file=sys.stderr, disable=not self.progress or None)
            self._bar.total += 1
            self._bar.refresh()
        future.add_done_callback(lambda _: self._count_done())

    def _count_done(self) -> None:
        with self._bar_lock:
            if self._bar is not None:
                self._bar.update(1)

    def start_in_background(self, paths: Iterable[Path]) -> None:
        """Send every file of the batch that the cache cannot answer; :meth:`transcribe` collects them."""
        for path in paths:
            key = (str(path), None)
            if key in self._remote:
                continue
            try:
                digest = audio.file_hash(path)
            except OSError:
                continue  # transcribe() reports it
            if self.cache.get(self._key(digest, None)) is not None:
                continue
            self._remote[key] = (self._submit(path, None, digest), digest)

    def ready(self, path: Path, time_range: Optional[TimeRange] = None) -> bool:
        sent = self._remote.get((str(path), tuple(time_range) if time_range else None))
        return sent is not None and sent[0].done()

    # -- receiving -------------------------------------------------------------------------------

    def _recognise(self, path: Path, time_range: Optional[TimeRange], *, progress: bool) -> Transcript:
        key = (str(path), tuple(time_range) if time_range else None)
        sent = self._remote.pop(key, None)
        digest = audio.file_hash(path)
        if sent is None or sent[1] != digest:
            sent = (self._submit(path, time_range, digest), digest)
        result = self._result(sent[0], path)
        if result is None:  # the worker could not read the path: send the bytes
            logger.info("%s: not readable on the worker, sending its bytes", path)
            result = self._result(self._submit(path, time_range, digest, as_bytes=True), path)
            if result is None:
                raise ClusterError(f"{path}: the worker could not read the audio it was sent")
        with self._lock:
            self.recognitions += 1
        return Transcript.from_dict(result)

    def _result(self, future, path: Path) -> Optional[dict]:
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
        for future, _ in self._remote.values():
            future.cancel()
        self._remote = {}
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._client is not None:
            self._client.close()
            self._client = None
        super().close()


def _has_plugin(dask_scheduler, name: str) -> bool:
    return name in dask_scheduler.worker_plugins
