"""Keep recognition's memory flat over hours of audio: glibc malloc settings, set before a model loads.

Recognition allocates and frees large blocks all the time: features and voice-activity buffers for
every chunk, encoder attention for every 30-second window, each in one of the worker threads. glibc's defaults serve them badly for a long run:

- every thread gets its own arena, and memory freed in one arena is not reused by the others;
- a freed large block raises the mmap threshold to its size (up to 32 MB), so later blocks of that
  size come from the heap, where freed space is kept, not returned, and fragments;
- long-lived small objects (the transcript growing) end up between freed blocks, so the heap's
  high-water mark creeps up over a long file.

So: one arena, a fixed 4 MB mmap threshold (large blocks go back to the system when freed), and
while recognition runs, ``malloc_trim`` every 50 ms (returns free pages inside the heap). The
figures behind each setting: bench/RESULTS.md, "Allocator settings". Applied for the faster-whisper
engine only: PyTorch, which allocates large tensors at every layer, ran slower with them.

The settings are process-wide, so they are opt-in: the CLI turns them on, a library user with
``indexer.Index(tune_memory=True)`` or ``INDEXER_TUNE_MEMORY=1``. A user who sets ``MALLOC_ARENA_MAX``
or ``MALLOC_MMAP_THRESHOLD_`` keeps their own; other C libraries (macOS, musl) are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import threading
from typing import Optional

logger = logging.getLogger("indexer")

M_MMAP_THRESHOLD = -3  # mallopt parameters, from glibc's malloc.h
M_ARENA_MAX = -8

ARENAS = 1
MMAP_THRESHOLD = 4 << 20
TRIM_INTERVAL = 0.05  # seconds

_trimming: Optional["_Trimming"] = None


@functools.cache
def tune_allocator() -> None:
    """Apply the settings once; best before threads start (the model load starts them)."""
    global _trimming
    if os.environ.get("MALLOC_ARENA_MAX") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (glibc has both)
    except (OSError, AttributeError):
        return  # not glibc
    if not (libc.mallopt(M_ARENA_MAX, ARENAS) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        logger.debug("mallopt refused the allocator settings")
    _trimming = _Trimming(libc, TRIM_INTERVAL)


class _Trimming:
    """While any recognition runs, a thread gives the heap's free pages back every ``interval`` s.

    Nested and concurrent uses (files recognised in the background) share one thread.
    """

    def __init__(self, libc, interval: float):
        self._libc = libc
        self._interval = interval
        self._lock = threading.Lock()
        self._users = 0
        self._stop = threading.Event()

    def __enter__(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._stop = threading.Event()
                threading.Thread(target=self._run, args=(self._stop,), name="indexer-trim", daemon=True).start()

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._stop.set()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self._libc.malloc_trim(0)


def trimming() -> contextlib.AbstractContextManager:
    """A context in which free memory goes back to the system as recognition runs.

    A no-op until :func:`tune_allocator` has run, and off glibc.
    """
    return _trimming or contextlib.nullcontext()
