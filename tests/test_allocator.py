"""While recognition runs, free memory is given back by one background thread, which then stops."""

from __future__ import annotations

import threading
import time

from indexer.asr import allocator


def trim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "indexer-trim"]


def test_one_trimming_thread_for_nested_recognitions_and_none_after():
    allocator.tune_allocator()  # this machine's glibc, no MALLOC_* settings of its own
    with allocator.trimming():
        with allocator.trimming():  # a file recognised in the background at the same time
            assert len(trim_threads()) == 1
        assert len(trim_threads()) == 1
    deadline = time.monotonic() + 2
    while trim_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert trim_threads() == []
