"""How a batch's files are started in the background: short files grouped into streams recognised as
one audio (indexer.asr.streams), files of a few chunks one each, side by side."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from indexer import Index
from indexer.asr.streams import JOIN_PAUSE_SECONDS, MIN_STREAM_SECONDS, group_into_streams
from indexer.audio import CHUNK_SECONDS

from .conftest import SAMPLE_AUDIO, ffmpeg
from .fakes import FakeEngine


def _lengths(seconds: list[float], workers: int = 2) -> list[float]:
    """The streams' lengths, each file counted with the pause after it."""
    files = [(Path(f"f{k:03d}"), s) for k, s in enumerate(seconds)]
    streams = group_into_streams(files, workers)
    assert [path for stream in streams for path in stream] == [path for path, _ in files]  # in order, each once
    by_path = dict(files)
    return [sum(by_path[path] + JOIN_PAUSE_SECONDS for path in stream) for stream in streams]


def test_streams_shrink_towards_the_end_but_not_below_the_minimum():
    lengths = _lengths([15.0] * 21)  # the benchmark's folder of ~15-second clips
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > MIN_STREAM_SECONDS
    # A stream closes when most of the next file would not fit: short of the minimum by half a file.
    assert all(MIN_STREAM_SECONDS - 17 / 2 <= length <= CHUNK_SECONDS for length in lengths[:-1])


def test_a_stream_of_tiny_files_is_no_longer_than_a_chunk_with_its_pauses():
    lengths = _lengths([1.0] * 200, workers=1)
    assert sum(lengths) == 600 and max(lengths) <= CHUNK_SECONDS


def test_a_file_of_a_whole_chunk_is_a_stream_of_its_own():
    assert _lengths([20.0, CHUNK_SECONDS - 1.0, 20.0]) == [22.0, CHUNK_SECONDS + 1.0, 22.0]


def test_a_batchs_files_of_a_few_chunks_are_recognised_in_the_background(tmp_path, caplog):
    # The sample is a chunk and a bit (146 s): alone, its short second chunk would leave a worker idle.
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(SAMPLE_AUDIO, folder / "a.mp3")
    ffmpeg("-i", str(SAMPLE_AUDIO), str(folder / "b.wav"))  # the same speech in other bytes
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine())
    with caplog.at_level(logging.DEBUG, logger="indexer"):
        report = index.ingest(folder)
    assert report.ok and report.recognised == 2
    prefix = "recognising in the background: "
    started = [r.getMessage().removeprefix(prefix) for r in caplog.records if r.getMessage().startswith(prefix)]
    assert started == ["a.mp3", "b.wav"]  # one each, in the batch's order
    for source in report.ingested:
        words = [w for segment in index.transcript(source.id) for w in segment.words]
        # Both chunks heard, in the file's timeline.
        assert "Putin" in index.transcript(source.id).text and words[-1].end > CHUNK_SECONDS, source.location
