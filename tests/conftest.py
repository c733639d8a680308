"""Shared fixtures: real sample audio, a shared transcript cache, and an index per test in a temp dir."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def sample_index_dir(tmp_path_factory, shared_cache) -> Path:
    """An index of the sample article and its spoken rendition, ingested once per run (real model)."""
    from indexer import Index

    directory = tmp_path_factory.mktemp("sample-index")
    report = Index(directory, cache_dir=shared_cache).ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO])
    assert report.ok, report.failures
    return directory


class Origin:
    """A web server on 127.0.0.1 publishing the sample as episode.mp3, as a podcast host would."""

    def __init__(self, folder: Path):
        shutil.copy(SAMPLE_AUDIO, folder / "episode.mp3")
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/episode.mp3"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def url_audio(tmp_path, shared_cache, sample_index_dir):
    """An index holding the sample ingested from its URL; yields (index dir, cache dir, origin)."""
    from indexer import Index

    (tmp_path / "site").mkdir()
    origin = Origin(tmp_path / "site")
    cache = tmp_path / "cache"
    # The transcripts recognised for the sample index, so that only the download is new.
    shutil.copytree(shared_cache / "transcripts", cache / "transcripts")
    index_dir = tmp_path / "index"
    report = Index(index_dir, cache_dir=cache).ingest(origin.url)
    assert report.ok, report.failures
    yield index_dir, cache, origin
    origin.stop()
