"""The engine registry: engines by name, each model loaded once per process."""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Optional

from ..errors import ModelError
from .allocator import tune_allocator
from .base import Engine
from .weights import DEFAULT_MODEL

ENGINES = ("faster-whisper", "openai-whisper")
DEFAULT_ENGINE = "faster-whisper"

_loading = threading.Lock()


def load_engine(
    name: str = DEFAULT_ENGINE,
    model: Optional[str] = None,
    *,
    cache_dir: Path,
    workers: Optional[int] = None,
    tune_memory: bool = False,
) -> Engine:
    """Load a model once per process: every later call with the same arguments returns the same engine.

    ``tune_memory`` sets glibc's allocator for recognition over long audio (:mod:`.allocator`) before
    the faster-whisper engine loads. It changes the whole process, so a library asks for it; the CLI does.
    """
    with _loading:  # files recognised in the background must not load a second copy
        if tune_memory and name == "faster-whisper":
            # Not for openai-whisper: PyTorch ran slower with these settings (bench/RESULTS.md, "Allocator settings").
            tune_allocator()
        return _load_engine(name, model, cache_dir, workers)


@functools.lru_cache(maxsize=4)
def _load_engine(name: str, model: Optional[str], cache_dir: Path, workers: Optional[int]) -> Engine:
    if name == "faster-whisper":
        from .faster import FasterWhisperEngine

        return FasterWhisperEngine(model, cache_dir=cache_dir, workers=workers)
    if name == "openai-whisper":
        try:
            from .openai_whisper import OpenAIWhisperEngine
        except ImportError as e:
            raise ModelError(f"the openai-whisper engine is not installed: pip install 'indexer[openai-whisper]' ({e})") from e
        return OpenAIWhisperEngine(model or DEFAULT_MODEL, cache_dir=cache_dir)
    raise ModelError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "load_engine"]
