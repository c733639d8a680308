"""How a batch's short files are grouped into streams recognised as one audio (indexer.asr.streams)."""

from __future__ import annotations

from pathlib import Path

from indexer.asr.streams import JOIN_PAUSE_SECONDS, MIN_STREAM_SECONDS, group_into_streams
from indexer.audio import CHUNK_SECONDS


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
