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


def default_index() -> Path | str:
    """Like :func:`default_index_dir`, but ``$INDEXER_INDEX`` may also be a PostgreSQL URL, kept as it is."""
    env = os.environ.get("INDEXER_INDEX", "")
    if env.startswith(("postgresql://", "postgres://")):
        return env
    return default_index_dir()


def default_cache_dir() -> Path:
    """``$INDEXER_CACHE``, else the per-user cache directory: transcripts, downloads, converted models."""
    env = os.environ.get("INDEXER_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir(APP))
