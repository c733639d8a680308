"""Transcripts on disk, keyed by the audio's bytes and every setting that changes the result."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional

from ..audio import TimeRange
from ..models import Transcript
from .base import DecodeOptions

logger = logging.getLogger("indexer")


class TranscriptCache:
    """Transcripts on disk, one JSON file per (audio bytes, time range, engine, model, settings, joined).

    A file recognised in a joined stream of short files (``joined=True``) is kept apart from the same
    file recognised alone: Whisper's prompt runs on from the file before it, so a word can differ. The
    neighbours themselves are not part of the key, so a later batch of the same files is answered
    from the cache whichever files it groups together.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    @staticmethod
    def key(
        audio_hash: str,
        time_range: Optional[TimeRange],
        engine: str,
        model: str,
        language: Optional[str],
        options: DecodeOptions,
        *,
        joined: bool = False,
    ) -> str:
        identity: dict[str, object] = {
            # "span" is the stored name of the time range: renaming it would orphan every cached transcript.
            "audio": audio_hash,
            "span": list(time_range) if time_range else None,
            "engine": engine,
            "model": model,
            "language": language,
            "options": options.key(),
        }
        if joined:  # only then, so that the keys of files recognised alone stay what they were
            identity["joined"] = True
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> Optional[Transcript]:
        path = self._path(key)
        try:
            return Transcript.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable cached transcript %s", path)
            return None

    def put(self, key: str, transcript: Transcript) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(transcript.to_dict(), f)
            os.replace(tmp, path)
        except OSError as e:
            # A cache that cannot be written costs time later, never the user's result now.
            logger.warning("could not cache transcript in %s: %s", path.parent, e)


__all__ = ["TranscriptCache"]
