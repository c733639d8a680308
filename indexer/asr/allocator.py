"""Keep recognition's memory flat over hours of audio: glibc malloc settings, set before a model loads.

Recognition allocates and frees large blocks all the time: features and voice-activity buffers for
every chunk (tens of MB each), encoder attention for every 30-second window (~70 MB), each in one of
the worker threads. glibc's defaults serve them badly for a long run:

- every thread gets its own arena, and memory freed in one arena is not reused by the others;
- a freed large block raises the mmap threshold to its size (up to 32 MB), so later blocks of that
  size come from the heap, where freed space is kept, not returned, and fragments;
- long-lived small objects (the transcript growing) end up between freed blocks, so the heap's
  high-water mark creeps up over a long file.

So: one arena, a fixed 4 MB mmap threshold (large blocks go back to the system when freed), and
``malloc_trim`` after every chunk (returns free pages inside the heap). Measured here (2 cores,
tiny.en, two workers, ``indexer ingest`` of the podcast-like file made 10 minutes / 1 hour long,
peak RSS, wall): glibc defaults 638 MB / -; one arena and trimming 539 / 583 MB, 84 s for the
hour; with a 16 MB threshold 456 / 520 MB, 87 s; with 4 MB 434 / 465 MB, 95 s. The 4 MB threshold
is the one that keeps the hour within 10 % of the ten minutes; figures for 3 hours: bench/RESULTS.md.

Applied for the faster-whisper engine only: PyTorch allocates large tensors at every layer, and
with the 4 MB threshold the openai-whisper engine ran 3.4x real time against 5.3x without (one
benchmark run each).

The settings are process-wide. A user who sets ``MALLOC_ARENA_MAX`` or ``MALLOC_MMAP_THRESHOLD_``
keeps their own; other C libraries (macOS, musl) are left alone.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

logger = logging.getLogger("indexer")

M_MMAP_THRESHOLD = -3  # mallopt parameters, from glibc's malloc.h
M_ARENA_MAX = -8

ARENAS = 1
MMAP_THRESHOLD = 4 << 20

_libc = None


@functools.cache
def tune_allocator() -> None:
    """Apply the settings once; best before threads start (the model load starts them)."""
    global _libc
    if os.environ.get("MALLOC_ARENA_MAX") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (glibc has both)
    except (OSError, AttributeError):
        return  # not glibc
    if not (libc.mallopt(M_ARENA_MAX, ARENAS) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)):
        logger.debug("mallopt refused the allocator settings")
    _libc = libc


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (after a chunk; cheap next to recognising one)."""
    if _libc is not None:
        _libc.malloc_trim(0)
