"""Shared fixtures: real sample audio, a shared transcript cache, an index per test in a temp dir, and the
guard that keeps real speech models out of tests not marked e2e."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
def sentence_clips(tmp_path_factory, sentences) -> list[Path]:
    """The sample cut into one file per sentence, 3-16 s each, cut in the pauses between them."""
    folder = tmp_path_factory.mktemp("clips")
    for number, sentence in enumerate(sentences):
        start, end = sentence["start"] - 0.2, sentence["end"] + 0.2
        ffmpeg("-i", str(SAMPLE_AUDIO), "-ss", f"{start:.2f}", "-to", f"{end:.2f}", str(folder / f"clip-{number:02d}.mp3"))
    return sorted(folder.glob("clip-*.mp3"))


@pytest.fixture(scope="session")
def reference_text(sentences) -> str:
    return " ".join(s["text"] for s in sentences)


def ffmpeg_exe() -> str:
    """An ffmpeg binary to encode test audio: the one on PATH, else imageio-ffmpeg's (the test extra)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def hls_stream(clip: Path, folder: Path) -> None:
    """``clip`` as a VOD HLS stream in ``folder``: audio.m3u8 and 6-second AAC segments."""
    ffmpeg(
        "-i",
        str(clip),
        "-c:a",
        "aac",
        "-b:a",
        "48k",
        "-f",
        "hls",
        "-hls_time",
        "6",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(folder / "seg%d.ts"),
        str(folder / "audio.m3u8"),
    )


def dash_stream(clip: Path, folder: Path) -> None:
    """``clip`` as a static DASH stream in ``folder``: audio.mpd, an init segment and 6-second AAC segments."""
    ffmpeg(
        "-i",
        str(clip),
        "-c:a",
        "aac",
        "-b:a",
        "48k",
        "-f",
        "dash",
        "-seg_duration",
        "6",
        "-use_template",
        "1",
        "-use_timeline",
        "0",
        str(folder / "audio.mpd"),
    )


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """The first 18 s of the sample as WAV: short real speech for format and error tests."""
    out = tmp_path_factory.mktemp("clip") / "clip.wav"
    ffmpeg("-i", str(SAMPLE_AUDIO), "-t", "18", "-ac", "1", "-ar", "22050", str(out))
    return out


# -- engines: the fake everywhere but in e2e tests -------------------------------------------------


class RealEngineOutsideE2E(AssertionError):
    """A test not marked e2e asked for a real speech model."""


_real_engines_allowed = False
_current_test = [""]
real_engine_requests: list[str] = []  # node ids of non-e2e tests that asked for a real model


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before the test's fixtures, so that a module-scoped fixture loading a model is caught too.
    global _real_engines_allowed
    _real_engines_allowed = item.get_closest_marker("e2e") is not None
    _current_test[0] = item.nodeid


def _guard_real_engines() -> None:
    """Wrap the registry's loader: outside e2e tests, loading a real model fails the test."""
    from indexer.asr import engines

    load = engines._load_engine

    # Set by the first process to import this file, pytest's; processes it starts inherit it.
    pytest_process = int(os.environ.setdefault("INDEXER_TESTS_PID", str(os.getpid())))

    def guarded(*args, **kwargs):
        # Only in pytest's own process: a Dask worker forked from it keeps the flag of whatever test
        # was running then, and which test sends it work it cannot tell (the cluster tests choose
        # their workers' engine themselves).
        if not _real_engines_allowed and os.getpid() == pytest_process:
            real_engine_requests.append(_current_test[0])
            raise RealEngineOutsideE2E(f"a test not marked e2e loads a real engine {args[:2]}: use tests.fakes.FakeEngine")
        return load(*args, **kwargs)

    guarded.cache_clear = load.cache_clear  # type: ignore[attr-defined]
    engines._load_engine = guarded


_guard_real_engines()


@pytest.fixture(autouse=True)
def no_real_engine_outside_e2e(request):
    """Fails a non-e2e test that asked for a real model, even if the code under test caught the error."""
    before = len(real_engine_requests)
    yield
    if request.node.get_closest_marker("e2e") is None and len(real_engine_requests) > before:
        pytest.fail("a test not marked e2e tried to load a real speech model", pytrace=False)


@pytest.fixture(scope="session")
def fake_cache(tmp_path_factory) -> Path:
    """Transcripts made by the fake engine. Never the shared cache: through the CLI, the fake's transcripts
    are filed under the real engine's name."""
    return tmp_path_factory.mktemp("fake-cache")


@pytest.fixture(scope="module")
def cli_fake_engine():
    """The registry hands out the fake, whatever engine is asked for: for tests that run the CLI."""
    from indexer.asr import engines

    from .fakes import FakeEngine

    engine, real = FakeEngine(), engines.load_engine

    def load_engine(*args, **kwargs):
        return real(*args, **kwargs) if _real_engines_allowed else engine  # an e2e test in the module: the real one

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engines, "load_engine", load_engine)
        yield engine


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


@pytest.fixture
def site():
    """A web server on 127.0.0.1 serving the routes a test puts in ``site.routes``."""
    from .test_articles import Site, make_handler

    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    server.shutdown()
    server.server_close()
