"""Player iframes and streams: yt-dlp identifies and resolves them, the indexer's fetcher does every request.

yt-dlp's generic extractor runs for real against a loopback server; a site extractor (Libsyn) reads a
recorded player page; HLS and DASH are real: playlists, manifests and segments made by FFmpeg from the sample speech.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer import audio
from indexer.errors import SourceError
from indexer.sources.fetch import Fetched, Fetcher
from indexer.sources.players import download_fragments, download_hls, identify, resolve

from .conftest import dash_stream, hls_stream
from .test_articles import Site


@pytest.fixture
def fetcher(tmp_path):
    with Fetcher(tmp_path / "downloads") as fetcher:
        yield fetcher


@pytest.fixture(scope="module")
def hls(tmp_path_factory, clip) -> Path:
    """The sample clip as a VOD HLS stream: master playlist, audio playlist, 6-second AAC segments."""
    folder = tmp_path_factory.mktemp("hls")
    hls_stream(clip, folder)
    (folder / "master.m3u8").write_text(
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.4d401f,mp4a.40.2"\nhigh/video.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"\naudio.m3u8\n'
    )
    return folder


def serve_folder(site: Site, folder: Path, prefix: str) -> None:
    for path in folder.iterdir():
        site.routes[f"{prefix}/{path.name}"] = (200, {"Content-Type": "application/octet-stream"}, path.read_bytes())


# -- identify ---------------------------------------------------------------------------------------


def test_the_same_video_in_two_player_hosts_is_one_recording():
    a = identify("https://www.youtube.com/embed/LtOGa5M8AuU")
    b = identify("https://www.youtube-nocookie.com/embed/LtOGa5M8AuU?rel=0")
    assert a is not None and a.key == b.key == "Youtube:LtOGa5M8AuU"


@pytest.mark.parametrize(
    "url, extractor",
    [
        ("https://player.vimeo.com/video/32246206?color=ffffff", "Vimeo"),
        ("https://w.soundcloud.com/player/?url=https%3A//api.soundcloud.com/tracks/764296225", "SoundcloudEmbed"),
        ("https://html5-player.libsyn.com/embed/episode/id/6385796/", "Libsyn"),
        ("https://omny.fm/shows/the-show/the-episode/embed", "Omnyfm"),
        ("https://www.tagesschau.de/multimedia/audio/audio-88899~ardplayer_showControlBar-true.html", "Tagesschau"),
        ("https://embed.podcasts.apple.com/us/podcast/x/id123?i=1000", "Generic"),
        ("https://share.transistor.fm/e/e83b42d0", "Generic"),
        ("https://player.simplecast.com/0e2c7e47-4a5d-4d8e-a7a5-1f8c5c5f1c1b", "Simplecast"),
        ("https://playlist.megaphone.fm/?e=ABC1234567", "Generic"),
    ],
)
def test_player_iframes_of_podcast_and_video_hosts(url, extractor):
    player = identify(url)
    assert player is not None and player.extractor == extractor and not player.playlist


def test_playlists_drm_and_non_players():
    assert identify("https://www.youtube.com/embed/videoseries?list=UU-LwrkOqDc90ISswRuIFLng").playlist
    assert identify("https://open.spotify.com/embed/episode/5DOSl0bKD4DM2lSvCf3FSC").drm
    assert identify("https://widgets.wp.com/likes/master.html?ver=20190321") is None
    assert identify("https://news.example.org/ads/frame.html", same_site_as="https://news.example.org/story") is None
    own = identify(
        "https://www.ndr.de/nachrichten/info/audio655164-player_image-9a.html", same_site_as="https://www.ndr.de/x.html"
    )
    assert own is not None and own.extractor == "Generic"


# -- resolve -------------------------------------------------------------------------------------------


PLAYER = """<!doctype html><html><head><title>Episode 7</title>
<meta property="og:title" content="Episode 7: The ferry">{head}</head>
<body><h1>Episode 7</h1>{body}</body></html>"""


def test_the_generic_extractor_reads_a_player_page_through_the_fetcher(site, fetcher):
    site.routes["/embed/player/7"] = (
        200,
        {"Content-Type": "text/html"},
        PLAYER.format(head="", body='<audio controls><source src="/media/ep7.mp3" type="audio/mpeg"></audio>').encode(),
    )
    media = resolve(f"{site.url}/embed/player/7", fetcher, found_in=None)
    assert media.url == f"{site.url}/media/ep7.mp3" and media.type == "audio"
    assert site.requests == ["/embed/player/7"]  # the page only: yt-dlp downloads nothing itself


def test_a_player_found_in_a_public_page_may_not_reach_a_private_address(site, fetcher):
    site.routes["/embed/player/7"] = (200, {"Content-Type": "text/html"}, PLAYER.format(head="", body="").encode())
    with pytest.raises(SourceError, match="refused"):
        resolve(f"{site.url}/embed/player/7", fetcher, found_in="https://news.example.org/story")
    assert site.requests == []


def test_a_player_page_without_media(site, fetcher):
    site.routes["/embed/player/8"] = (200, {"Content-Type": "text/html"}, PLAYER.format(head="", body="<p>Soon.</p>").encode())
    with pytest.raises(SourceError, match="player could not be read"):
        resolve(f"{site.url}/embed/player/8", fetcher, found_in=None)


class RecordedFetcher(Fetcher):
    """A fetcher that answers some URLs from recorded responses and fetches the rest for real."""

    def __init__(self, cache_dir: Path, recorded: dict[str, tuple[str, bytes]]):
        super().__init__(cache_dir)
        self.recorded = recorded
        self.asked: list[str] = []

    def fetch(self, url, *, kind="page", found_in=None, on_progress=None):
        self.asked.append(url)
        if url in self.recorded:
            content_type, body = self.recorded[url]
            path = self.cache_dir / f"recorded-{len(self.asked)}"
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            return Fetched(url=url, path=path, content_type=content_type, from_cache=False)
        return super().fetch(url, kind=kind, found_in=found_in, on_progress=on_progress)


def test_a_site_extractor_reads_a_recorded_libsyn_player(tmp_path, site):
    player = "https://html5-player.libsyn.com/embed/episode/id/6385796/"
    page = (
        "<html><head><title>Libsyn Player</title></head><body><script>var playlistItem = "
        f'{{"item_title": "Developing a Growth Mindset", "media_url": "{site.url}/media/6385796.mp3", '
        '"duration": "00:13:54", "release_date": "2018-03-20"};</script></body></html>'
    )
    with RecordedFetcher(
        tmp_path / "downloads", {player.rstrip("/"): ("text/html", page.encode()), player: ("text/html", page.encode())}
    ) as fetcher:
        media = resolve(player, fetcher, found_in=None)
    assert media.url == f"{site.url}/media/6385796.mp3"
    assert media.title == "Developing a Growth Mindset" and media.duration == 834
    assert all(url.startswith("https://html5-player.libsyn.com/") for url in fetcher.asked)


# -- HLS ---------------------------------------------------------------------------------------------


def test_hls_is_read_segment_by_segment_from_the_audio_variant(site, fetcher, hls, tmp_path, clip):
    serve_folder(site, hls, "/hls")
    path = download_hls(f"{site.url}/hls/master.m3u8", fetcher, found_in=None, dest_dir=tmp_path / "out")
    assert abs(audio.probe(path).duration - audio.probe(clip).duration) < 0.5
    assert "/hls/audio.m3u8" in site.requests and not any("video" in request for request in site.requests)
    listed = [f"/hls/{line}" for line in (hls / "audio.m3u8").read_text().splitlines() if line.endswith(".ts")]
    assert len(listed) > 1 and [r for r in site.requests if r.endswith(".ts")] == listed


def test_live_and_encrypted_hls_are_refused(site, fetcher, tmp_path):
    site.routes["/live.m3u8"] = (200, {}, b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nseg1.ts\n")
    with pytest.raises(SourceError, match="live HLS"):
        download_hls(f"{site.url}/live.m3u8", fetcher, found_in=None, dest_dir=tmp_path)
    site.routes["/locked.m3u8"] = (
        200,
        {},
        b'#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="key"\n#EXTINF:6,\nseg1.ts\n#EXT-X-ENDLIST\n',
    )
    with pytest.raises(SourceError, match="encrypted"):
        download_hls(f"{site.url}/locked.m3u8", fetcher, found_in=None, dest_dir=tmp_path)
    assert not any(request.endswith(".ts") for request in site.requests)


def test_hls_over_the_audio_cap(site, hls, tmp_path):
    serve_folder(site, hls, "/hls")
    with Fetcher(tmp_path / "downloads", {"max_audio_bytes": 40_000}) as small:
        with pytest.raises(Exception, match="larger than|too large|limit"):
            download_hls(f"{site.url}/hls/audio.m3u8", small, found_in=None, dest_dir=tmp_path / "out")
    assert list((tmp_path / "out").glob("*")) == []


# -- DASH --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dash(tmp_path_factory, clip) -> Path:
    folder = tmp_path_factory.mktemp("dash")
    dash_stream(clip, folder)
    return folder


def serve_dash(site: Site, folder: Path, prefix: str) -> None:
    for path in folder.iterdir():
        kind = "application/dash+xml" if path.suffix == ".mpd" else "video/iso.segment"
        site.routes[f"{prefix}/{path.name}"] = (200, {"Content-Type": kind}, path.read_bytes())


def test_dash_is_read_segment_by_segment_through_the_fetcher(site, fetcher, dash, tmp_path, clip):
    serve_dash(site, dash, "/dash")
    media = resolve(f"{site.url}/dash/audio.mpd", fetcher, found_in=None)
    # The manifest's 18 s in 6-s segments (FFmpeg also writes a few ms of encoder tail past its duration).
    segments = [f"chunk-stream0-0000{number}.m4s" for number in (1, 2, 3)]
    assert media.type == "dash" and len(media.fragments) == 4  # the init segment first
    path = download_fragments(media, fetcher, found_in=None, dest_dir=tmp_path / "out")
    # FFmpeg reads the joined segments as one fragmented MP4, without a DASH demuxer.
    assert abs(audio.probe(path).duration - audio.probe(clip).duration) < 0.5
    fetched = [request for request in site.requests if request.endswith(".m4s")]
    assert fetched == [f"/dash/{name}" for name in ["init-stream0.m4s", *segments]]


def test_live_dash_is_refused_and_dash_over_the_audio_cap(site, dash, tmp_path):
    manifest = (dash / "audio.mpd").read_text()
    site.routes["/live/audio.mpd"] = (200, {}, manifest.replace('type="static"', 'type="dynamic"').encode())
    serve_dash(site, dash, "/dash")
    with Fetcher(tmp_path / "downloads", {"max_audio_bytes": 40_000}) as small:
        with pytest.raises(SourceError, match="live stream"):
            resolve(f"{site.url}/live/audio.mpd", small, found_in=None)
        media = resolve(f"{site.url}/dash/audio.mpd", small, found_in=None)
        with pytest.raises(Exception, match="DASH stream larger than the audio limit"):
            download_fragments(media, small, found_in=None, dest_dir=tmp_path / "out")
    assert list((tmp_path / "out").glob("*")) == []
