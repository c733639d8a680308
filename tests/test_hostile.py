"""Hostile pages and servers, on loopback servers the tests start: what a fetch must never do.

A slow drip, an endless body, a gzip bomb declared as audio, a name that rebinds to loopback after the
check, a page whose ``<base href>`` points at the local disk, credentials in URLs, invalid ports and
terminal escapes in titles. Nothing here needs a speech model: every case ends before recognition.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
from click.testing import CliRunner

from indexer import Index
from indexer.cli import cli
from indexer.errors import FetchError, UnsafeURLError
from indexer.sources.fetch import Fetcher, check_reference, redact_url

ARTICLE_TEXT = " ".join(
    f"Paragraph {i} of the story says that the council met on Tuesday to discuss the harbour." for i in range(8)
)
Route = Callable[[BaseHTTPRequestHandler], None]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 whose paths are served by functions the test sets."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict]] = []
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher hung up on purpose, mid-body or between requests

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path.split("?")[0])
                try:
                    if route is None:
                        send(self, 404, b"")
                    else:
                        route(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the fetcher hung up on purpose

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    yield running
    running.close()


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*")) if cache.exists() else []


# ---------------------------------------------------------------- slow, endless, bombs


def test_a_server_that_drips_a_byte_at_a_time_is_stopped_by_the_deadline(server: _Server, tmp_path: Path) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        while not server.stop.is_set():  # one byte every 0.2 s, never ending: each byte beats the time-out
            handler.wfile.write(b"<")
            handler.wfile.flush()
            time.sleep(0.2)

    server.routes["/drip"] = drip
    cache = tmp_path / "cache"
    # Deadline: 1 s time-out + 100 bytes (the cap) at 100 bytes/s = 2 s.
    with Fetcher(cache, {"timeout": 1.0, "min_bytes_per_second": 100, "max_page_bytes": 100}) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"/drip: too slow: stopped after 2 s"):
            fetcher.fetch(server.url("/drip"))
        assert time.monotonic() - started < 3.5
    assert not [name for name in _leftovers(cache) if name.endswith(".part")]


def test_the_deadline_covers_every_redirect_hop(server: _Server, tmp_path: Path) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        while not server.stop.is_set():
            handler.wfile.write(b"<")
            handler.wfile.flush()
            time.sleep(0.2)

    server.routes["/hop"] = lambda handler: send(handler, 302, b"", {"Location": "/drip"})
    server.routes["/drip"] = drip
    with Fetcher(tmp_path / "cache", {"timeout": 1.0, "min_bytes_per_second": 100, "max_page_bytes": 100}) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"/drip \(redirected from .*/hop\): too slow"):
            fetcher.fetch(server.url("/hop"))
        assert time.monotonic() - started < 3.5


def test_a_server_that_drips_its_headers_is_stopped_by_the_deadline(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000:
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with Fetcher(tmp_path / "cache", {"timeout": 1.0, "min_bytes_per_second": 100, "max_page_bytes": 100}) as fetcher:
            started = time.monotonic()
            with pytest.raises(FetchError, match="too slow"):
                fetcher.fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/headers")
            assert time.monotonic() - started < 3.5
    finally:
        stop.set()
        listener.close()


def test_an_endless_audio_body_stops_at_the_cap(server: _Server, tmp_path: Path) -> None:
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "audio/mpeg")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        block = b"\xff\xfb" * 32768
        while not server.stop.is_set():
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))

    server.routes["/live.mp3"] = endless
    cache = tmp_path / "cache"
    with Fetcher(cache, {"max_audio_bytes": 5_000_000}) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"larger than the 5 MB limit for audio files"):
            fetcher.fetch(server.url("/live.mp3"), kind="audio")
        assert time.monotonic() - started < 10
    assert _leftovers(cache) == []


def test_a_gzip_bomb_declared_as_audio_is_counted_after_decoding(server: _Server, tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * 200_000_000, compresslevel=9)  # 200 MB in ~200 kB
    assert len(bomb) < 300_000

    def gzipped(handler: BaseHTTPRequestHandler) -> None:
        # It ignores the fetcher's Accept-Encoding: identity.
        send(handler, 200, bomb, {"Content-Type": "audio/mpeg", "Content-Encoding": "gzip"})

    server.routes["/bomb.mp3"] = gzipped
    cache = tmp_path / "cache"
    tracemalloc.start()
    try:
        with Fetcher(cache, {"max_audio_bytes": 10_000_000}) as fetcher:
            with pytest.raises(FetchError, match=r"larger than the 10 MB limit for audio files"):
                fetcher.fetch(server.url("/bomb.mp3"), kind="audio")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # decoded a block at a time, never a whole read's worth
    assert server.requests[0][1]["Accept-Encoding"] == "identity"
    assert _leftovers(cache) == []


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate", "br"])
def test_encoded_pages_are_decoded_here(server: _Server, tmp_path: Path, encoding: str) -> None:
    page = _page("|") * 50
    if encoding == "gzip":
        body = gzip.compress(page)
    elif encoding == "deflate":
        body = zlib.compress(page)
    else:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(page) + compressor.flush()
    header = encoding.split()[-1]
    server.routes["/page"] = lambda handler: send(handler, 200, body, {"Content-Type": "text/html", "Content-Encoding": header})
    with Fetcher(tmp_path / "cache") as fetcher:
        if encoding == "br":
            with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
                fetcher.fetch(server.url("/page"))
            return
        assert fetcher.fetch(server.url("/page")).path.read_bytes() == page
    assert server.requests[0][1]["Accept-Encoding"] == "gzip, deflate"


def test_a_part_file_left_by_a_killed_process_is_cleaned_up(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    stale, fresh = cache / "abc.1.part", cache / "def.2.part"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    with Fetcher(cache):
        pass
    assert _leftovers(cache) == ["def.2.part"]  # a recent one may belong to a download in progress


# ---------------------------------------------------------------- DNS rebinding


def test_the_connection_goes_to_the_address_that_was_checked(server: _Server, tmp_path: Path) -> None:
    # The name answers with a public address for the check, then with loopback: a rebinding attack.
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["93.184.216.34"] if len(lookups) == 1 else ["127.0.0.1"]

    server.routes["/a.mp3"] = lambda handler: send(handler, 200, b"secret", {"Content-Type": "audio/mpeg"})
    with Fetcher(tmp_path / "cache", {"timeout": 1.0}, resolver=rebinding) as fetcher:
        with pytest.raises(FetchError):
            fetcher.fetch(server.url("/a.mp3", host="cdn.example"), kind="audio", found_in="http://news.example/story")
    assert lookups == ["cdn.example"]  # one lookup, for the check; the connection used its answer
    assert server.requests == []


def test_a_checked_name_is_connected_with_its_own_host_header(server: _Server, tmp_path: Path) -> None:
    server.routes["/a.mp3"] = lambda handler: send(handler, 200, b"ID3 audio", {"Content-Type": "audio/mpeg"})
    with Fetcher(tmp_path / "cache", {"allow_private": False}, resolver=lambda host, port: ["127.0.0.1"]) as fetcher:
        # Same host as the page, so the loopback address is allowed; the name still only resolves here.
        url = server.url("/a.mp3", host="podcast.example")
        fetched = fetcher.fetch(url, kind="audio", found_in=server.url("/story", host="podcast.example"))
    assert fetched.path.read_bytes() == b"ID3 audio"
    assert server.requests[0][1]["Host"] == f"podcast.example:{server.port}"


# ---------------------------------------------------------------- pages that point at the local disk


def _page(body: str) -> bytes:
    return f"""<!doctype html><html><head><title>Harbour council</title>{body.split("|")[0]}</head>
    <body><article><h1>Harbour council</h1><p>{ARTICLE_TEXT}</p>{body.split("|")[1]}</article></body></html>""".encode()


def test_a_web_page_cannot_make_the_indexer_open_local_files(server: _Server, tmp_path: Path, clip: Path) -> None:
    local = tmp_path / "private"
    local.mkdir()
    (local / "secret.wav").write_bytes(clip.read_bytes())
    server.routes["/story"] = lambda handler: send(
        handler, 200, _page(f'<base href="file://{local}/">|<audio src="secret.wav"></audio>'), {"Content-Type": "text/html"}
    )
    # Each on a page of its own: links to one file name on one page are taken as forms of one recording.
    refused = [f"file://{local}/secret.wav", "ftp://ftp.example/show.mp3", "gopher://gopher.example/1/show.mp3"]
    for n, href in enumerate(refused):
        page = _page(f'|<a href="{href}">listen</a>')
        server.routes[f"/story{n}"] = lambda handler, page=page: send(handler, 200, page, {"Content-Type": "text/html"})
    index = Index(tmp_path / "index", cache_dir=tmp_path / "cache")
    report = index.ingest(server.url("/story"), *(server.url(f"/story{n}") for n in range(len(refused))))
    messages = sorted(f.message for f in report.failures)
    # The <base> is ignored, so secret.wav resolves on the page's own site (404 there).
    assert any("/secret.wav: HTTP 404" in m for m in messages), messages
    for n, href in enumerate(refused):
        assert any(m.startswith(f"audio in {server.url(f'/story{n}')}: refused {href} found in") for m in messages), messages
    assert [s.kind for s in report.ingested] == ["article"] * 4
    assert report.recognised == 0  # nothing local was ever opened as audio


def test_a_local_page_still_embeds_the_audio_beside_it(tmp_path: Path) -> None:
    # Local documents may point at local files; only web documents may not.
    check_reference(str(tmp_path / "episode.mp3"), str(tmp_path / "page.html"))
    check_reference(str(tmp_path / "episode.mp3"), None)
    check_reference("https://cdn.example/episode.mp3", "https://news.example/story")
    with pytest.raises(UnsafeURLError, match=r"refused /etc/passwd found in https://news.example/story: "):
        check_reference("/etc/passwd", "https://news.example/story")


# ---------------------------------------------------------------- URLs: credentials, ports


def test_credentials_in_urls_are_neither_stored_nor_printed(server: _Server, tmp_path: Path) -> None:
    server.routes["/story"] = lambda handler: send(handler, 200, _page("|"), {"Content-Type": "text/html"})
    secret_url = server.url("/story", host="alice:s3cr3t@127.0.0.1")
    closed_port = socket.create_server(("127.0.0.1", 0))
    unreachable = f"http://bob:hunter2@127.0.0.1:{closed_port.getsockname()[1]}/gone"
    closed_port.close()
    runner = CliRunner()
    index = str(tmp_path / "index")
    result = runner.invoke(cli, ["--index", index, "ingest", "--json", secret_url, unreachable], catch_exceptions=False)
    listing = runner.invoke(cli, ["--index", index, "sources", "--json"], catch_exceptions=False)
    everything = result.output + listing.output
    assert "s3cr3t" not in everything and "hunter2" not in everything and "alice" not in everything
    assert json.loads(listing.output)[0]["location"] == server.url("/story")
    assert redact_url("https://u:p@host:8443/a?b#c") == "https://host:8443/a?b#c"
    assert redact_url("/home/me/at@home.mp3") == "/home/me/at@home.mp3"


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://127.0.0.1:0/x", "http://127.0.0.1:0/x: not a valid URL (port 0)"),
        ("http://example.com:99999/x", "http://example.com:99999/x: not a valid URL (Port out of range 0-65535)"),
        ("http://example.com:8o/x", "http://example.com:8o/x: not a valid URL (Port could not be cast to integer value as '8o')"),
    ],
)
def test_invalid_ports_are_refused(tmp_path: Path, url: str, message: str) -> None:
    with Fetcher(tmp_path / "cache") as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(url)
    assert str(caught.value) == message


def test_command_line_inputs_that_are_not_urls_fail_alone(tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    article.write_text("Harbour council\n\n" + ARTICLE_TEXT + "\n")
    result = CliRunner().invoke(
        cli, ["--index", str(tmp_path / "index"), "ingest", "//]#", "http://[::1/x", str(article)], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "ingested article-" in result.stdout
    assert "Error: //]#: no such file\n" in result.stderr
    assert "Error: http://[::1/x: no such file\n" in result.stderr


# ---------------------------------------------------------------- terminal escapes


def test_titles_cannot_drive_the_terminal(tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    article.write_text("Harbour \x1b]0;owned\x07council \x1b[2J meets\n\n" + ARTICLE_TEXT + "\n")
    runner = CliRunner()
    index = str(tmp_path / "index")
    ingest = runner.invoke(cli, ["--index", index, "ingest", str(article)], catch_exceptions=False)
    listing = runner.invoke(cli, ["--index", index, "sources"], catch_exceptions=False)
    hits = runner.invoke(cli, ["--index", index, "search", "harbour"], catch_exceptions=False)
    for output in (ingest.output, listing.output, hits.output):
        assert "\x1b" not in output and "\x07" not in output
    assert "Harbour  ]0;owned council  [2J meets" in listing.output
    # JSON keeps the data as it is (escaped by the JSON encoder), for programs.
    as_json = runner.invoke(cli, ["--index", index, "sources", "--json"], catch_exceptions=False).output
    assert "\\u001b]0;owned" in as_json


def test_a_publishers_transcript_cannot_drive_the_terminal(server: _Server, tmp_path: Path) -> None:
    import pty
    import subprocess
    import sys

    from .conftest import ROOT

    srt = b"1\n00:00:00,000 --> 00:00:03,000\nHello \x1b]0;owned\x07harbour \x1b[2J\x9bfriends.\n"
    server.routes["/ep.srt"] = lambda handler: send(handler, 200, srt, {"Content-Type": "application/x-subrip"})
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel><title>Show</title>'
        '<item><title>Episode</title><guid>ep</guid><enclosure url="https://cdn.example/ep.mp3" type="audio/mpeg"/>'
        f'<podcast:transcript url="{server.url("/ep.srt")}" type="application/x-subrip"/></item></channel></rss>'
    )
    index = str(tmp_path / "index")
    runner = CliRunner()
    ingested = json.loads(runner.invoke(cli, ["--index", index, "ingest", "--json", str(feed)], catch_exceptions=False).output)
    audio_id = next(s["id"] for s in ingested["ingested"] if s["kind"] == "audio")
    controller, terminal = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INDEXER_CACHE": str(tmp_path / "cache")}
    subprocess.run(
        [sys.executable, "-m", "indexer", "--index", index, "transcript", audio_id],
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=env,
        check=True,
        timeout=120,
    )
    os.close(terminal)
    shown = os.read(controller, 65536).decode("utf-8", errors="replace")
    os.close(controller)
    assert "Hello" in shown and "harbour" in shown
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    # To a file, the text is written as it was published.
    saved = tmp_path / "transcript.txt"
    runner.invoke(cli, ["--index", index, "transcript", audio_id, "-o", str(saved)], catch_exceptions=False)
    assert "\x1b[2J" in saved.read_text()
