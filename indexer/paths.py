"""Where the index and the caches live: an env var first, else the per-user directories."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "indexer"


def default_index_dir() -> Path:
    """``$INDEXER_INDEX``, else the per-user data directory (``~/.local/share/indexer/index`` on Linux)."""
    env = os.environ.get("INDEXER_INDEX")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP)) / "index"


def default_cache_dir() -> Path:
    """``$INDEXER_CACHE``, else the per-user cache directory: transcripts, downloads, converted models."""
    env = os.environ.get("INDEXER_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir(APP))
