"""Recognition on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

Workers load a fake engine of this file's own (tests.fakes.FakeEngine hears only the sample; this
one tells generated tones apart by their length and takes a second per chunk, so a worker can be
killed in the middle of a file) except in the e2e test, which runs the real tiny.en model.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import wave
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from indexer.asr.base import ChunkResult, DecodeOptions
from indexer.cluster import AudioPayload, ClusterTranscriber
from indexer.index import TextIndex
from indexer.ingest import Ingester
from indexer.models import Segment, Word
from indexer.sources.fetch import Fetcher

from .conftest import SAMPLE_AUDIO


class SlowFakeEngine:
    """Says how long each chunk is, after thinking for a second: slow enough to kill a worker mid-file."""

    name = "fake"
    model_id = "fake"
    multilingual = False
    workers = 1

    def transcribe_chunk(self, audio: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        time.sleep(1.0)
        seconds = round(len(audio) / 16000)
        text = f"A tone of {seconds} seconds."
        spoken = [Word(0.1 + i * 0.2, 0.25 + i * 0.2, w, 0.9) for i, w in enumerate(text.split())]
        return ChunkResult(segments=[Segment(0.1, spoken[-1].end, text, spoken)], language="en")


def tone(path: Path, seconds: float) -> Path:
    samples = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(16000 * seconds)) / 16000) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.tobytes())
    return path


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


def fake_transcriber(cluster, cache: Path) -> ClusterTranscriber:
    return ClusterTranscriber(cluster.scheduler_address, engine_factory=SlowFakeEngine, engine="faster-whisper", cache_dir=cache)


def ingest(index: TextIndex, transcriber: ClusterTranscriber, inputs: list[str], cache: Path):
    with Fetcher(cache / "downloads") as fetcher:
        return Ingester(index, transcriber, fetcher).ingest(inputs)


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "tones"
    folder.mkdir()
    for seconds in range(2, 8):
        tone(folder / f"tone{seconds}.wav", seconds)
    return folder


def test_a_folder_is_recognised_on_the_workers_and_written_here(cluster, folder, tmp_path):
    index = TextIndex(tmp_path / "index")
    transcriber = fake_transcriber(cluster, tmp_path / "cache")
    report = ingest(index, transcriber, [str(folder)], tmp_path / "cache")
    assert report.ok and report.recognised == 6
    texts = {s.title: index.transcript(s.id).text for s in index.sources()}
    assert texts == {f"tone{n}": f"A tone of {n} seconds." for n in range(2, 8)}
    # Both workers took part.
    assert len({w for w, log in cluster_log(transcriber).items() if log}) == 2

    # Asked again, the cache answers and nothing is sent.
    again = fake_transcriber(cluster, tmp_path / "cache")
    report = ingest(index, again, [str(folder)], tmp_path / "cache")
    assert report.ok and report.recognised == 0 and len(report.ingested) == 6


def cluster_log(transcriber: ClusterTranscriber) -> dict:
    client = ClusterTranscriber(transcriber.address, engine_factory=SlowFakeEngine, cache_dir=transcriber.cache_dir).client
    try:
        return client.run(lambda dask_worker: [k for k in dask_worker.state.log if "indexer-recognise" in str(k)][:1])
    finally:
        client.close()


def test_a_worker_killed_mid_batch_loses_nothing_and_writes_nothing_twice(cluster, folder, tmp_path):
    index = TextIndex(tmp_path / "index")
    transcriber = fake_transcriber(cluster, tmp_path / "cache")
    results: list = []
    batch = threading.Thread(target=lambda: results.append(ingest(index, transcriber, [str(folder)], tmp_path / "cache")))
    batch.start()
    client = transcriber.client
    deadline = time.monotonic() + 60
    while not any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    busy = next(address for address, tasks in client.processing().items() if tasks)
    pid = client.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)
    batch.join(timeout=120)
    (report,) = results
    assert report.ok, report.failures
    assert sorted(s.title for s in report.ingested) == [f"tone{n}" for n in range(2, 8)]
    sources = index.sources()
    assert len(sources) == 6
    assert all(len(index.transcript(s.id).segments) == 1 for s in sources)


def test_audio_the_workers_cannot_read_is_sent_as_bytes(cluster, tmp_path, monkeypatch):
    clip = tone(tmp_path / "private.wav", 3)
    transcriber = fake_transcriber(cluster, tmp_path / "cache")
    monkeypatch.setattr(ClusterTranscriber, "_shared_path", staticmethod(lambda path: "/nowhere/on/the/workers.wav"))
    transcript = transcriber.transcribe(clip)
    transcriber.close()
    assert transcript.text == "A tone of 3 seconds." and transcript.segments[0].words[0].start == pytest.approx(0.1)


def test_a_worker_refuses_a_path_whose_bytes_differ(cluster, tmp_path):
    import hashlib

    from indexer.cluster import recognise_on_worker

    clip = tone(tmp_path / "a.wav", 2)
    transcriber = fake_transcriber(cluster, tmp_path / "cache")
    client = transcriber.client
    name = transcriber.spec.plugin_name
    wrong = AudioPayload(str(clip), hashlib.sha256(b"other").hexdigest())
    assert client.submit(recognise_on_worker, name, wrong, None, None, DecodeOptions().key(), pure=False).result() is None
    transcriber.close()


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path):
    from indexer.cluster import ClusterError

    transcriber = ClusterTranscriber("tcp://127.0.0.1:9", engine_factory=SlowFakeEngine, cache_dir=tmp_path, connect_timeout=2)
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        transcriber.transcribe(tone(tmp_path / "x.wav", 1))


@pytest.mark.e2e
def test_the_real_model_on_the_workers(cluster, tmp_path):
    transcriber = ClusterTranscriber(cluster.scheduler_address, cache_dir=tmp_path / "cache")
    try:
        transcript = transcriber.transcribe(SAMPLE_AUDIO)
    finally:
        transcriber.close()
    assert "Putin" in transcript.text and transcript.engine == "faster-whisper"
    starts = [w.start for s in transcript for w in s.words]
    assert starts == sorted(starts) and len(starts) > 200
