"""Fetching against a real HTTP server on 127.0.0.1: caching, redirects, errors, size caps, safety checks.

No traffic goes anywhere but 127.0.0.1: URLs on private ranges are only ever refused, and the tests
that use them also assert that nothing was sent.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest

from indexer.errors import FetchError, UnsafeURLError
from indexer.sources import fetch as fetch_module
from indexer.sources.fetch import Fetched, Fetcher, FetchOptions, check_discovered_url, is_url

AUDIO_BYTES = random.Random(0).randbytes(3_000_000)
PAGE_HTML = b"<html><body><p>Episode notes</p></body></html>"


class _Handler(BaseHTTPRequestHandler):
    """Serves the routes the tests need; ``self.server.site`` is the owning :class:`_Site`."""

    protocol_version = "HTTP/1.1"  # chunked responses need it
    timeout = 5  # an idle keep-alive connection cannot outlive the test by long

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        site: _Site = self.server.site  # type: ignore[attr-defined]
        site.record(self.path, dict(self.headers))
        try:
            self._route(site)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (size cap, time-out)

    def _send(self, status: int, body: bytes, headers: Optional[dict] = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, site: "_Site") -> None:
        path = self.path
        if path == "/page":
            self._send(200, PAGE_HTML, {"Content-Type": "text/html; charset=utf-8"})
        elif path == "/etag":
            if self.headers.get("If-None-Match") == site.etag:
                self._send(304, b"", {"ETag": site.etag})
            else:
                self._send(
                    200,
                    site.etag_body,
                    {"ETag": site.etag, "Content-Type": "text/html", "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"},
                )
        elif path == "/lastmod":
            last_modified = "Tue, 02 Jan 2024 00:00:00 GMT"
            if self.headers.get("If-Modified-Since") == last_modified:
                self._send(304, b"")
            else:
                self._send(200, b"dated", {"Last-Modified": last_modified})
        elif path == "/plain":
            self._send(200, b"no validators")
        elif path.startswith("/redirect/"):
            remaining = int(path.rsplit("/", 1)[1])
            if remaining == 0:
                self._send(200, b"arrived", {"Content-Type": "text/plain"})
            else:
                # Relative Location: the fetcher must resolve it against the current URL.
                self._send(302, b"", {"Location": f"/redirect/{remaining - 1}"})
        elif path == "/away":
            self._send(302, b"", {"Location": site.away_target})
        elif path == "/missing":
            self._send(404, b"not here")
        elif path == "/broken":
            self._send(500, b"oops")
        elif path == "/slow":
            site.stop.wait(5)  # released at teardown, so the server shuts down at once
            self._send(200, b"late")
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(b"x" * 5000)
        elif path == "/huge-declared":
            # Declares 25 MB but sends little: the fetcher must refuse on the header alone.
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", "25000000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"3e8\r\n" + b"y" * 1000 + b"\r\n")  # 0x3e8 = 1000 bytes
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/episode.mp3":
            self._send(200, AUDIO_BYTES, {"Content-Type": "audio/mpeg"})
        else:
            self._send(404, b"")


class _Site:
    """A ThreadingHTTPServer on 127.0.0.1 with a free port, and a log of the requests it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.etag = '"v1"'
        self.etag_body = b"version one"
        self.away_target = ""
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.site = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def record(self, path: str, headers: dict) -> None:
        with self._lock:
            self.requests.append((path, headers))

    def hits(self) -> Counter:
        with self._lock:
            return Counter(path for path, _ in self.requests)

    def headers_of(self, path: str) -> list[dict]:
        with self._lock:
            return [headers for p, headers in self.requests if p == path]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours proxy variables; requests to the test server must go straight to it.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def site() -> Iterator[_Site]:
    server = _Site()
    yield server
    server.close()


@pytest.fixture
def other_site() -> Iterator[_Site]:
    server = _Site()
    yield server
    server.close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def fetcher(cache_dir: Path) -> Iterator[Fetcher]:
    with Fetcher(cache_dir) as f:
        yield f


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record any request the client tries to send; the tests using this expect none."""
    sent: list = []

    def refuse_to_send(self: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        sent.append(str(request.url))
        raise AssertionError(f"a request was sent to {request.url}")

    monkeypatch.setattr(httpx.Client, "send", refuse_to_send)
    return sent


# ---------------------------------------------------------------- options, is_url


def test_options_defaults_and_dict() -> None:
    options = FetchOptions()
    assert (options.timeout, options.max_page_bytes, options.max_audio_bytes) == (30.0, 20_000_000, 4_000_000_000)
    assert options.max_redirects == 5 and options.allow_private is False
    assert options.user_agent.startswith("indexer/")
    with Fetcher(Path("unused"), {"timeout": 0.5, "max_redirects": 2}) as f:
        assert f.options == FetchOptions(timeout=0.5, max_redirects=2)
    with pytest.raises(TypeError):
        Fetcher(Path("unused"), {"no_such_option": 1})


def test_is_url() -> None:
    assert is_url("http://example.com/feed.xml")
    assert is_url("HTTPS://example.com")
    assert not is_url("/home/me/episode.mp3")
    assert not is_url("episode.mp3")
    assert not is_url("file:///etc/passwd")
    assert not is_url("ftp://example.com/x")
    assert not is_url("http://")
    assert not is_url("http://[::1")


# ---------------------------------------------------------------- fetching and caching


def test_page_fetched_to_cache_with_user_agent(site: _Site, fetcher: Fetcher, cache_dir: Path) -> None:
    fetched = fetcher.fetch(site.url("/page"))
    assert fetched == Fetched(url=site.url("/page"), path=fetched.path, content_type="text/html; charset=utf-8", from_cache=False)
    assert fetched.path.parent == cache_dir
    assert fetched.path.read_bytes() == PAGE_HTML
    assert site.headers_of("/page")[0]["User-Agent"].startswith("indexer/")


def test_etag_revalidation_served_from_cache(site: _Site, cache_dir: Path) -> None:
    with Fetcher(cache_dir) as fetcher:
        first = fetcher.fetch(site.url("/etag"))
        second = fetcher.fetch(site.url("/etag"))
    assert not first.from_cache
    assert second.from_cache
    assert second.path == first.path and second.path.read_bytes() == b"version one"
    assert second.content_type == "text/html"
    assert site.hits()["/etag"] == 2  # the second fetch asked the server, which said 304
    revalidation = site.headers_of("/etag")[1]
    assert revalidation["If-None-Match"] == '"v1"'
    assert revalidation["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"

    # The cache outlives the Fetcher, and a changed resource replaces the cached body.
    site.etag, site.etag_body = '"v2"', b"version two"
    with Fetcher(cache_dir) as fetcher:
        third = fetcher.fetch(site.url("/etag"))
        fourth = fetcher.fetch(site.url("/etag"))
    assert not third.from_cache and third.path.read_bytes() == b"version two"
    assert fourth.from_cache and fourth.path.read_bytes() == b"version two"
    assert site.hits()["/etag"] == 4


def test_last_modified_revalidation(site: _Site, fetcher: Fetcher) -> None:
    assert not fetcher.fetch(site.url("/lastmod")).from_cache
    again = fetcher.fetch(site.url("/lastmod"))
    assert again.from_cache and again.path.read_bytes() == b"dated"
    assert site.headers_of("/lastmod")[1]["If-Modified-Since"] == "Tue, 02 Jan 2024 00:00:00 GMT"
    assert "If-None-Match" not in site.headers_of("/lastmod")[1]


def test_no_validators_means_a_full_download_each_time(site: _Site, fetcher: Fetcher) -> None:
    fetcher.fetch(site.url("/plain"))
    again = fetcher.fetch(site.url("/plain"))
    assert not again.from_cache and again.path.read_bytes() == b"no validators"
    second_request = site.headers_of("/plain")[1]
    assert "If-None-Match" not in second_request and "If-Modified-Since" not in second_request


def test_audio_streamed_to_disk(site: _Site, fetcher: Fetcher, cache_dir: Path) -> None:
    progress: list[tuple[int, Optional[int]]] = []
    fetched = fetcher.fetch(
        site.url("/episode.mp3"), kind="audio", on_progress=lambda done, total: progress.append((done, total))
    )
    assert fetched.content_type == "audio/mpeg"
    assert fetched.path.suffix == ".mp3"
    assert fetched.path.read_bytes() == AUDIO_BYTES
    assert len(progress) > 2  # arrived in chunks, not in one read
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert progress[-1] == (len(AUDIO_BYTES), len(AUDIO_BYTES))
    assert {total for _, total in progress} == {len(AUDIO_BYTES)}
    assert not list(cache_dir.glob("*.part"))


# ---------------------------------------------------------------- redirects


def test_redirect_chain_within_the_cap(site: _Site, fetcher: Fetcher) -> None:
    fetched = fetcher.fetch(site.url("/redirect/5"))
    assert fetched.url == site.url("/redirect/0")
    assert fetched.path.read_bytes() == b"arrived"
    assert sum(n for path, n in site.hits().items() if path.startswith("/redirect/")) == 6


def test_too_many_redirects(site: _Site, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)") as caught:
        fetcher.fetch(site.url("/redirect/6"))
    assert str(caught.value).startswith(site.url("/redirect/6") + ":")
    assert "/redirect/0" not in site.hits()  # gave up after the sixth hop


def test_redirects_of_a_cached_url_are_revalidated_at_the_final_hop(site: _Site, fetcher: Fetcher) -> None:
    fetcher.fetch(site.url("/redirect/1"))
    again = fetcher.fetch(site.url("/redirect/1"))
    assert not again.from_cache  # /redirect/0 has no validators
    assert "If-None-Match" not in site.headers_of("/redirect/1")[1]


# ---------------------------------------------------------------- errors


def test_http_errors(site: _Site, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(site.url("/missing"))
    assert str(caught.value) == f"{site.url('/missing')}: HTTP 404 Not Found"
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(site.url("/broken"))
    assert str(caught.value) == f"{site.url('/broken')}: HTTP 500 Internal Server Error"


def test_error_after_redirect_names_both_urls(site: _Site, fetcher: Fetcher) -> None:
    site.away_target = "/missing"
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(site.url("/away"))
    assert str(caught.value) == f"{site.url('/missing')} (redirected from {site.url('/away')}): HTTP 404 Not Found"


def test_timeout(site: _Site, cache_dir: Path) -> None:
    started = time.monotonic()
    with Fetcher(cache_dir, {"timeout": 0.5}) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/slow"))
    assert str(caught.value) == f"{site.url('/slow')}: timed out after 0.5 s"
    assert time.monotonic() - started < 3


def test_connection_refused(fetcher: Fetcher) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.mp3"
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url, kind="audio")
    assert str(caught.value) == f"{url}: connection refused"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x.mp3", "ftp://example.com/x.mp3: unsupported URL scheme ftp: (only http and https are fetched)"),
        ("file:///etc/passwd", "file:///etc/passwd: unsupported URL scheme file: (only http and https are fetched)"),
        ("episode.mp3", "episode.mp3: not a valid http(s) URL"),
        ("http://[::1/x", "http://[::1/x: not a valid URL (Invalid IPv6 URL)"),
    ],
)
def test_bad_scheme(fetcher: Fetcher, no_connections: list, url: str, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    assert str(caught.value) == message
    assert no_connections == []


# ---------------------------------------------------------------- size caps


def test_declared_length_over_the_cap(site: _Site, cache_dir: Path) -> None:
    with Fetcher(cache_dir, {"max_page_bytes": 1000}) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/big-declared"))
    assert str(caught.value) == f"{site.url('/big-declared')}: larger than the 1 kB limit for pages"
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_default_page_cap_message(site: _Site, fetcher: Fetcher) -> None:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(site.url("/huge-declared"), kind="feed")
    assert str(caught.value) == f"{site.url('/huge-declared')}: larger than the 20 MB limit for feeds"


def test_chunked_body_over_the_cap_leaves_no_partial(site: _Site, cache_dir: Path) -> None:
    with Fetcher(cache_dir, {"max_page_bytes": 10_000}) as fetcher:
        fetcher.fetch(site.url("/page"))  # an unrelated cached entry must survive
        with pytest.raises(FetchError) as caught:
            fetcher.fetch(site.url("/big-chunked"), kind="transcript")
    assert str(caught.value) == f"{site.url('/big-chunked')}: larger than the 10 kB limit for transcripts"
    assert "Content-Length" not in site.headers_of("/big-chunked")[0]
    remaining = sorted(p.suffix for p in cache_dir.iterdir())
    assert remaining == [".json", ""] or remaining == ["", ".json"]  # only /page's body and metadata


def test_audio_cap(site: _Site, cache_dir: Path) -> None:
    with Fetcher(cache_dir, {"max_audio_bytes": 1_500_000}) as fetcher:
        with pytest.raises(FetchError, match=r"larger than the 1\.5 MB limit for audio files"):
            fetcher.fetch(site.url("/episode.mp3"), kind="audio")
        # The page cap does not apply to audio.
        assert fetcher.fetch(site.url("/page"), kind="audio").path.read_bytes() == PAGE_HTML


# ---------------------------------------------------------------- safety of discovered URLs


def test_discovered_url_on_the_same_host_is_allowed(site: _Site, fetcher: Fetcher) -> None:
    fetched = fetcher.fetch(site.url("/episode.mp3"), kind="audio", found_in=site.url("/feed"))
    assert fetched.path.read_bytes() == AUDIO_BYTES
    # Same-host redirects of a discovered URL are fine too.
    assert fetcher.fetch(site.url("/redirect/2"), found_in=site.url("/feed")).path.read_bytes() == b"arrived"


def test_discovered_url_on_another_loopback_port_is_refused(site: _Site, other_site: _Site, fetcher: Fetcher) -> None:
    with pytest.raises(UnsafeURLError) as caught:
        fetcher.fetch(other_site.url("/page"), found_in=site.url("/feed"))
    assert str(caught.value) == (
        f"refused {other_site.url('/page')} found in {site.url('/feed')}: loopback address 127.0.0.1 (use --allow-private)"
    )
    assert other_site.requests == []


def test_allow_private_lets_it_through(site: _Site, other_site: _Site, cache_dir: Path) -> None:
    with Fetcher(cache_dir, FetchOptions(allow_private=True)) as fetcher:
        fetched = fetcher.fetch(other_site.url("/page"), found_in=site.url("/feed"))
    assert fetched.path.read_bytes() == PAGE_HTML


def test_user_url_is_fetched_whatever_its_address(other_site: _Site, fetcher: Fetcher) -> None:
    assert fetcher.fetch(other_site.url("/page")).path.read_bytes() == PAGE_HTML


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/episode.mp3", "private address 10.0.0.5 (use --allow-private)"),
        ("http://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254 (use --allow-private)"),
        ("http://[::1]:8080/", "loopback address ::1 (use --allow-private)"),
        ("http://[::ffff:192.168.1.1]/", "private address 192.168.1.1 (use --allow-private)"),
        ("http://127.0.0.2/", "loopback address 127.0.0.2 (use --allow-private)"),
        ("http://0.0.0.0/", "unspecified address 0.0.0.0 (use --allow-private)"),
        ("http://224.0.0.1/", "multicast address 224.0.0.1 (use --allow-private)"),
        ("file:///etc/passwd", "file: URLs are not fetched"),
        ("gopher://example.com/", "gopher: URLs are not fetched"),
    ],
)
def test_unsafe_discovered_urls_refused_before_connecting(fetcher: Fetcher, no_connections: list, url: str, reason: str) -> None:
    feed = "http://podcast.example/feed.xml"
    with pytest.raises(UnsafeURLError) as caught:
        fetcher.fetch(url, kind="audio", found_in=feed)
    assert str(caught.value) == f"refused {url} found in {feed}: {reason}"
    assert no_connections == []


def test_hostname_is_resolved_before_connecting(fetcher: Fetcher, no_connections: list) -> None:
    # localhost may resolve to 127.0.0.1 or ::1 depending on the machine; both are loopback.
    with pytest.raises(UnsafeURLError, match=r"found in http://podcast\.example/feed\.xml: loopback address "):
        fetcher.fetch("http://localhost:9/a.mp3", found_in="http://podcast.example/feed.xml")
    assert no_connections == []


def test_file_url_refused_even_with_allow_private(cache_dir: Path, no_connections: list) -> None:
    with Fetcher(cache_dir, {"allow_private": True}) as fetcher:
        with pytest.raises(UnsafeURLError, match="file: URLs are not fetched"):
            fetcher.fetch("file:///etc/passwd", found_in="http://podcast.example/feed.xml")
    assert no_connections == []


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: object, *args: object, **kwargs: object) -> list:
        assert host == "cdn.example"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 80)),
        ]

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(UnsafeURLError, match=r"private address 10\.1\.2\.3"):
        check_discovered_url("http://cdn.example/a.mp3", "http://podcast.example/feed.xml")


def test_check_discovered_url_rules() -> None:
    # The user's own input and local files are not checked.
    assert check_discovered_url("http://10.0.0.5/a.mp3", None) is None
    assert check_discovered_url("http://10.0.0.5/a.mp3", "/home/me/notes.html") is None
    # Same hostname and port as the document: allowed, even on a private address.
    assert check_discovered_url("http://10.0.0.5/a.mp3", "http://10.0.0.5:80/feed") is None
    assert check_discovered_url("https://10.0.0.5/a.mp3", "https://10.0.0.5/feed") is None
    assert check_discovered_url("http://10.0.0.5/a.mp3", "http://10.0.0.5/feed", allow_private=True) is None
    with pytest.raises(UnsafeURLError):
        check_discovered_url("http://10.0.0.5:8080/a.mp3", "http://10.0.0.5/feed")
    with pytest.raises(UnsafeURLError):
        check_discovered_url("https://10.0.0.5/a.mp3", "http://10.0.0.5/feed")  # port 443, not 80
    # Public addresses pass (an IP literal needs no lookup).
    assert check_discovered_url("http://93.184.216.34/a.mp3", "http://podcast.example/feed") is None


def test_unknown_host_of_discovered_url(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> list:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_module.socket, "getaddrinfo", fail)
    with pytest.raises(FetchError) as caught:
        check_discovered_url("http://nowhere.invalid/a.mp3", "http://podcast.example/feed")
    assert str(caught.value) == "http://nowhere.invalid/a.mp3: unknown host nowhere.invalid"
    assert not isinstance(caught.value, UnsafeURLError)


def test_redirect_of_discovered_url_to_another_port_is_refused(site: _Site, other_site: _Site, fetcher: Fetcher) -> None:
    site.away_target = other_site.url("/page")
    with pytest.raises(UnsafeURLError) as caught:
        fetcher.fetch(site.url("/away"), found_in=site.url("/feed"))
    assert str(caught.value) == (
        f"refused {other_site.url('/page')} (redirected from {site.url('/away')}) found in {site.url('/feed')}: "
        "loopback address 127.0.0.1 (use --allow-private)"
    )
    assert site.hits()["/away"] == 1
    assert other_site.requests == []


def test_redirect_of_user_url_on_a_private_host_is_followed(site: _Site, other_site: _Site, fetcher: Fetcher) -> None:
    # The user pointed at their own machine; where it redirects within their network is theirs too.
    site.away_target = other_site.url("/page")
    fetched = fetcher.fetch(site.url("/away"))
    assert fetched.url == other_site.url("/page")
    assert fetched.path.read_bytes() == PAGE_HTML


def test_redirect_of_user_url_on_a_public_host_into_private_space_is_refused(
    site: _Site, other_site: _Site, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the safety check is told that "localhost" is public; the connection still goes to 127.0.0.1.
    real_resolve = fetch_module._resolve
    monkeypatch.setattr(
        fetch_module,
        "_resolve",
        lambda host, port, resolver=None: (
            [fetch_module.ipaddress.ip_address("93.184.216.34")] if host == "localhost" else real_resolve(host, port, resolver)
        ),
    )
    site.away_target = other_site.url("/page")
    user_url = f"http://localhost:{site.port}/away"
    with pytest.raises(UnsafeURLError) as caught:
        fetcher.fetch(user_url)
    assert str(caught.value) == (
        f"refused {other_site.url('/page')} (redirected from {user_url}): loopback address 127.0.0.1 (use --allow-private)"
    )
    assert site.hits()["/away"] == 1
    assert other_site.requests == []


def test_redirect_to_a_file_url_is_refused(site: _Site, fetcher: Fetcher) -> None:
    site.away_target = "file:///etc/passwd"
    with pytest.raises(UnsafeURLError, match=r"refused file:///etc/passwd \(redirected from "):
        fetcher.fetch(site.url("/away"))
