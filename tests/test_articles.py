"""Articles with their audio, end to end: local pages, the seed article, feeds and a loopback web server.

Audio is real speech (the sample and clips of it) heard by the fake engine (tests/fakes.py), which
returns the sample's known words at their times; real recognition is tested in test_e2e.py (a real
model's mishearing of a name included). The web server is a real HTTP server on
127.0.0.1 started by these tests.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from indexer import Index
from indexer.cli import cli

from .conftest import SAMPLE_ARTICLE, SAMPLE_AUDIO, ffmpeg
from .fakes import FakeEngine

# Commands run through the CLI get the fake engine too.
pytestmark = pytest.mark.usefixtures("cli_fake_engine")

BODY = """
<p>The harbour council met on Thursday evening to weigh the future of the Skerrow ferry, which has
linked the island to the mainland for sixty years. Residents filled the hall and the debate ran long.</p>
<p>Councillors heard from the ferry's captain, from shop owners and from the zeppelin club, whose
members fear that a bridge would change the character of the waterfront for good.</p>
<p>A final decision is expected next month, after engineers report on the cost of repairs to the
old slipway and the causeway that floods at every spring tide.</p>
"""

PAGE = """<!doctype html><html><head><title>{title}</title>{head}</head>
<body><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>{title}</h1>{body}{embed}</article>
<aside><h2>Related stories</h2><ul><li><a href="/x">Marmalade festival returns to the quay</a></li>
<li><a href="/y">Quizzical marmalade prices rise again</a></li></ul></aside>
<footer>Sign up for our newsletter. We use cookies. © Courier</footer></body></html>"""


def page(title: str, embed: str = "", head: str = "") -> str:
    return PAGE.format(title=title, body=BODY, embed=embed, head=head)


@pytest.fixture(scope="module")
def media(tmp_path_factory, clip):
    """The first 18 s of the sample ("Biden to discuss Putin proposals ... guarantees ...") in formats."""
    folder = tmp_path_factory.mktemp("media")
    files = {"wav": folder / "clip.wav"}
    shutil.copyfile(clip, files["wav"])
    for ext, args in {"mp3": ["-b:a", "48k"], "ogg": ["-c:a", "libvorbis"], "m4a": ["-c:a", "aac"]}.items():
        files[ext] = folder / f"clip.{ext}"
        ffmpeg("-i", str(clip), *args, str(files[ext]))
    files["mp4"] = folder / "clip.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=size=32x32:rate=2",
        "-i",
        str(clip),
        "-shortest",
        "-c:v",
        "mpeg4",
        "-c:a",
        "aac",
        str(files["mp4"]),
    )
    return files


EMBEDS = {
    "audio-src": ('<audio controls src="{name}.mp3"></audio>', "", "mp3"),
    "audio-source": ('<audio controls><source src="{name}.ogg" type="audio/ogg"></audio>', "", "ogg"),
    "video": ('<video controls><source src="{name}.mp4" type="video/mp4"></video>', "", "mp4"),
    "a-href": ('<p>Listen: <a href="{name}.m4a">download the interview</a></p>', "", "m4a"),
    "link-enclosure": ("", '<link rel="enclosure" type="audio/wav" href="{name}.wav">', "wav"),
    "og-audio": ("", '<meta property="og:audio" content="{name}.mp3">', "mp3"),
    "json-ld": (
        "",
        '<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "AudioObject",'
        ' "name": "Interview", "contentUrl": "{name}.ogg"}}</script>',
        "ogg",
    ),
}


@pytest.fixture
def index(tmp_path) -> Index:
    # Hears "Ushakov" as "Ashikov", as tiny.en does.
    return Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine(mishear={"Ushakov": "Ashikov"}))


@pytest.mark.parametrize("kind", list(EMBEDS))
def test_each_embedding_kind_in_a_local_page(tmp_path, media, index, kind):
    body_embed, head_embed, ext = EMBEDS[kind]
    shutil.copyfile(media[ext], tmp_path / f"interview.{ext}")
    html = tmp_path / "story.html"
    html.write_text(
        page("Ferry vote splits the harbour", body_embed.format(name="interview"), head_embed.format(name="interview"))
    )
    report = index.ingest(html)
    assert report.ok, report.failures
    article, audio = report.ingested
    assert article.kind == "article" and audio.kind == "audio"
    assert article.audio_ids == [audio.id] and audio.article_ids == [article.id]
    assert audio.location == str(tmp_path / f"interview.{ext}")
    # Spoken only: an audio hit, at the moment the word is said, titled by the article.
    (hit,) = index.search("guarantees")
    assert hit.kind == "audio" and hit.title == "Ferry vote splits the harbour"
    assert hit.location == str(html.resolve()) and hit.audio == audio.location
    assert 8.5 < hit.start < 10.0  # "guarantees" is spoken at ~9.1 s
    # Written only: an article hit. Boilerplate: nothing.
    assert [h.kind for h in index.search("slipway")] == ["article"]
    assert index.search("marmalade") == [] and index.search("newsletter") == []


def test_the_seed_article_with_its_audio(tmp_path, index):
    report = index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO])
    assert report.ok, report.failures
    article = next(s for s in report.ingested if s.kind == "article")
    assert article.title == "Biden to discuss Putin proposals with NATO – Kremlin"
    assert article.date == "2021-12-08T11:53"
    hits = index.search("Putin")
    kinds = {h.kind for h in hits}
    assert kinds == {"article", "audio"}
    spoken = [h for h in hits if h.kind == "audio"]
    assert min(h.start for h in spoken) < 2.0  # "Putin" in the spoken title, ~1.5 s
    assert all(h.title == article.title for h in hits)
    assert index.search("bookmarkicon") == [] and index.search("Podcasts") == []


def test_a_misheard_name_is_found_by_the_articles_spelling(index, sentences):
    # The engine hears "Ushakov" as "Ashikov"; the article's spelling still finds the spoken moment.
    index.ingest(SAMPLE_ARTICLE, audio=[SAMPLE_AUDIO])
    hits = index.search("Ushakov")
    assert {h.kind for h in hits} == {"article", "audio"}
    spoken = sorted(h.start for h in hits if h.kind == "audio")
    # "On Wednesday, Yury Ushakov, ..." (sentence 3): the name ~1.5 s in. It is said twice more
    # (sentences 4 and 9).
    assert sentences[3]["start"] < spoken[0] < sentences[3]["start"] + 3.0
    assert any(sentences[4]["start"] < start < sentences[4]["end"] for start in spoken)
    audio_hit = next(h for h in hits if h.kind == "audio")
    assert "(Ushakov)" in audio_hit.snippet and "**" in audio_hit.snippet
    # The transcript itself stays as heard.
    assert "Ushakov" not in index.transcript(audio_hit.source_id).text


def test_a_media_fragment_is_transcribed_alone_in_the_full_files_timeline(tmp_path, index, sentences):
    shutil.copyfile(SAMPLE_AUDIO, tmp_path / "episode.mp3")
    html = tmp_path / "clip.html"
    html.write_text(page("Troops at the border", '<audio src="episode.mp3#t=90,101"></audio>'))
    report = index.ingest(html)
    assert report.ok, report.failures
    audio = report.ingested[1]
    assert audio.segment == (90.0, 101.0) and audio.id.endswith("-t90-101")
    (hit,) = index.search("troops", kind="audio")
    # "where should we move our troops" at ~98 s of the whole file, not ~8 s into the segment.
    assert sentences[9]["start"] < hit.start < sentences[9]["end"]
    assert hit.audio == str(tmp_path / "episode.mp3")
    assert index.search("Kremlin", kind="audio") == []  # outside the segment
    listed = json.loads(CliRunner().invoke(cli, ["--index", str(index.path), "sources", "--json"], catch_exceptions=False).output)
    assert next(s for s in listed if s["kind"] == "audio")["segment"] == [90.0, 101.0]


def test_a_fragment_outside_the_file(tmp_path, index):
    shutil.copyfile(SAMPLE_AUDIO, tmp_path / "episode.mp3")
    html = tmp_path / "late.html"
    html.write_text(page("A late clip", '<audio src="episode.mp3#t=500,600"></audio>'))
    report = index.ingest(html)
    assert [f.message for f in report.failures] == [
        f"audio in {html.resolve()}: {tmp_path / 'episode.mp3'}: segment starts at 500 s, after the end of the audio (136.8 s)"
    ]
    # The article itself is indexed.
    assert [h.kind for h in index.search("slipway")] == ["article"]


def test_one_audio_in_two_articles_is_transcribed_once(tmp_path, media, tmp_path_factory):
    index = Index(tmp_path / "index", cache_dir=tmp_path / "fresh-cache", engine=FakeEngine())
    shutil.copyfile(media["mp3"], tmp_path / "shared.mp3")
    first, second = tmp_path / "first.html", tmp_path / "second.html"
    first.write_text(page("First story", '<audio src="shared.mp3"></audio>'))
    second.write_text(page("Second story", '<a href="shared.mp3">listen</a>'))
    report = index.ingest(first, second)
    assert report.ok and report.recognised == 1
    audio = [s for s in index.sources() if s.kind == "audio"]
    assert len(audio) == 1 and len(audio[0].article_ids) == 2
    listing = CliRunner().invoke(cli, ["--index", str(index.path), "sources"], catch_exceptions=False).output
    assert listing.count(f"└ {audio[0].id}") == 2
    # Removing one article keeps the audio the other still embeds.
    index.remove(index.source(audio[0].article_ids[0]).id)
    assert [s.kind for s in index.sources()].count("audio") == 1


def test_a_page_without_article_text(tmp_path, index):
    empty = tmp_path / "empty.html"
    empty.write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    report = index.ingest(empty)
    assert len(report.failures) == 1 and "no article text" in report.failures[0].message
    assert index.sources() == []


# -- over HTTP ---------------------------------------------------------------------------------------


class Site:
    """Routes of the loopback server: path -> (status, headers, body) or a callable."""

    def __init__(self):
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()


def make_handler(site: Site):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            site.requests.append(self.path)
            if self.path == "/slow":
                site.release.wait(5)  # longer than the client's timeout; released at teardown
                return
            status, headers, body = site.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def site():
    site = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield site
    site.release.set()
    server.shutdown()
    server.server_close()


SRT = """1
00:00:01,000 --> 00:00:04,000
Welcome to Harbour Talk, I'm your host.

2
00:01:05,500 --> 00:01:09,000
The lighthouse keeper counted every gull.
"""


def feed(site: Site, items: list[dict]) -> bytes:
    entries = []
    for item in items:
        transcript = (
            f'<podcast:transcript url="{item["transcript"]}" type="application/x-subrip"/>' if item.get("transcript") else ""
        )
        entries.append(
            f"""<item><title>{item["title"]}</title><guid>{item["guid"]}</guid>
            <link>{site.url}/episodes/{item["guid"]}</link>
            <pubDate>{item["date"]}</pubDate><description>{item["notes"]}</description>
            <enclosure url="{item["audio"]}" type="audio/mpeg" length="1"/>{transcript}</item>"""
        )
    return (
        '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
        f"<channel><title>Harbour Talk</title><link>{site.url}/</link>{''.join(entries)}</channel></rss>"
    ).encode()


@pytest.fixture
def podcast(site, media):
    site.routes["/audio/ep1.mp3"] = (200, {"Content-Type": "audio/mpeg"}, media["mp3"].read_bytes())
    site.routes["/audio/ep2.mp3"] = (200, {"Content-Type": "audio/mpeg"}, b"never fetched: the feed has a transcript")
    site.routes["/t/ep2.srt"] = (200, {"Content-Type": "application/x-subrip"}, SRT.encode())
    items = [
        {
            "title": "Episode 2: Gulls",
            "guid": "ep2",
            "date": "Tue, 02 Jan 2024 06:00:00 +0000",
            "notes": "The lighthouse and its birds.",
            "audio": "/audio/ep2.mp3",
            "transcript": "/t/ep2.srt",
        },
        {
            "title": "Episode 1: The summit",
            "guid": "ep1",
            "date": "Mon, 01 Jan 2024 06:00:00 +0000",
            "notes": "A reading of the news.",
            "audio": "/audio/ep1.mp3",
        },
    ]
    site.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, feed(site, items))
    return site


def test_a_feed_with_and_without_publisher_transcripts(tmp_path, podcast):
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine())
    report = index.ingest(f"{podcast.url}/feed.xml")
    assert report.ok, report.failures
    assert report.recognised == 1  # episode 1 only: episode 2 ships its transcript
    assert "/audio/ep2.mp3" not in podcast.requests
    (gull,) = index.search("lighthouse keeper")
    assert gull.kind == "audio" and gull.start == 65.5 and gull.title == "Episode 2: Gulls"
    assert gull.audio == f"{podcast.url}/audio/ep2.mp3" and gull.location == f"{podcast.url}/episodes/ep2"
    (spoken,) = index.search("guarantees")
    assert spoken.title == "Episode 1: The summit" and 8.5 < spoken.start < 10.0
    assert [h.kind for h in index.search("birds")] == ["article"]
    # Again: both items are already indexed and are skipped.
    again = index.ingest(f"{podcast.url}/feed.xml")
    assert again.ingested == [] and len(again.skipped) == 2


def test_feed_limit_and_force_asr(tmp_path, podcast, media):
    podcast.routes["/audio/ep2.mp3"] = (200, {"Content-Type": "audio/mpeg"}, media["mp3"].read_bytes())
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine())
    report = index.ingest(f"{podcast.url}/feed.xml", limit=1, force_asr=True)
    assert report.ok, report.failures
    titles = [s.title for s in report.ingested if s.kind == "article"]
    assert titles == ["Episode 2: Gulls"]
    assert index.search("lighthouse") and index.search("guarantees", kind="audio")[0].title == "Episode 2: Gulls"


def test_a_page_over_http_with_redirect_and_a_broken_audio_link(tmp_path, site, media):
    site.routes["/old"] = (301, {"Location": "/story"}, b"")
    site.routes["/story"] = (
        200,
        {"Content-Type": "text/html"},
        page("Ferry vote", '<audio src="/a/interview.mp3"></audio><audio src="/a/missing.mp3"></audio>').encode(),
    )
    site.routes["/a/interview.mp3"] = (200, {"Content-Type": "audio/mpeg"}, media["mp3"].read_bytes())
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "index"), "ingest", f"{site.url}/old"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: audio in {site.url}/story: {site.url}/a/missing.mp3: HTTP 404 Not Found\n"
    hits = Index(tmp_path / "index").search("guarantees OR slipway")
    assert {h.kind for h in hits} == {"audio", "article"}
    assert all(h.location == f"{site.url}/story" for h in hits)


def test_a_page_that_embeds_a_private_address_is_refused_unless_allowed(tmp_path, site, media):
    other = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        private = f"http://127.0.0.1:{other.server_address[1]}/a/interview.mp3"
        site.routes["/story"] = (200, {"Content-Type": "text/html"}, page("Ferry", f'<audio src="{private}"></audio>').encode())
        site.routes["/a/interview.mp3"] = (200, {"Content-Type": "audio/mpeg"}, media["mp3"].read_bytes())
        args = ["--index", str(tmp_path / "index"), "ingest", f"{site.url}/story"]
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 1
        assert refused.stderr.startswith(f"Error: audio in {site.url}/story: refused {private} found in {site.url}/story: ")
        assert "--allow-private" in refused.stderr
        allowed = CliRunner().invoke(cli, [*args, "--allow-private"])
        assert allowed.exit_code == 0, allowed.output
        assert Index(tmp_path / "index").search("guarantees")
    finally:
        other.shutdown()
        other.server_close()


def test_unreachable_slow_and_oversized(tmp_path, site):
    site.routes["/big.mp3"] = (200, {"Content-Type": "audio/mpeg"}, b"\0" * 200_000)
    index = Index(tmp_path / "index", fetch={"timeout": 0.5, "max_audio_bytes": 100_000}, engine=FakeEngine())
    started = time.monotonic()
    report = index.ingest(f"{site.url}/slow", "http://127.0.0.1:9/gone.html", f"{site.url}/big.mp3")
    assert time.monotonic() - started < 5
    messages = [f.message for f in report.failures]
    assert messages[0] == f"{site.url}/slow: timed out after 0.5 s"
    assert messages[1] == "http://127.0.0.1:9/gone.html: connection refused"
    assert messages[2].startswith(f"{site.url}/big.mp3: larger than the 100 kB limit")
    assert index.sources() == []


def test_a_malformed_feed_keeps_its_good_items(tmp_path, podcast):
    broken = feed(
        podcast,
        [
            {
                "title": "Episode 2: Gulls",
                "guid": "ep2",
                "date": "Tue, 02 Jan 2024 06:00:00 +0000",
                "notes": "Gulls & <b>birds",
                "audio": "/audio/ep2.mp3",
                "transcript": "/t/ep2.srt",
            },
        ],
    ).replace(b"</channel></rss>", b"<item><title>Broken</ti")
    podcast.routes["/bad.xml"] = (200, {"Content-Type": "application/rss+xml"}, broken)
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache", engine=FakeEngine())
    report = index.ingest(f"{podcast.url}/bad.xml")
    assert [s.title for s in report.ingested if s.kind == "article"] == ["Episode 2: Gulls"]
    assert index.search("lighthouse")
