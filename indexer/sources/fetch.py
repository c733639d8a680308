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
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Literal, Optional, Union
from urllib.parse import urljoin, urlsplit

import httpx

from ..errors import FetchError, UnsafeURLError

__all__ = [
    "FetchKind",
    "FetchOptions",
    "Fetched",
    "Fetcher",
    "ProgressCallback",
    "check_discovered_url",
    "is_url",
]

logger = logging.getLogger("indexer")

FetchKind = Literal["page", "audio", "feed", "transcript"]

ProgressCallback = Callable[[int, Optional[int]], None]
"""Called as ``on_progress(bytes_done, bytes_total)`` while a body downloads; total is None when unknown."""

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

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
      timeout: Seconds to wait to connect, and between bytes once connected. Not a limit on the whole
        download: a 2 GB episode may take longer than any sensible total.
      max_page_bytes: Largest body accepted for pages, feeds and transcripts.
      max_audio_bytes: Largest body accepted for audio.
      max_redirects: Redirects followed before giving up.
      allow_private: Follow discovered URLs (and their redirects) to private addresses too.
      user_agent: Sent with every request.
    """

    timeout: float = 30.0
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
        raise UnsafeURLError(f"refused {url} found in {found_in}: {reason}")


def _host_and_port(url: str) -> tuple[str, int]:
    """Return the lower-cased hostname and the effective port of an http(s) URL (ValueError if invalid)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"no host in {url}")
    port = parts.port  # raises ValueError for a port out of range
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    return parts.hostname.lower().rstrip("."), port


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Return every address ``host`` resolves to (an IP literal is returned as is, without a lookup)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    addresses = []
    for _family, _type, _proto, _canonname, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        addresses.append(ipaddress.ip_address(sockaddr[0]))
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


def _refusal_reason(url: str, trusted: str, allow_private: bool) -> Optional[str]:
    """Return why ``url``, reached from the document or URL ``trusted``, must not be fetched; None if it may.

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
        addresses = _resolve(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"{url}: unknown host {host}") from exc
    for address in addresses:
        problem = _address_problem(address)
        if problem is not None:
            return f"{problem} (use --allow-private)"
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


def _body_suffix(url: str) -> str:
    """Return a short extension from the URL's path (``.mp3``), so tools that look at names see one."""
    suffix = PurePosixPath(urlsplit(url).path).suffix
    return suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""


class Fetcher:
    """Fetches URLs into ``cache_dir`` with one reused HTTP client; use as a context manager or call close().

    ``options`` is a :class:`FetchOptions`, a dict of its fields, or None for the defaults.
    """

    def __init__(
        self,
        cache_dir: Path,
        options: Union[FetchOptions, dict, None] = None,
    ) -> None:
        if options is None:
            options = FetchOptions()
        elif isinstance(options, dict):
            options = FetchOptions(**options)
        self.options: FetchOptions = options
        self.cache_dir = Path(cache_dir)
        # Redirects are followed by hand so every hop can be checked and counted.
        self._client = httpx.Client(
            timeout=httpx.Timeout(options.timeout),
            follow_redirects=False,
            headers={"User-Agent": options.user_agent},
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
        if found_in is not None:
            check_discovered_url(url, found_in, self.options.allow_private)
        if not is_url(url):
            scheme = url.split("://", 1)[0] if "://" in url else ""
            if scheme and scheme.lower() not in _FETCHABLE_SCHEMES:
                raise FetchError(f"{url}: unsupported URL scheme {scheme}: (only http and https are fetched)")
            raise FetchError(f"{url}: not a valid http(s) URL")

        cached = self._load_record(url)
        hop = url
        previous: Optional[str] = None
        user_origin_public: Optional[bool] = None  # resolved lazily, only if a user URL redirects
        for _ in range(self.options.max_redirects + 1):
            if previous is not None:
                user_origin_public = self._check_redirect(
                    hop, previous, url, found_in, user_origin_public
                )
            headers = {}
            if kind == "audio":
                # An encoded stream would make Content-Length useless for the up-front size check.
                headers["Accept-Encoding"] = "identity"
            validated = cached is not None and cached.final_url == hop
            if validated:
                # Validators describe the final resource, so they go only to the hop that served it.
                if cached.etag:
                    headers["If-None-Match"] = cached.etag
                if cached.last_modified:
                    headers["If-Modified-Since"] = cached.last_modified
            where = hop if hop == url else f"{hop} (redirected from {url})"
            try:
                request = self._client.build_request("GET", hop, headers=headers)
                logger.debug("GET %s", hop)
                response = self._client.send(request, stream=True)
            except httpx.InvalidURL as exc:
                raise FetchError(f"{where}: not a valid URL ({exc})") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"{where}: {_describe_transport_error(exc, self.options.timeout)}") from exc
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
                    logger.debug("%s redirects to %s", hop, next_hop)
                    previous, hop = hop, next_hop
                    continue
                if response.status_code == 304 and validated and cached is not None:
                    path = self.cache_dir / cached.body
                    logger.info("%s not modified; using the cached copy", hop)
                    if on_progress is not None:
                        size = path.stat().st_size
                        on_progress(size, size)
                    return Fetched(url=hop, path=path, content_type=cached.content_type, from_cache=True)
                if response.status_code >= 300:
                    raise FetchError(f"{where}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
                return self._download(response, url, hop, where, kind, cached, on_progress)
            except httpx.HTTPError as exc:
                raise FetchError(f"{where}: {_describe_transport_error(exc, self.options.timeout)}") from exc
            finally:
                response.close()
        raise FetchError(f"{url}: too many redirects (more than {self.options.max_redirects})")

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
            reason = _refusal_reason(hop, found_in, self.options.allow_private)
            if reason is not None:
                raise UnsafeURLError(f"refused {hop} (redirected from {previous}) found in {found_in}: {reason}")
            return user_origin_public
        if urlsplit(hop).scheme.lower() not in _FETCHABLE_SCHEMES:
            raise UnsafeURLError(f"refused {hop} (redirected from {previous}): only http and https are fetched")
        if self.options.allow_private:
            return user_origin_public
        if user_origin_public is None:
            try:
                host, port = _host_and_port(url)
                user_origin_public = all(_address_problem(a) is None for a in _resolve(host, port))
            except (ValueError, OSError, UnicodeError):
                user_origin_public = True  # we already connected to it; check its redirects
        if not user_origin_public:
            # The user pointed at their own network; where that server redirects is theirs too.
            return user_origin_public
        reason = _refusal_reason(hop, url, allow_private=False)
        if reason is not None:
            raise UnsafeURLError(f"refused {hop} (redirected from {previous}): {reason}")
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
        limit = self.options.max_audio_bytes if kind == "audio" else self.options.max_page_bytes
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
            raise FetchError(f"{url}: cannot write to the cache {self.cache_dir}: {exc.strerror or exc}") from exc
        part = Path(part_name)
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes(_CHUNK_BYTES):
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
                raise FetchError(f"{url}: cannot write to the cache {self.cache_dir}: {exc.strerror or exc}") from exc
            raise
        if on_progress is not None:
            on_progress(response.num_bytes_downloaded, total)
        logger.debug("fetched %s (%d bytes) to %s", final_url, written, body_path)
        return Fetched(url=final_url, path=body_path, content_type=record.content_type, from_cache=False)

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
