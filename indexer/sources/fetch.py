"""Fetching URLs for the ingest pipeline: streamed to disk, size-capped, cached, and checked for safety.

A URL the user typed is fetched whatever its address: pointing the indexer at a server on their own
network is their choice. A URL *discovered inside* a fetched document (an enclosure in a feed, an
``<audio src>`` in a page) was chosen by whoever wrote that document, so before any connection is made it
is refused if it resolves to a loopback, private, link-local, reserved, unspecified or multicast address,
or is not http(s) -- unless it is on the same host and port as the document, or ``allow_private`` is set.
This keeps a hostile feed from making the indexer read ``http://169.254.169.254/`` or an intranet page
and index the answer.

Links found in a *local* file are treated like user input (the file is the user's own), so the pipeline
passes ``found_in=None`` for them; a ``found_in`` that is not an http(s) URL is treated the same way.
A document fetched from the web may only lead to http(s) URLs (:func:`check_reference`): local paths
come from the command line and from local documents only.

The address that a check approved is the one connected to: the HTTP client's network backend
connects to the addresses resolved for the check instead of looking the name up again, so a DNS
answer that changes between the check and the connection (DNS rebinding) cannot reach a private
address. Every download also has a total deadline, so a server that drips a byte a second cannot
hold a fetch for ever.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import ipaddress
import json
import logging
import os
import re
import socket
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator, Literal, Optional, Union
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from ..errors import FetchError, UnsafeURLError

__all__ = [
    "FetchKind",
    "FetchOptions",
    "Fetched",
    "Fetcher",
    "ProgressCallback",
    "Resolver",
    "check_discovered_url",
    "check_reference",
    "is_url",
    "redact_url",
    "validate_url",
]

logger = logging.getLogger("indexer")

FetchKind = Literal["page", "audio", "feed", "transcript"]

ProgressCallback = Callable[[int, Optional[int]], None]
"""Called as ``on_progress(bytes_done, bytes_total)`` while a body downloads; total is None when unknown."""

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

Resolver = Callable[[str, int], list]
"""``resolve(host, port)`` returns the host's IP addresses (as strings or ``ipaddress`` objects)."""

_FETCHABLE_SCHEMES = ("http", "https")
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024
_KIND_PLURAL = {"page": "pages", "audio": "audio files", "feed": "feeds", "transcript": "transcripts"}
# NAT64 gateways translate this prefix to the embedded IPv4 address, so that address is what gets reached.
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


def _package_version() -> str:
    # Read from the installed metadata rather than ``indexer.__version__``: the package __init__ may
    # re-export this module, and importing it from here would be circular.
    try:
        return importlib.metadata.version("indexer")
    except importlib.metadata.PackageNotFoundError:
        return "0"


@dataclass
class FetchOptions:
    """How URLs are fetched.

    Attributes:
      timeout: Seconds to wait to connect, and between bytes once connected.
      min_bytes_per_second: The slowest average rate a download may have. The whole download must end
        within ``timeout`` plus its size (the declared Content-Length, else the cap for its kind)
        divided by this rate: 7 min for a page of unknown length at the defaults, 33 min for a
        100 MB episode.
      max_page_bytes: Largest body accepted for pages, feeds and transcripts, counted after decoding.
      max_audio_bytes: Largest body accepted for audio, counted after decoding.
      max_redirects: Redirects followed before giving up.
      allow_private: Follow discovered URLs (and their redirects) to private addresses too.
      user_agent: Sent with every request.
    """

    timeout: float = 30.0
    min_bytes_per_second: float = 50_000.0
    max_page_bytes: int = 20_000_000
    max_audio_bytes: int = 4_000_000_000
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = f"indexer/{_package_version()}"


@dataclass
class Fetched:
    """A fetched body on disk.

    ``url`` is the final URL after redirects; ``path`` is the file in the cache holding the body (it is
    replaced when the same URL is fetched again with a changed body); ``content_type`` is the
    Content-Type header as sent, or None; ``from_cache`` is True when the server answered 304 Not
    Modified and the cached copy was returned.
    """

    url: str
    path: Path
    content_type: Optional[str]
    from_cache: bool


@dataclass
class _CacheRecord:
    """What is kept beside a cached body so the next fetch can revalidate it."""

    url: str
    final_url: str
    body: str  # file name of the body, inside the cache dir
    etag: Optional[str] = None
    last_modified: Optional[str] = None
    content_type: Optional[str] = None


def is_url(text: str) -> bool:
    """Return True if ``text`` is an http(s) URL with a host, i.e. something :class:`Fetcher` can fetch.

    Anything else (a local path, ``file:`` or ``ftp:`` URLs) returns False and is left to the caller.
    """
    try:
        parts = urlsplit(text)
        return parts.scheme.lower() in _FETCHABLE_SCHEMES and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def redact_url(url: str) -> str:
    """``url`` without the user name and password in it (``http://alice:s3cr3t@host/`` -> ``http://host/``).

    Anything that is not a URL with credentials is returned unchanged. Used on every URL that is
    stored in the index or printed.
    """
    start = url.find("://")
    if start < 0 or "@" not in url:
        return url
    start += 3
    end = min([i for i in (url.find(c, start) for c in "/?#") if i >= 0], default=len(url))
    authority = url[start:end]
    if "@" not in authority:
        return url
    # Cut by hand rather than re-assembling with urlunsplit, which would also normalise the rest.
    return url[:start] + authority.rpartition("@")[2] + url[end:]


def validate_url(url: str) -> None:
    """Raise FetchError unless ``url`` is a well-formed http(s) URL with a host and a port in 1-65535."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError above 65535 or not a number
    except ValueError as exc:
        raise FetchError(f"{redact_url(url)}: not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _FETCHABLE_SCHEMES:
        if scheme:
            raise FetchError(f"{redact_url(url)}: unsupported URL scheme {scheme}: (only http and https are fetched)")
        raise FetchError(f"{redact_url(url)}: not a valid http(s) URL")
    if not parts.hostname:
        raise FetchError(f"{redact_url(url)}: not a valid URL (no host)")
    if port == 0:
        raise FetchError(f"{redact_url(url)}: not a valid URL (port 0)")
    if any(ord(c) < 0x21 or c == "\x7f" for c in parts.netloc):
        raise FetchError(f"{redact_url(url)!r}: not a valid URL (control character or space in the host)")


def check_reference(url: str, found_in: Optional[str]) -> None:
    """Refuse a non-http(s) ``url`` found in a document fetched from the web (``found_in`` an http(s) URL).

    A page on the web must not make the indexer open ``/etc/passwd`` or ``file:///...``: local paths
    come from the command line, or from local documents (``found_in`` None or a path).

    Raises:
      UnsafeURLError: the reference is a local path or a non-http(s) URL in a web document.
    """
    if found_in is None or not is_url(found_in) or is_url(url):
        return
    raise UnsafeURLError(
        f"refused {redact_url(url)} found in {redact_url(found_in)}: a document from the web may only link to http(s) URLs"
    )


def check_discovered_url(url: str, found_in: Optional[str], allow_private: bool = False) -> None:
    """Refuse ``url`` if it was found inside the fetched document ``found_in`` and points somewhere unsafe.

    Returns None when the URL may be fetched. ``found_in=None`` (the user gave the URL) and a
    ``found_in`` that is not an http(s) URL (a local file, which is the user's own) are never checked.
    Otherwise the URL must be http(s), and unless it is on the same hostname and port as ``found_in``
    or ``allow_private`` is set, every address its host resolves to must be public. The host is
    resolved here, before any connection is made.

    Raises:
      UnsafeURLError: the URL is refused; the message names the URL, the document and the address.
      FetchError: the host cannot be resolved.
    """
    if found_in is None or not is_url(found_in):
        return
    reason = _refusal_reason(url, found_in, allow_private)
    if reason is not None:
        raise UnsafeURLError(f"refused {redact_url(url)} found in {redact_url(found_in)}: {reason}")


def _host_and_port(url: str) -> tuple[str, int]:
    """Return the lower-cased hostname and the effective port of an http(s) URL (ValueError if invalid)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url}")
    port = parts.port  # raises ValueError for a port out of range
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    return parts.hostname.lower().rstrip("."), port


def _system_resolve(host: str, port: int) -> list[IPAddress]:
    addresses = []
    for _family, _type, _proto, _canonname, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        addresses.append(ipaddress.ip_address(sockaddr[0]))
    return addresses


def _resolve(host: str, port: int, resolver: Optional[Resolver] = None) -> list[IPAddress]:
    """Return every address ``host`` resolves to, for a safety check."""
    return _lookup(host, port, resolver)


def _lookup(host: str, port: int, resolver: Optional[Resolver] = None) -> list[IPAddress]:
    """Return every address ``host`` resolves to (an IP literal is returned as is, without a lookup)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    found = (resolver or _system_resolve)(host, port)
    addresses = [ipaddress.ip_address(str(a).split("%", 1)[0]) for a in found]
    if not addresses:
        raise socket.gaierror(f"no address for {host}")
    return addresses


def _address_problem(address: IPAddress) -> Optional[str]:
    """Return e.g. ``"private address 10.0.0.5"`` if connecting to ``address`` would leave the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.5 and 64:ff9b::a00:5 reach the embedded IPv4 address.
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64_PREFIX:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # Most specific first: 127.0.0.1 is also "private" and 169.254.x also "private" to ipaddress.
    for label, flagged in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),  # e.g. 100.64.0.0/10, carrier-grade NAT
    ):
        if flagged:
            return f"{label} address {address}"
    return None


def _refusal_reason(
    url: str,
    trusted: str,
    allow_private: bool,
    resolver: Optional[Resolver] = None,
    pins: Optional[dict] = None,
) -> Optional[str]:
    """Return why ``url``, reached from the document or URL ``trusted``, must not be fetched; None if it may.

    When the host's addresses were looked up and approved, they are stored in ``pins`` under
    ``(host, port)`` so the connection goes to them and not to a second lookup's answer.
    Raises FetchError if the host cannot be resolved.
    """
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _FETCHABLE_SCHEMES:
            return f"{scheme}: URLs are not fetched" if scheme else "not an http(s) URL"
        host, port = _host_and_port(url)
    except ValueError:
        return "not a valid URL"
    try:
        if (host, port) == _host_and_port(trusted):
            return None
    except ValueError:
        pass
    if allow_private:
        return None
    try:
        addresses = _resolve(host, port, resolver)
    except (OSError, UnicodeError, ValueError) as exc:
        raise FetchError(f"{redact_url(url)}: unknown host {host}") from exc
    for address in addresses:
        problem = _address_problem(address)
        if problem is not None:
            return f"{problem} (use --allow-private)"
    if pins is not None:
        pins[(host, port)] = addresses
    return None


def _format_size(n_bytes: int) -> str:
    """Return a byte count for messages: ``20 MB``, ``4 GB``, ``1.5 kB``, ``900 bytes`` (decimal units)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes} bytes"


def _describe_transport_error(exc: Exception, timeout: float) -> str:
    """Return the cause of a failed request as a few words: ``connection refused``, ``timed out after 2 s``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    # httpx wraps httpcore's error, which wraps the OSError; the errno says what happened.
    seen: Optional[BaseException] = exc
    for _ in range(10):  # the chain is short; bounded in case of a cycle
        if seen is None:
            break
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(seen, OSError) and seen.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "host unreachable" if seen.errno == errno.EHOSTUNREACH else "network unreachable"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"bad response from the server ({exc})"
    return str(exc) or type(exc).__name__


def _content_length(response: httpx.Response) -> Optional[int]:
    """Return the declared Content-Length, or None if absent or malformed."""
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _encoding(response: httpx.Response) -> str:
    return (response.headers.get("content-encoding") or "identity").strip().lower()


def _decoded(response: httpx.Response, where: str) -> Iterator[bytes]:
    """The body in blocks of at most _CHUNK_BYTES, gzip or deflate decoded here.

    httpx decodes each network read whole: 64 kB of a gzip bomb comes out as 64 MB at once. Here
    no block is larger than _CHUNK_BYTES, so a size cap stops a bomb before memory grows.
    """
    encoding = _encoding(response)
    if encoding == "identity":
        yield from response.iter_raw(_CHUNK_BYTES)
        return
    if encoding in ("gzip", "x-gzip"):
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decompressor = None  # zlib-wrapped or raw: told apart by the first bytes
    else:
        raise FetchError(f"{where}: unsupported Content-Encoding {encoding!r}")
    try:
        for raw in response.iter_raw(_CHUNK_BYTES):
            if decompressor is None:
                # RFC 9110 deflate is zlib-wrapped; some servers send raw deflate.
                wrapped = len(raw) >= 2 and raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0
                decompressor = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            block = decompressor.decompress(raw, _CHUNK_BYTES)
            while block:
                yield block
                block = decompressor.decompress(decompressor.unconsumed_tail, _CHUNK_BYTES)
    except zlib.error as exc:
        raise FetchError(f"{where}: the {encoding} body is corrupt ({exc})") from exc


def _body_suffix(url: str) -> str:
    """Return a short extension from the URL's path (``.mp3``), so tools that look at names see one."""
    suffix = PurePosixPath(urlsplit(url).path).suffix
    return suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""


class _DeadlineExceeded(httpcore.ReadTimeout):
    """The download's total deadline passed (a subclass of the read time-out httpx maps to its own)."""


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the owning backend's current deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: "_PinnedBackend") -> None:
        self._inner = inner
        self._backend = backend

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        remaining = self._backend.deadline - time.monotonic()
        if remaining <= 0:
            raise _DeadlineExceeded("the download's deadline passed")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: Optional[float] = None) -> bytes:
        return self._inner.read(max_bytes, self._timeout(timeout))

    def write(self, buffer: bytes, timeout: Optional[float] = None) -> None:
        self._inner.write(buffer, self._timeout(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: Optional[str] = None, timeout: Optional[float] = None):
        # The certificate is checked against the URL's host name, whatever address was connected to.
        inner = self._inner.start_tls(ssl_context, server_hostname, self._timeout(timeout))
        return _DeadlineStream(inner, self._backend)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """httpcore's network backend that connects to checked addresses and enforces a deadline.

    ``pins`` maps ``(host, port)`` to the addresses a safety check approved; such a host is
    connected to at those addresses, not looked up again. Other hosts (the user's own URLs) are
    resolved once here. ``deadline`` (``time.monotonic()`` seconds) bounds every read and write.
    """

    def __init__(self, resolver: Optional[Resolver]) -> None:
        self._resolver = resolver
        self._system = httpcore.SyncBackend()
        self.pins: dict[tuple[str, int], list[IPAddress]] = {}
        self.deadline = float("inf")

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: Optional[float] = None,
        local_address: Optional[str] = None,
        socket_options: Optional[Iterable] = None,
    ) -> httpcore.NetworkStream:
        key = (host.lower().rstrip("."), port)
        addresses = self.pins.get(key)
        if addresses is None:
            try:
                addresses = _lookup(key[0], port, self._resolver)
            except (OSError, UnicodeError, ValueError) as exc:
                raise httpcore.ConnectError(f"unknown host {host}") from exc
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ConnectTimeout("the download's deadline passed")
        timeout = remaining if timeout is None else min(timeout, remaining)
        error: Optional[Exception] = None
        for address in addresses:
            try:
                stream = self._system.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self)
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: Optional[float] = None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self._system.sleep(seconds)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport with its connection pool on a :class:`_PinnedBackend`."""

    def __init__(self, backend: _PinnedBackend) -> None:
        super().__init__()
        # httpx does not take a network backend; its pool is rebuilt with the same TLS context.
        ssl_context = self._pool._ssl_context
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)


def _remove_stale_parts(cache_dir: Path, older_than: float = 24 * 3600) -> None:
    """Delete ``*.part`` files a killed process left behind (an active download touches its file)."""
    cutoff = time.time() - older_than
    try:
        for part in cache_dir.glob("*.part"):
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
    except OSError:
        pass


class Fetcher:
    """Fetches URLs into ``cache_dir`` with one reused HTTP client; use as a context manager or call close().

    ``options`` is a :class:`FetchOptions`, a dict of its fields, or None for the defaults. ``resolver``
    replaces the system's name lookup (``socket.getaddrinfo``) for both the safety checks and the
    connections.
    """

    def __init__(
        self,
        cache_dir: Path,
        options: Union[FetchOptions, dict, None] = None,
        *,
        resolver: Optional[Resolver] = None,
    ) -> None:
        if options is None:
            options = FetchOptions()
        elif isinstance(options, dict):
            options = FetchOptions(**options)
        self.options: FetchOptions = options
        self.cache_dir = Path(cache_dir)
        self._resolver = resolver
        self._backend = _PinnedBackend(resolver)
        _remove_stale_parts(self.cache_dir)
        # Redirects are followed by hand so every hop can be checked and counted.
        self._client = httpx.Client(
            timeout=httpx.Timeout(options.timeout),
            follow_redirects=False,
            headers={"User-Agent": options.user_agent},
            transport=_PinnedTransport(self._backend),
        )

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self._client.close()

    def cached(self, url: str) -> Optional[Path]:
        """The body of ``url`` from an earlier fetch, found without any request, or None."""
        record = self._load_record(url)
        return self.cache_dir / record.body if record else None

    def fetch(
        self,
        url: str,
        *,
        kind: FetchKind = "page",
        found_in: Optional[str] = None,
        on_progress: Optional[ProgressCallback] = None,
    ) -> Fetched:
        """Fetch ``url`` to a file in the cache and return a :class:`Fetched` naming that file.

        ``kind`` picks the size cap (audio uses ``max_audio_bytes``, the rest ``max_page_bytes``).
        ``found_in`` is the URL of the fetched document the URL was discovered in, or None when the user
        gave it; discovered URLs and each of their redirect hops pass :func:`check_discovered_url`.
        Redirects of a user's URL are checked the same way when that URL's own host is public, so a
        public server cannot bounce the indexer into the private network. A cached copy is revalidated
        with If-None-Match / If-Modified-Since and returned on 304. ``on_progress`` is called as the
        body streams in.

        Raises:
          UnsafeURLError: the URL or a redirect hop was refused (nothing was sent to it).
          FetchError: bad scheme, unreachable host, time-out, HTTP error, too many redirects, too large.
        """
        self._backend.pins = {}
        if found_in is not None and is_url(found_in):
            reason = _refusal_reason(url, found_in, self.options.allow_private, self._resolver, self._backend.pins)
            if reason is not None:
                raise UnsafeURLError(f"refused {redact_url(url)} found in {redact_url(found_in)}: {reason}")
        validate_url(url)
        started = time.monotonic()
        self._backend.deadline = started + self._allowed_seconds(kind, None)

        cached = self._load_record(url)
        hop = url
        previous: Optional[str] = None
        user_origin_public: Optional[bool] = None  # resolved lazily, only if a user URL redirects
        for _ in range(self.options.max_redirects + 1):
            if previous is not None:
                user_origin_public = self._check_redirect(hop, previous, url, found_in, user_origin_public)
            # An encoded audio stream would make Content-Length useless for the up-front size check;
            # other bodies are decoded here, a bounded block at a time, so only these two are asked for.
            headers = {"Accept-Encoding": "identity" if kind == "audio" else "gzip, deflate"}
            validated = cached is not None and cached.final_url == hop
            if validated and cached is not None:  # validated implies cached; the check is for mypy
                # Validators describe the final resource, so they go only to the hop that served it.
                if cached.etag:
                    headers["If-None-Match"] = cached.etag
                if cached.last_modified:
                    headers["If-Modified-Since"] = cached.last_modified
            where = redact_url(hop) if hop == url else f"{redact_url(hop)} (redirected from {redact_url(url)})"
            try:
                validate_url(hop)
                request = self._client.build_request("GET", hop, headers=headers)
                logger.debug("GET %s", redact_url(hop))
                response = self._client.send(request, stream=True)
            except httpx.InvalidURL as exc:
                raise FetchError(f"{where}: not a valid URL ({exc})") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{where}: {self._describe_failure(exc, kind, started)}") from exc
            try:
                if response.status_code in _REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"{where}: HTTP {response.status_code} redirect without a Location")
                    try:
                        # urljoin rather than httpx.URL.join, which rewrites file:///x as file:/x and
                        # would make refusal messages name a URL the server never sent.
                        next_hop = urljoin(hop, location.strip())
                    except ValueError as exc:
                        raise FetchError(f"{where}: redirect to an invalid URL {location!r}") from exc
                    logger.debug("%s redirects to %s", redact_url(hop), redact_url(next_hop))
                    previous, hop = hop, next_hop
                    continue
                if response.status_code == 304 and validated and cached is not None:
                    path = self.cache_dir / cached.body
                    logger.info("%s not modified; using the cached copy", redact_url(hop))
                    if on_progress is not None:
                        size = path.stat().st_size
                        on_progress(size, size)
                    return Fetched(url=redact_url(hop), path=path, content_type=cached.content_type, from_cache=True)
                if response.status_code >= 300:
                    raise FetchError(f"{where}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
                declared = _content_length(response)
                if declared is not None and _encoding(response) == "identity":
                    self._backend.deadline = started + self._allowed_seconds(kind, declared)
                return self._download(response, url, hop, where, kind, cached, on_progress)
            except httpx.HTTPError as exc:
                raise FetchError(f"{where}: {self._describe_failure(exc, kind, started)}") from exc
            finally:
                response.close()
        raise FetchError(f"{redact_url(url)}: too many redirects (more than {self.options.max_redirects})")

    def _limit(self, kind: FetchKind) -> int:
        return self.options.max_audio_bytes if kind == "audio" else self.options.max_page_bytes

    def _allowed_seconds(self, kind: FetchKind, declared: Optional[int]) -> float:
        """The whole download's time budget: the time-out plus its size at the slowest accepted rate."""
        size = min(declared, self._limit(kind)) if declared is not None else self._limit(kind)
        return self.options.timeout + size / self.options.min_bytes_per_second

    def _describe_failure(self, exc: Exception, kind: FetchKind, started: float) -> str:
        if isinstance(exc, httpx.TimeoutException) and time.monotonic() >= self._backend.deadline - 0.05:
            elapsed = time.monotonic() - started
            return (
                f"too slow: stopped after {elapsed:.0f} s, the time allowed at "
                f"{_format_size(int(self.options.min_bytes_per_second))}/s (FetchOptions.min_bytes_per_second)"
            )
        return _describe_transport_error(exc, self.options.timeout)

    def _check_redirect(
        self,
        hop: str,
        previous: str,
        url: str,
        found_in: Optional[str],
        user_origin_public: Optional[bool],
    ) -> Optional[bool]:
        """Refuse a redirect hop that may not be followed; return whether the user's URL is on a public host.

        The return value is the (possibly newly computed) ``user_origin_public``, cached by the caller so
        the user's host is resolved at most once per fetch. A URL found in a local file (``found_in`` not
        an http(s) URL) is treated like the user's own.
        """
        if found_in is not None and is_url(found_in):
            reason = _refusal_reason(hop, found_in, self.options.allow_private, self._resolver, self._backend.pins)
            if reason is not None:
                raise UnsafeURLError(
                    f"refused {redact_url(hop)} (redirected from {redact_url(previous)}) found in {redact_url(found_in)}: {reason}"
                )
            return user_origin_public
        if urlsplit(hop).scheme.lower() not in _FETCHABLE_SCHEMES:
            raise UnsafeURLError(
                f"refused {redact_url(hop)} (redirected from {redact_url(previous)}): only http and https are fetched"
            )
        if self.options.allow_private:
            return user_origin_public
        if user_origin_public is None:
            try:
                host, port = _host_and_port(url)
                user_origin_public = all(_address_problem(a) is None for a in _resolve(host, port, self._resolver))
            except (ValueError, OSError, UnicodeError):
                user_origin_public = True  # we already connected to it; check its redirects
        if not user_origin_public:
            # The user pointed at their own network; where that server redirects is theirs too.
            return user_origin_public
        reason = _refusal_reason(hop, url, False, self._resolver, self._backend.pins)
        if reason is not None:
            raise UnsafeURLError(f"refused {redact_url(hop)} (redirected from {redact_url(previous)}): {reason}")
        return user_origin_public

    def _download(
        self,
        response: httpx.Response,
        url: str,
        final_url: str,
        where: str,
        kind: FetchKind,
        cached: Optional[_CacheRecord],
        on_progress: Optional[ProgressCallback],
    ) -> Fetched:
        """Stream a 200 response into the cache under ``url``'s key and return the :class:`Fetched` record."""
        limit = self._limit(kind)
        too_large = f"{where}: larger than the {_format_size(limit)} limit for {_KIND_PLURAL[kind]}"
        declared = _content_length(response)
        if declared is not None and declared > limit:
            raise FetchError(too_large)
        # Progress counts bytes on the wire, which is what Content-Length declares; the cap counts
        # decoded bytes, which is what lands on disk (so a small gzip bomb is still stopped).
        total = declared if not response.headers.get("content-encoding") else None

        key = self._key(url)
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, part_name = tempfile.mkstemp(dir=self.cache_dir, prefix=f"{key}.", suffix=".part")
        except OSError as exc:
            raise FetchError(f"{redact_url(url)}: cannot write to the cache {self.cache_dir}: {exc.strerror or exc}") from exc
        part = Path(part_name)
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in _decoded(response, where):
                    written += len(chunk)
                    if written > limit:
                        raise FetchError(too_large)
                    out.write(chunk)
                    if on_progress is not None:
                        on_progress(response.num_bytes_downloaded, total)
            record = _CacheRecord(
                url=url,
                final_url=final_url,
                body=key + _body_suffix(final_url),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                content_type=response.headers.get("content-type"),
            )
            body_path = self.cache_dir / record.body
            # Drop the old metadata first: a crash after the body is replaced must not leave validators
            # that describe the previous body.
            self._meta_path(key).unlink(missing_ok=True)
            if cached is not None and cached.body != record.body:
                (self.cache_dir / cached.body).unlink(missing_ok=True)
            os.replace(part, body_path)
            self._save_record(key, record)
        except BaseException as exc:
            part.unlink(missing_ok=True)
            if isinstance(exc, OSError):  # disk full, cache dir removed under us
                raise FetchError(f"{redact_url(url)}: cannot write to the cache {self.cache_dir}: {exc.strerror or exc}") from exc
            raise
        if on_progress is not None:
            on_progress(response.num_bytes_downloaded, total)
        logger.debug("fetched %s (%d bytes) to %s", redact_url(final_url), written, body_path)
        return Fetched(url=redact_url(final_url), path=body_path, content_type=record.content_type, from_cache=False)

    @staticmethod
    def _key(url: str) -> str:
        return hashlib.sha256(url.encode("utf-8")).hexdigest()

    def _meta_path(self, key: str) -> Path:
        return self.cache_dir / f"{key}.json"

    def _load_record(self, url: str) -> Optional[_CacheRecord]:
        """Return the cache record for ``url`` if it and its body are present and readable, else None."""
        meta = self._meta_path(self._key(url))
        try:
            record = _CacheRecord(**json.loads(meta.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            logger.debug("ignoring unreadable cache entry %s: %s", meta, exc)
            return None
        if record.url != url or not (self.cache_dir / record.body).is_file():
            return None
        return record

    def _save_record(self, key: str, record: _CacheRecord) -> None:
        meta = self._meta_path(key)
        fd, part_name = tempfile.mkstemp(dir=self.cache_dir, prefix=f"{key}.", suffix=".json.part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(asdict(record), out)
            os.replace(part_name, meta)
        except BaseException:
            Path(part_name).unlink(missing_ok=True)
            raise
