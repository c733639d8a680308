"""Shared fixtures: real sample audio, a shared transcript cache, and an index per test in a temp dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .services import postgres_server, postgres_url  # noqa: F401  (fixtures: a real PostgreSQL server)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SAMPLE_AUDIO = SAMPLES / "seed_article.mp3"
SAMPLE_ARTICLE = SAMPLES / "seed_article.txt"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Point the app's index and cache at a temp dir, so no test touches the user's data."""
    monkeypatch.setenv("INDEXER_INDEX", str(tmp_path / "home-index"))
    monkeypatch.setenv("INDEXER_CACHE", str(tmp_path / "home-cache"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """A transcript cache shared by the whole run, so the sample is recognised once, not per test."""
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture
def use_shared_cache(shared_cache, monkeypatch) -> Path:
    monkeypatch.setenv("INDEXER_CACHE", str(shared_cache))
    return shared_cache


@pytest.fixture(scope="session")
def sentences() -> list[dict]:
    """The sample's sentences with their true start and end times in the audio."""
    return json.loads((SAMPLES / "seed_article.sentences.json").read_text())["sentences"]


@pytest.fixture(scope="session")
def reference_text(sentences) -> str:
    return " ".join(s["text"] for s in sentences)


def ffmpeg(*args: str) -> None:
    from indexer.audio import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """The first 18 s of the sample as WAV: short real speech for format and error tests."""
    out = tmp_path_factory.mktemp("clip") / "clip.wav"
    ffmpeg("-i", str(SAMPLE_AUDIO), "-t", "18", "-ac", "1", "-ar", "22050", str(out))
    return out
