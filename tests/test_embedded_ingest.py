"""Ingesting pages whose audio sits behind a player or in an HLS stream, and batches of pages.

Real speech (the sample clip) recognised by the real default model; pages, players and streams are
served by a loopback HTTP server.
"""

from __future__ import annotations

import pytest

from indexer import Index
from indexer.asr import Transcriber

from .conftest import dash_stream, ffmpeg, hls_stream
from .test_articles import page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clips(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("clips")
    ffmpeg("-i", str(clip), "-b:a", "48k", str(folder / "clip.mp3"))
    ffmpeg("-i", str(clip), "-t", "9", "-b:a", "48k", str(folder / "first.mp3"))
    ffmpeg("-i", str(clip), "-ss", "9", "-b:a", "48k", str(folder / "second.mp3"))
    hls_stream(clip, folder)
    (folder / "dash").mkdir()
    dash_stream(clip, folder / "dash")
    return folder


def html(body: str, title: str = "Ferry vote") -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "text/html"}, page(title, body).encode()


def test_a_page_with_a_player_iframe_of_its_own_site(tmp_path, site, clips, use_shared_cache):
    site.routes["/story"] = html('<iframe src="/embed/audio-player/7.html" width="400"></iframe>')
    site.routes["/embed/audio-player/7.html"] = (
        200,
        {"Content-Type": "text/html"},
        b'<html><head><title>Player</title></head><body><audio controls src="/media/7.mp3"></audio></body></html>',
    )
    site.routes["/media/7.mp3"] = (200, {"Content-Type": "audio/mpeg"}, (clips / "clip.mp3").read_bytes())
    index = Index(tmp_path / "index", cache_dir=use_shared_cache)
    report = index.ingest(f"{site.url}/story")
    assert report.ok, report.failures
    (hit,) = index.search("guarantees", kind="audio")
    assert hit.title == "Ferry vote" and 8.5 < hit.start < 10.0
    assert site.requests == ["/story", "/embed/audio-player/7.html", "/media/7.mp3"]


def test_a_page_whose_video_is_hls_then_mp4_takes_the_mp4_and_hls_alone_is_read(tmp_path, site, clips, use_shared_cache):
    for path in clips.glob("*.*"):
        site.routes[f"/hls/{path.name}"] = (200, {}, path.read_bytes())
    site.routes["/both"] = html(
        '<video controls><source src="/hls/audio.m3u8" type="application/x-mpegURL">'
        '<source src="/hls/clip.mp3" type="audio/mpeg"></video>'
    )
    site.routes["/hls-only"] = html(
        '<video controls><source src="/hls/audio.m3u8" type="application/x-mpegURL"></video>', "Only HLS"
    )
    index = Index(tmp_path / "index", cache_dir=use_shared_cache)
    assert index.ingest(f"{site.url}/both").ok
    assert "/hls/clip.mp3" in site.requests and not any(r.endswith(".m3u8") for r in site.requests)
    report = index.ingest(f"{site.url}/hls-only")
    assert report.ok, report.failures
    assert any(r.endswith(".ts") for r in site.requests)
    assert {hit.title for hit in index.search("guarantees", kind="audio")} == {"Ferry vote", "Only HLS"}


def test_a_page_whose_only_media_is_a_dash_manifest(tmp_path, site, clips, use_shared_cache):
    for path in (clips / "dash").iterdir():
        site.routes[f"/dash/{path.name}"] = (200, {}, path.read_bytes())
    site.routes["/dash-only"] = html('<video controls><source src="/dash/audio.mpd" type="application/dash+xml"></video>')
    index = Index(tmp_path / "index", cache_dir=use_shared_cache)
    report = index.ingest(f"{site.url}/dash-only")
    assert report.ok, report.failures
    assert "/dash/init-stream0.m4s" in site.requests and any(r.startswith("/dash/chunk-") for r in site.requests)
    (hit,) = index.search("guarantees", kind="audio")
    assert hit.title == "Ferry vote" and 8.5 < hit.start < 10.0


def test_a_batch_of_pages_recognises_their_audio_ahead_and_downloads_it_once(
    tmp_path, site, clips, use_shared_cache, monkeypatch
):
    started: list[list[str]] = []
    original = Transcriber.start_in_background

    def recording(self, paths):
        paths = list(paths)
        started.append([path.name for path in paths])
        return original(self, paths)

    monkeypatch.setattr(Transcriber, "start_in_background", recording)
    site.routes["/one"] = html('<audio controls src="/media/first.mp3"></audio>', "First half")
    site.routes["/two"] = html('<audio controls src="/media/second.mp3"></audio>', "Second half")
    for name in ("first.mp3", "second.mp3"):
        site.routes[f"/media/{name}"] = (200, {"Content-Type": "audio/mpeg"}, (clips / name).read_bytes())
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache")
    report = index.ingest(f"{site.url}/one", f"{site.url}/two")
    assert report.ok, report.failures
    assert len(started) == 1 and len(started[0]) == 2  # both pages' audio, started together
    assert sorted(site.requests) == ["/media/first.mp3", "/media/second.mp3", "/one", "/two"]
    assert {hit.title for hit in index.search("Biden OR guarantees", kind="audio")} <= {"First half", "Second half"}
    assert [s.title for s in report.ingested if s.kind == "article"] == ["First half", "Second half"]


def test_the_same_audio_at_two_urls_in_two_articles_keeps_the_first_articles_url(tmp_path, site, clips, use_shared_cache):
    site.routes["/first"] = html('<audio controls src="/media/a.mp3"></audio>', "First story")
    site.routes["/second"] = html('<audio controls src="/cdn/b.mp3"></audio>', "Second story")
    for path in ("/media/a.mp3", "/cdn/b.mp3"):
        site.routes[path] = (200, {"Content-Type": "audio/mpeg"}, (clips / "clip.mp3").read_bytes())
    index = Index(tmp_path / "index", cache_dir=use_shared_cache)
    assert index.ingest(f"{site.url}/first").ok
    assert index.ingest(f"{site.url}/second").ok
    (hit,) = index.search("guarantees", kind="audio")
    # One recording (the same bytes): its hits name the article and the URL it was first found with.
    assert hit.title == "First story" and hit.audio == f"{site.url}/media/a.mp3"
    (audio_source,) = [source for source in index.sources() if source.kind == "audio"]
    assert len(audio_source.article_ids) == 2
