"""The web page over HTTP, in-process: pages, escaping, the JSON API against the CLI, audio by Range.

Tests marked e2e read an index of the sample article and its audio (recognised once per run by the
real model); the others use text articles only.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from indexer import Index
from indexer.cli import cli
from indexer.web import create_app

from .conftest import ROOT, SAMPLE_AUDIO

ARTICLE = """8 Dec, 2021 11:53

Harbour news

The harbour master, Ms Okonkwo, said the new crane would lift fourteen containers an hour.

Dockers said the crane was quieter than the old one.
"""
HOSTILE = """8 Dec, 2021 11:53

Harbour <b>news</b> & <script>window.__xss = 'title'</script>

The harbour master said <script>window.__xss = 1</script> the crane would lift fourteen containers.

A second paragraph about the crane <img src=x onerror="window.__xss = 2"> and its "driver".
"""


def write_article(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


class _Elements(HTMLParser):
    def __init__(self, tag: str, css_class: str):
        super().__init__()
        self.tag, self.css_class, self.found = tag, css_class, []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == self.tag and (not self.css_class or self.css_class in (attributes.get("class") or "").split()):
            self.found.append(attributes)


def elements(html: str, tag: str, css_class: str) -> list[dict]:
    """The attributes (unescaped) of every ``tag`` of ``css_class`` (any class if empty) in a page."""
    parser = _Elements(tag, css_class)
    parser.feed(html)
    return parser.found


def ingest(index_dir: Path, *sources: Path) -> None:
    report = Index(index_dir).ingest(*sources)
    assert report.ok, report.failures


@pytest.fixture
def article_index(tmp_path) -> Path:
    index_dir = tmp_path / "index"
    ingest(index_dir, write_article(tmp_path / "articles", "harbour.txt", ARTICLE))
    return index_dir


def client_for(index_dir: Path) -> TestClient:
    return TestClient(create_app(Index(index_dir)), base_url="http://127.0.0.1:8080")


def cli_json(index_dir: Path, *args: str):
    result = CliRunner().invoke(cli, ["--index", str(index_dir), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# -- pages --------------------------------------------------------------------------------------


def test_search_page_shows_the_paragraph_with_its_article_and_marked_words(article_index):
    with client_for(article_index) as client:
        page = client.get("/", params={"q": "crane"})
    assert page.status_code == 200
    html = page.text
    assert "<h2>Harbour news</h2>" in html
    assert "2021-12-08T11:53" in html and "harbour.txt" in html
    assert "new <mark>crane</mark> would lift" in html
    assert "2 hits in 1 source." in html


def test_search_page_pages_with_more(tmp_path):
    paragraphs = "\n\n".join(f"Paragraph {i} mentions the crane once." for i in range(30))
    index_dir = tmp_path / "index"
    ingest(index_dir, write_article(tmp_path, "long.txt", f"8 Dec, 2021 11:53\n\nCranes all day\n\n{paragraphs}\n"))
    with client_for(index_dir) as client:
        first = client.get("/", params={"q": "crane"}).text
        assert first.count('class="hit article"') == 20
        assert "there are more" in first
        more = re.search(r'<a class="more" href="([^"]+)"', first).group(1).replace("&amp;", "&")
        assert "limit=40" in more
        second = client.get(more).text
    assert second.count('class="hit article"') == 30
    assert 'class="more"' not in second and "30 hits in 1 source." in second


def test_kind_filter_keeps_only_that_kind(article_index):
    with client_for(article_index) as client:
        audio_only = client.get("/", params={"q": "crane", "kind": "audio"})
        articles = client.get("/", params={"q": "crane", "kind": "article"})
    assert "No hits for <q>crane</q>." in audio_only.text
    assert articles.text.count('class="hit article"') == 2
    assert '<a href="/?q=crane&amp;kind=article" aria-current="page">Articles</a>' in articles.text


def test_a_bad_query_gets_a_readable_message(article_index):
    with client_for(article_index) as client:
        page = client.get("/", params={"q": '"red line'})
        api = client.get("/api/search", params={"q": '"red line'})
        bad_kind = client.get("/api/search", params={"q": "crane", "kind": "video"})
        bad_limit = client.get("/api/search", params={"q": "crane", "limit": "lots"})
    assert page.status_code == 400
    assert "malformed query &#34;\\&#34;red line&#34;: unclosed quote" in page.text or "unclosed quote" in page.text
    assert '<p class="error" role="alert">' in page.text
    assert api.status_code == 400 and api.json() == {"error": "malformed query '\"red line': unclosed quote"}
    assert bad_kind.status_code == 400 and "unknown kind 'video'" in bad_kind.json()["error"]
    assert bad_limit.status_code == 400 and "limit must be a whole number" in bad_limit.json()["error"]


def test_home_and_sources_pages_list_what_is_indexed(article_index):
    with client_for(article_index) as client:
        home = client.get("/")
        sources = client.get("/sources")
    assert "The index holds 1 article and\n    0 audio sources" in home.text
    assert sources.status_code == 200 and "<strong>Harbour news</strong>" in sources.text


def test_article_text_and_titles_are_shown_as_text_never_as_markup(tmp_path):
    index_dir = tmp_path / "index"
    ingest(index_dir, write_article(tmp_path, "hostile.txt", HOSTILE))
    with client_for(index_dir) as client:
        pages = [client.get("/", params={"q": "crane"}).text, client.get("/sources").text]
        api = client.get("/api/search", params={"q": "crane"}).json()
    for html in pages:
        assert "<script>window" not in html and "<img src=x" not in html and "<b>news" not in html
        assert "&lt;b&gt;news&lt;/b&gt; &amp; &lt;script&gt;window.__xss = &#39;title&#39;&lt;/script&gt;" in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt; the <mark>crane</mark>" in pages[0]
    assert "&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in pages[0]
    # The API gives the text as it is: escaping is the page's job.
    assert any("<script>window.__xss = 1</script>" in hit["text"] for hit in api)


def test_pages_forbid_inline_scripts_and_foreign_host_names(article_index):
    with client_for(article_index) as client:
        page = client.get("/", params={"q": "crane"})
        rebound = client.get("/api/sources", headers={"Host": "attacker.example"})
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # A page on another site that points its own DNS name at 127.0.0.1 cannot read the index.
    assert rebound.status_code == 400


def test_unknown_ids_are_404(article_index):
    with client_for(article_index) as client:
        article_id = client.get("/api/sources").json()[0]["id"]
        for path in [
            "/audio/audio-000000000000",
            "/media/audio-000000000000",
            "/media/..%2F..%2Fetc%2Fpasswd",
            "/media/%2Fetc%2Fpasswd",
            "/audio/%2E%2E",
            "/api/transcript/nope",
            f"/media/{article_id}",
            f"/audio/{article_id}",
            "/static/%2E%2E/app.py",
            "/static/%2E%2E%2Fapp.py",
            "/nowhere",
        ]:
            response = client.get(path)
            assert response.status_code == 404, path
        page = client.get("/audio/audio-000000000000")
        api = client.get("/api/transcript/nope")
    assert "no source &#39;audio-000000000000&#39; in the index" in page.text
    assert api.json() == {"error": "no source 'nope' in the index"}


def test_api_equals_the_command_line(article_index):
    with client_for(article_index) as client:
        for params, args in [
            ({"q": "crane"}, ["crane"]),
            ({"q": "harbour OR dockers", "limit": "1"}, ["harbour OR dockers", "--limit", "1"]),
            ({"q": "crane", "kind": "article"}, ["crane", "--kind", "article"]),
        ]:
            assert client.get("/api/search", params=params).json() == cli_json(article_index, "search", *args, "--json")
        assert client.get("/api/sources").json() == cli_json(article_index, "sources", "--json")


def test_new_sources_show_up_while_the_server_runs_and_it_writes_nothing(tmp_path, article_index):
    def snapshot() -> dict:
        return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in article_index.iterdir()}

    with client_for(article_index) as client:
        assert len(client.get("/api/sources").json()) == 1
        before = snapshot()
        for path in ["/", "/?q=crane", "/sources", "/api/sources", "/api/search?q=crane", "/audio/nope"]:
            client.get(path)
        assert snapshot() == before
        # Another process ingests while the server is up.
        later = write_article(tmp_path / "later", "later.txt", "9 Dec, 2021 10:00\n\nQuay report\n\nThe quay was busy.\n")
        done = subprocess.run(
            [sys.executable, "-m", "indexer", "--index", str(article_index), "ingest", str(later)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        titles = [s["title"] for s in client.get("/api/sources").json()]
        assert sorted(titles) == ["Harbour news", "Quay report"]
        assert "<mark>quay</mark>" in client.get("/", params={"q": "quay"}).text


# -- the command ---------------------------------------------------------------------------------


def start_server(index_dir: Path, *args: str, cache: Path | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """``indexer serve`` as a user runs it, on a free port; returns the process, the page's URL and
    what it printed on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **({"INDEXER_CACHE": str(cache)} if cache else {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer", "--index", str(index_dir), "serve", "--port", "0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        found = re.search(r"at (http://\S+/) \(Ctrl-C to stop\)", line)
        if found:
            return process, found.group(1), lines
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"indexer serve did not start: {''.join(lines)}")


def test_serve_listens_on_loopback_and_stops_on_ctrl_c(article_index):
    process, url, lines = start_server(article_index)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert not any("Warning" in line for line in lines)
        assert [s["title"] for s in httpx.get(url + "api/sources").json()] == ["Harbour news"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert process.stderr.read().strip() == "Stopped."


def test_serve_on_another_address_warns_on_stderr(article_index):
    process, url, lines = start_server(article_index, "--host", "0.0.0.0")
    try:
        assert "Warning: listening on 0.0.0.0: anyone who can reach this machine can read the index." in "".join(lines)
        port = url.rsplit(":", 1)[1].rstrip("/")
        # Any host name is accepted there: other machines reach it by this machine's name.
        response = httpx.get(f"http://127.0.0.1:{port}/api/sources", headers={"Host": "indexer-box.lan"})
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_connections_send_without_waiting_for_acks():
    # Responses go out in two writes; on a kept-alive connection Nagle's algorithm would hold the
    # second until the browser's delayed ACK, ~40 ms a request. Accepted sockets inherit the option.
    from indexer.web.server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_serve_on_a_port_in_use_is_one_error_line(article_index):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--index", str(article_index), "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"


# -- with the sample audio (real model) ----------------------------------------------------------


@pytest.fixture
def sample_client(sample_index_dir):
    with client_for(sample_index_dir) as client:
        yield client


@pytest.fixture
def audio_id(sample_client) -> str:
    return next(s["id"] for s in sample_client.get("/api/sources").json() if s["kind"] == "audio")


@pytest.mark.e2e
def test_audio_hits_are_grouped_under_their_article_with_play_buttons(sample_client, audio_id):
    html = sample_client.get("/", params={"q": "Putin"}).text
    hits = sample_client.get("/api/search", params={"q": "Putin", "limit": "21"}).json()
    assert html.count('<section class="group">') == 1  # the article and its audio are one story
    # The audio hits' own buttons (an article paragraph heard in the audio has one too: heard_at).
    audio_items = "".join(part.split("</li>")[0] for part in html.split('<li class="hit audio">')[1:])
    buttons = elements(audio_items, "button", "play")
    starts = [hit["start"] for hit in hits if hit["kind"] == "audio"]
    assert len(buttons) == len(starts) >= 3
    for button, start in zip(buttons, starts):
        assert button["data-src"] == f"/media/{audio_id}" and button["data-fallback"] == ""
        assert float(button["data-start"]) == start
        assert button["data-link"] == f"/audio/{audio_id}#t={start:g}"


@pytest.mark.e2e
def test_api_equals_the_command_line_for_audio(sample_client, sample_index_dir, audio_id):
    for query in ["Putin", '"red line"', "troops"]:
        api = sample_client.get("/api/search", params={"q": query, "kind": "audio"}).json()
        assert api and api == cli_json(sample_index_dir, "search", query, "--kind", "audio", "--json")
    assert sample_client.get("/api/sources").json() == cli_json(sample_index_dir, "sources", "--json")
    assert sample_client.get(f"/api/transcript/{audio_id}").json() == cli_json(
        sample_index_dir, "transcript", audio_id, "--format", "json"
    )
    for fmt in ["txt", "srt", "vtt"]:
        download = sample_client.get(f"/api/transcript/{audio_id}", params={"format": fmt})
        expected = CliRunner().invoke(cli, ["--index", str(sample_index_dir), "transcript", audio_id, "--format", fmt])
        assert download.text == expected.output
        assert download.headers["content-disposition"] == f'attachment; filename="{audio_id}.{fmt}"'
    assert sample_client.get(f"/api/transcript/{audio_id}", params={"format": "doc"}).status_code == 400


@pytest.mark.e2e
def test_transcript_page_has_every_word_with_its_time_and_the_article(sample_client, audio_id):
    transcript = sample_client.get(f"/api/transcript/{audio_id}").json()
    html = sample_client.get(f"/audio/{audio_id}").text
    words = [w for s in transcript["segments"] for w in s["words"]]
    spans = re.findall(r'<span class="w" data-s="([\d.]+)" data-e="([\d.]+)">([^<]*)</span>', html)
    assert len(spans) == len(words) > 300
    assert [(float(s), html_lib.unescape(t)) for s, _, t in spans] == [(w["start"], w["word"].strip()) for w in words]
    assert f'<audio id="player" controls preload="metadata" src="/media/{audio_id}"' in html
    assert re.search(r'Embedded in\s*<a href="/sources#article-\w+">Biden to discuss Putin proposals', html)
    for fmt in ["txt", "srt", "vtt", "json"]:
        assert f'href="/api/transcript/{audio_id}?format={fmt}" download' in html


@pytest.mark.e2e
def test_audio_is_served_by_range(sample_client, audio_id):
    data = SAMPLE_AUDIO.read_bytes()
    size = len(data)
    whole = sample_client.get(f"/media/{audio_id}")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/mpeg" and whole.headers["accept-ranges"] == "bytes"
    for header, start, end in [
        ("bytes=0-99", 0, 99),  # the first bytes
        ("bytes=400000-400999", 400_000, 400_999),  # the middle
        ("bytes=-500", size - 500, size - 1),  # the last 500
        ("bytes=800000-", 800_000, size - 1),  # from a byte to the end
        (f"bytes={size - 10}-{size + 5000}", size - 10, size - 1),  # an end past the end is cut to it
    ]:
        part = sample_client.get(f"/media/{audio_id}", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == data[start : end + 1]
    for header in [
        f"bytes={size}-",
        f"bytes={size + 10}-{size + 20}",
        "bytes=-0",
        "bytes=50-10",
        "bytes=abc",
        "pages=1-2",
        "bytes=1-2-3",
    ]:
        refused = sample_client.get(f"/media/{audio_id}", headers={"Range": header})
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == f"bytes */{size}"


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.e2e
def test_a_range_of_a_huge_file_reads_only_that_range(tmp_path, shared_cache):
    # The sample copied and ingested (its transcript comes from the cache), then grown to 3 GB.
    episode = tmp_path / "episode.mp3"
    shutil.copy(SAMPLE_AUDIO, episode)
    index_dir = tmp_path / "index"
    report = Index(index_dir, cache_dir=shared_cache).ingest(episode)
    assert report.ok, report.failures
    with open(episode, "r+b") as f:
        f.truncate(3 * 1024**3)  # sparse: no disk used
    with client_for(index_dir) as client:
        audio_id = client.get("/api/sources").json()[0]["id"]
        before = _bytes_read()
        part = client.get(f"/media/{audio_id}", headers={"Range": "bytes=2000000000-2000065535"})
        read = _bytes_read() - before
    assert part.status_code == 206 and part.content == bytes(65536)
    assert part.headers["content-range"] == f"bytes 2000000000-2000065535/{3 * 1024**3}"
    assert read < 2_000_000, read


@pytest.mark.e2e
def test_a_missing_audio_file_is_404(tmp_path, shared_cache):
    episode = tmp_path / "episode.mp3"
    shutil.copy(SAMPLE_AUDIO, episode)
    index_dir = tmp_path / "index"
    assert Index(index_dir, cache_dir=shared_cache).ingest(episode).ok
    episode.unlink()
    with client_for(index_dir) as client:
        audio_id = client.get("/api/sources").json()[0]["id"]
        gone = client.get(f"/media/{audio_id}")
        page = client.get(f"/audio/{audio_id}")
    assert gone.status_code == 404 and "is no longer at" in gone.text
    assert page.status_code == 200  # the transcript can still be read


# -- audio ingested from a URL -------------------------------------------------------------------


@pytest.mark.e2e
def test_url_audio_plays_from_its_url_or_the_downloaded_copy(url_audio, tmp_path):
    index_dir, cache, origin = url_audio
    with TestClient(create_app(Index(index_dir, cache_dir=cache)), base_url="http://127.0.0.1:8080") as client:
        audio_id = client.get("/api/sources").json()[0]["id"]
        player = elements(client.get(f"/audio/{audio_id}").text, "audio", "")[0]
        assert player["src"] == origin.url and player["data-fallback"] == f"/media/{audio_id}"
        button = elements(client.get("/", params={"q": "Putin"}).text, "button", "play")[0]
        assert button["data-src"] == origin.url and button["data-fallback"] == f"/media/{audio_id}"
        # The copy downloaded at ingest is served from here, by Range like a local file.
        part = client.get(f"/media/{audio_id}", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == SAMPLE_AUDIO.read_bytes()[100:200]
    # Without a downloaded copy the player is sent to the URL.
    with TestClient(create_app(Index(index_dir, cache_dir=tmp_path / "empty-cache")), base_url="http://127.0.0.1") as client:
        moved = client.get(f"/media/{audio_id}", follow_redirects=False)
    assert moved.status_code == 302 and moved.headers["location"] == origin.url


class _HeardAt:
    """The index as the alignment will make it: article hits that know where their audio speaks them."""

    def __init__(self, index: Index, audio_id: str, audio: str):
        self.index, self.cache_dir = index, index.cache_dir
        self.audio_id, self.audio = audio_id, audio

    def search(self, query, *, limit, kind):
        hits = self.index.search(query, limit=limit, kind=kind)
        for hit in hits:
            if hit.kind == "article":
                hit.heard_at = [{"source_id": self.audio_id, "audio": self.audio, "start": 42.5, "end": 44.0}]
        return hits

    def __getattr__(self, name):
        return getattr(self.index, name)


def test_a_paragraph_heard_in_its_audio_gets_a_play_button(article_index):
    index = _HeardAt(Index(article_index), "audio-0123456789ab", "/srv/episode.mp3")
    with TestClient(create_app(index), base_url="http://127.0.0.1") as client:
        html = client.get("/", params={"q": "crane"}).text
    buttons = elements(html, "button", "play")
    assert len(buttons) == 2
    assert {b["data-src"] for b in buttons} == {"/media/audio-0123456789ab"}
    assert {b["data-start"] for b in buttons} == {"42.5"}
    assert {b["data-link"] for b in buttons} == {"/audio/audio-0123456789ab#t=42.5"}


def test_serve_open_shows_the_page_in_the_browser(article_index, tmp_path):
    opened = tmp_path / "opened"
    # webbrowser runs $BROWSER with the URL for %s: here, a command that writes the URL down.
    browser = f"{sys.executable} -c \"import sys; open(sys.argv[2], 'w').write(sys.argv[1])\" %s {opened}"
    env = {**os.environ, "BROWSER": browser}
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer", "--index", str(article_index), "serve", "--port", "0", "--open"],
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    try:
        url = re.search(r"at (http://\S+/) ", process.stderr.readline()).group(1)
        deadline = time.monotonic() + 30
        while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text() == url
        assert httpx.get(url).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


@pytest.mark.e2e
def test_sources_page_shows_the_article_with_its_audio_beneath(sample_client, audio_id):
    html = sample_client.get("/sources").text
    article = re.search(r'<li class="article" id="(article-\w+)">(.*?)</li>\s*</ul>\s*</li>', html, re.S)
    assert article and "Biden to discuss Putin proposals with NATO – Kremlin" in article.group(2)
    assert f'<a href="/audio/{audio_id}">' in article.group(2) and "02:16" in article.group(2)
    assert "2021-12-08T11:53" in article.group(2) and "seed_article.txt" in article.group(2)


@pytest.mark.e2e
def test_part_of_a_file_opens_at_its_start(tmp_path, shared_cache, sample_index_dir):
    index_dir = tmp_path / "index"
    assert Index(index_dir, cache_dir=shared_cache).ingest(f"{SAMPLE_AUDIO}#t=30,60").ok
    with client_for(index_dir) as client:
        source = client.get("/api/sources").json()[0]
        player = elements(client.get(f"/audio/{source['id']}").text, "audio", "")[0]
        listed = client.get("/sources").text
    assert source["segment"] == [30.0, 60.0]
    assert float(player["data-start"]) == 30.0
    assert "from 00:30 to 01:00" in listed
