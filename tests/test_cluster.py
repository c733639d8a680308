"""Recognition on a real Dask cluster: a scheduler and two worker processes on 127.0.0.1.

Workers load fake engines of this file's own (tests.fakes.FakeEngine hears only the sample): one
tells generated tones apart by their length and takes a second per chunk, so a worker can be killed
in the middle of a file; one hears a word every 0.4 s of real speech, so short files are joined into
streams. The e2e tests run the real tiny.en model.
"""

from __future__ import annotations

import logging
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
from indexer.audio import file_hash
from indexer.cluster import AudioPayload, ClusterTranscriber
from indexer.index import TextIndex
from indexer.ingest import Ingester
from indexer.models import Segment, Word
from indexer.sources.fetch import Fetcher

from .conftest import SAMPLE_AUDIO
from .evaluation import normalise
from .evaluation import word_error_rate as wer


class SlowFakeEngine:
    """Says how long each chunk is, after thinking for a second: slow enough to kill a worker mid-file.

    Multilingual and given no language, it recognises each file alone (tones hold no speech to join).
    """

    name = "fake"
    model_id = "fake"
    multilingual = True
    workers = 1

    def transcribe_chunk(self, audio: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        time.sleep(1.0)
        seconds = round(len(audio) / 16000)
        text = f"A tone of {seconds} seconds."
        spoken = [Word(0.1 + i * 0.2, 0.25 + i * 0.2, w, 0.9) for i, w in enumerate(text.split())]
        return ChunkResult(segments=[Segment(0.1, spoken[-1].end, text, spoken)], language="en")


class WordsFakeEngine:
    """Hears a word every 0.4 s of whatever it is given, in English: short files are joined into streams."""

    name = "fake"
    model_id = "fake-words"
    multilingual = False
    workers = 1

    def transcribe_chunk(self, audio: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        starts = np.arange(0.0, len(audio) / 16000 - 0.3, 0.4)
        spoken = [Word(round(t, 2), round(t + 0.3, 2), f"w{k}", 0.9) for k, t in enumerate(starts)]
        segments = [Segment(0.0, spoken[-1].end, " ".join(w.word for w in spoken), spoken)] if spoken else []
        return ChunkResult(segments=segments, language="en")


class SlowWordsFakeEngine(WordsFakeEngine):
    """A word every 0.4 s, after thinking for a second: a stream of short files to kill a worker in."""

    def transcribe_chunk(self, audio: np.ndarray, *, language: Optional[str], options: DecodeOptions) -> ChunkResult:
        time.sleep(1.0)
        return super().transcribe_chunk(audio, language=language, options=options)


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


def _recognising(client) -> Optional[str]:
    """A worker in the middle of a recognition task."""
    return next((w for w, keys in client.processing().items() if any("indexer-recognise" in str(k) for k in keys)), None)


@pytest.mark.parametrize("joined", [False, True], ids=["files-alone", "joined-streams"])
def test_a_worker_killed_mid_batch_loses_nothing_and_writes_nothing_twice(cluster, folder, sentence_clips, tmp_path, joined):
    inputs, factory = (sentence_clips[0].parent, SlowWordsFakeEngine) if joined else (folder, SlowFakeEngine)
    index = TextIndex(tmp_path / "index")
    transcriber = ClusterTranscriber(
        cluster.scheduler_address, engine_factory=factory, engine="faster-whisper", cache_dir=tmp_path / "cache"
    )
    results: list = []
    batch = threading.Thread(target=lambda: results.append(ingest(index, transcriber, [str(inputs)], tmp_path / "cache")))
    batch.start()
    client = transcriber.client
    deadline = time.monotonic() + 60
    while not (busy := _recognising(client)) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = client.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)
    batch.join(timeout=120)
    transcriber.close()
    (report,) = results
    assert report.ok, report.failures
    files = sorted(p.name for p in inputs.iterdir())
    assert sorted(Path(s.location).name for s in report.ingested) == files
    sources = index.sources()
    assert sorted(Path(s.location).name for s in sources) == files
    assert all(index.transcript(s.id).segments for s in sources)


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


def _streams_sent(caplog) -> list[list[str]]:
    prefix = "recognising on the cluster: "
    return [r.getMessage().removeprefix(prefix).split(", ") for r in caplog.records if r.getMessage().startswith(prefix)]


@pytest.mark.parametrize("shared", [True, False], ids=["shared-path", "as-bytes"])
def test_short_files_are_joined_into_streams_on_the_workers(cluster, sentence_clips, tmp_path, caplog, monkeypatch, shared):
    if not shared:
        monkeypatch.setattr(ClusterTranscriber, "_shared_path", staticmethod(lambda path: "/nowhere/" + Path(path).name))
    index = TextIndex(tmp_path / "index")
    transcriber = ClusterTranscriber(
        cluster.scheduler_address, engine_factory=WordsFakeEngine, engine="faster-whisper", cache_dir=tmp_path / "cache"
    )
    with caplog.at_level(logging.DEBUG, logger="indexer"):
        report = ingest(index, transcriber, [str(sentence_clips[0].parent)], tmp_path / "cache")
    transcriber.close()
    assert report.ok and report.recognised == len(sentence_clips)
    # Fewer tasks than files, as a local batch of the same files makes streams for two workers.
    sent = _streams_sent(caplog)
    assert sorted(name for stream in sent for name in stream) == [clip.name for clip in sentence_clips]
    assert 1 < len(sent) < len(sentence_clips) and max(len(stream) for stream in sent) > 1
    for source in report.ingested:
        words = [w for segment in index.transcript(source.id) for w in segment.words]
        # Each file got its own words back, in its own timeline: none before it starts or after it ends.
        assert words and 0 <= words[0].start < 1.0 and words[-1].end <= source.duration + 0.01, source.title
        # Cached as what it is: heard joined with others, or alone.
        joined = any(Path(source.location).name in stream for stream in sent if len(stream) > 1)
        key = transcriber._key(file_hash(Path(source.location)), None, joined=joined)
        assert transcriber.cache.get(key) is not None, source.location

    # The joined transcripts answer the next batch; nothing is sent.
    caplog.clear()
    again = ClusterTranscriber(
        cluster.scheduler_address, engine_factory=WordsFakeEngine, engine="faster-whisper", cache_dir=tmp_path / "cache"
    )
    with caplog.at_level(logging.DEBUG, logger="indexer"):
        report = ingest(index, again, [str(sentence_clips[0].parent)], tmp_path / "cache")
    again.close()
    assert report.ok and report.recognised == 0 and _streams_sent(caplog) == []


def test_a_broken_file_in_a_stream_fails_alone(cluster, sentence_clips, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    for clip in sentence_clips[:4]:
        (batch / clip.name).write_bytes(clip.read_bytes())
    broken = batch / sentence_clips[1].name
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # its header still promises the whole clip
    index = TextIndex(tmp_path / "index")
    transcriber = ClusterTranscriber(
        cluster.scheduler_address, engine_factory=WordsFakeEngine, engine="faster-whisper", cache_dir=tmp_path / "cache"
    )
    report = ingest(index, transcriber, [str(batch)], tmp_path / "cache")
    transcriber.close()
    assert [f.input for f in report.failures] == [str(broken)]
    assert sorted(Path(s.location).name for s in report.ingested) == [c.name for c in sentence_clips[:4] if c.name != broken.name]


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


@pytest.mark.e2e
def test_the_real_model_on_the_workers_joins_short_files(cluster, sentence_clips, sentences, tmp_path, caplog):
    index = TextIndex(tmp_path / "index")
    transcriber = ClusterTranscriber(cluster.scheduler_address, cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.DEBUG, logger="indexer"):
        report = ingest(index, transcriber, [str(sentence_clips[0].parent)], tmp_path / "cache")
    transcriber.close()
    assert report.ok and max(len(stream) for stream in _streams_sent(caplog)) > 1
    by_name = {Path(s.location).name: s for s in report.ingested}
    for clip, sentence in zip(sentence_clips, sentences):
        text = index.transcript(by_name[clip.name].id).text
        heard, spoken = normalise(text).split(), normalise(sentence["text"]).split()
        # A neighbour's word leaking across a file boundary, or words lost at one, would show at either end.
        assert heard[0] == spoken[0] and heard[-1] == spoken[-1], (clip.name, text)
        assert wer(sentence["text"], text) < 0.3, (clip.name, text)
