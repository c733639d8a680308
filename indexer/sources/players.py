"""Embedded players (YouTube, Vimeo, SoundCloud, Libsyn, Omny, Acast, a site's own player page ...) and streams.

:func:`identify` tells, offline, whether a URL is a player that yt-dlp knows (its site extractors match
player URLs of well over a thousand sites) and which recording it plays. :func:`resolve` asks yt-dlp, used
as a library, for the media URL behind a player; every request yt-dlp makes goes through the indexer's
own :class:`~indexer.sources.fetch.Fetcher` (GET only, same size caps and private-address policy), and
yt-dlp downloads nothing itself. :func:`download_hls` reads an HLS playlist the same way, segment by
segment, into one local file that FFmpeg decodes; :func:`download_fragments` does the same for a DASH
representation, whose manifest yt-dlp reads (so FFmpeg needs no DASH demuxer: the init segment and
the media segments in order make one fragmented MP4 or WebM file).
"""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urljoin, urlsplit

from ..errors import FetchError, SourceError
from .fetch import is_url

if TYPE_CHECKING:
    from .fetch import Fetcher

logger = logging.getLogger("indexer")

__all__ = ["Player", "ResolvedMedia", "download_fragments", "download_hls", "identify", "resolve"]

# Extractors that match a player URL but play no single recording the indexer can read.
_PLAYLIST_EXTRACTORS = ("Playlist", "Channel", "Tab", "Album", "Set", "User", "Show", "Series")
_DRM_EXTRACTORS = {"KnownDRM", "KnownPiracy"}

# Podcast players yt-dlp has no site extractor for: their pages carry the episode as HTML5 media,
# JSON-LD or Open Graph, which yt-dlp's generic extractor reads.
_GENERIC_PLAYER_HOSTS = (
    "embed.podcasts.apple.com",
    "player.simplecast.com",
    "share.transistor.fm",
    "player.megaphone.fm",
    "playlist.megaphone.fm",
    "www.buzzsprout.com",
    "embed.acast.com",
    "player.captivate.fm",
    "player.fireside.fm",
    "www.podbean.com",
    "anchor.fm",
    "podcasters.spotify.com",
)


@dataclass(frozen=True)
class Player:
    """A player URL as yt-dlp sees it: ``extractor`` is its site extractor's name (``"Generic"`` for a
    page yt-dlp reads by its markup), ``id`` the recording it plays when the URL tells it."""

    extractor: str
    id: Optional[str]
    playlist: bool = False
    drm: bool = False

    @property
    def key(self) -> str:
        """Names the recording: the same video in a youtube.com and a youtube-nocookie.com iframe is one."""
        return f"{self.extractor}:{self.id}" if self.id else ""


@dataclass
class ResolvedMedia:
    """What a player plays: ``url`` of the media, ``type`` ``"audio"``, ``"video"``, ``"hls"`` or ``"dash"``.

    For DASH, ``fragments`` are the representation's segment URLs in order (the init segment first)
    and ``extension`` the container's (``"m4a"``, ``"mp4"``, ``"webm"``).
    """

    url: str
    type: str
    title: Optional[str] = None
    duration: Optional[float] = None
    fragments: tuple[str, ...] = ()
    extension: Optional[str] = None


@lru_cache(maxsize=1)
def _extractors() -> tuple:
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(ie for ie in gen_extractor_classes() if ie.ie_key() != "Generic")


def identify(url: str, *, same_site_as: Optional[str] = None) -> Optional[Player]:
    """The player ``url`` is, or None when it is no player (an ad frame, a comment widget, a map).

    ``same_site_as`` is the page's URL: an iframe on the page's own site whose path names a player
    (``/audio123-player.html``) is the site's own player page, read by the generic extractor.
    """
    if not is_url(url):
        return None
    parts = urlsplit(url)
    for extractor in _extractors():
        try:
            if not extractor.suitable(url):
                continue
            key = extractor.ie_key()
            video_id = extractor.get_temp_id(url)
        except Exception:  # an extractor's URL pattern must never break discovery
            continue
        return Player(
            extractor=key,
            id=str(video_id) if video_id else None,
            playlist=any(word in key for word in _PLAYLIST_EXTRACTORS),
            drm=key in _DRM_EXTRACTORS,
        )
    host = (parts.hostname or "").lower()
    if host in _GENERIC_PLAYER_HOSTS:
        return Player(extractor="Generic", id=f"{host}{parts.path}")
    if same_site_as and _site(host) == _site(urlsplit(same_site_as).hostname or ""):
        path = parts.path.lower()
        if any(word in path for word in ("player", "embed")) and any(word in path for word in ("audio", "video", "podcast")):
            return Player(extractor="Generic", id=f"{host}{parts.path}")
    return None


def _site(host: str) -> str:
    return ".".join(host.lower().split(".")[-2:])


def resolve(url: str, fetcher: "Fetcher", *, found_in: Optional[str]) -> ResolvedMedia:
    """Ask yt-dlp what the player (or DASH manifest) at ``url`` plays, fetching every request with ``fetcher``.

    Picks an audio-only format when there is one, then a direct (progressive) file, then HLS, then DASH.
    ``found_in`` is the page the player was found in (None for the user's own file): the player's
    requests are checked against it like any URL discovered in that page.

    Raises:
      SourceError: a live stream, a playlist, DRM, or a player yt-dlp cannot read (its message).
    """
    from yt_dlp import YoutubeDL
    from yt_dlp.utils import DownloadError

    params = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "skip_download": True,
        "cachedir": False,
        "socket_timeout": fetcher.options.timeout,
        "logger": _YtdlpLogger(),
    }
    with YoutubeDL(params) as ydl:
        # Every request goes through the indexer's fetcher: replace yt-dlp's own handlers.
        ydl.__dict__["_request_director"] = ydl.build_request_director([_fetcher_handler(fetcher, found_in)])
        try:
            info = ydl.extract_info(url, download=False, process=False)
        except DownloadError as e:
            raise SourceError(f"{url}: the player could not be read ({_short(e)})") from None
    if info is None:
        raise SourceError(f"{url}: the player could not be read")
    if info.get("_type") in ("playlist", "multi_video"):
        entries = [entry for entry in info.get("entries") or [] if entry]
        if len(entries) != 1:
            raise SourceError(f"{url}: a playlist of {len(entries)} recordings, not one; skipped")
        info = entries[0]
    if info.get("_type") in ("url", "url_transparent") and info.get("url") and info["url"] != url:
        # The page embeds another player (a YouTube iframe inside a site's player page): follow it once.
        return resolve(info["url"], fetcher, found_in=found_in)
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        raise SourceError(f"{url}: a live stream, not a recording; skipped")
    chosen = _best_format(info)
    if chosen is None:
        raise SourceError(f"{url}: the player offers no audio the indexer can read")
    fmt, protocol, kind = chosen
    if protocol == "http_dash_segments":
        fragments = tuple(
            fragment.get("url") or urljoin(fmt.get("fragment_base_url") or fmt["url"], fragment["path"])
            for fragment in fmt.get("fragments") or []
        )
        if not fragments:
            raise SourceError(f"{url}: the DASH manifest lists no segments")
        return ResolvedMedia(
            url=fmt["url"],
            type="dash",
            title=info.get("title"),
            duration=info.get("duration"),
            fragments=fragments,
            extension=fmt.get("ext"),
        )
    return ResolvedMedia(
        url=fmt["url"],
        type="hls" if "m3u8" in protocol else kind,
        title=info.get("title"),
        duration=info.get("duration"),
    )


# Protocols the indexer downloads, best first: a file, an HLS playlist, a DASH representation's segments.
_PROTOCOL_RANK = {"http": 0, "https": 0, "m3u8": 1, "m3u8_native": 1, "http_dash_segments": 2}


def _best_format(info: dict) -> Optional[tuple[dict, str, str]]:
    """(format, protocol, "audio" | "video") to download: audio only first, direct before HLS before DASH."""
    formats = [f for f in info.get("formats") or [] if f.get("url")]
    if not formats and info.get("url"):
        formats = [info]
    candidates = []
    for fmt in formats:
        protocol = fmt.get("protocol") or _protocol_of(fmt["url"], fmt.get("ext"))
        if protocol not in _PROTOCOL_RANK:
            continue  # RTMP, f4m, ISM: not read
        if fmt.get("acodec") == "none":
            continue  # video without sound
        if fmt.get("has_drm"):
            continue  # encrypted (DASH ContentProtection)
        audio_only = fmt.get("vcodec") == "none" or (fmt.get("ext") in ("mp3", "m4a", "aac", "ogg", "opus", "oga", "wav", "flac"))
        # Speech needs little: among equals, the smallest file downloads fastest.
        size = fmt.get("filesize") or fmt.get("filesize_approx") or fmt.get("tbr") or 0
        candidates.append(((not audio_only, _PROTOCOL_RANK[protocol], size), fmt, protocol, "audio" if audio_only else "video"))
    if not candidates:
        return None
    _rank, fmt, protocol, kind = min(candidates, key=lambda candidate: candidate[0])
    return fmt, protocol, kind


def _protocol_of(url: str, ext: Optional[str]) -> str:
    path = urlsplit(url).path.lower()
    if path.endswith(".m3u8") or ext == "m3u8":
        return "m3u8"
    if path.endswith(".mpd"):
        return "http_dash_segments"
    return urlsplit(url).scheme


def download_hls(url: str, fetcher: "Fetcher", *, found_in: Optional[str], dest_dir: Path) -> Path:
    """Read an HLS playlist into one local file: its init segment and media segments in order.

    A master playlist's audio rendition is taken when it has one, else its lightest variant. Every
    playlist and segment is fetched with ``fetcher`` (checked against ``found_in``); the file is capped
    like any audio download.

    Raises:
      SourceError: a live playlist (no end), an encrypted one, or one without segments.
      FetchError: a playlist or segment could not be fetched, or the whole is over the audio cap.
    """
    playlist_url, text = _fetch_text(url, fetcher, found_in)
    if "#EXT-X-STREAM-INF" in text:
        variant = _pick_variant(text, playlist_url)
        if variant is None:
            raise SourceError(f"{url}: HLS master playlist names no variant")
        playlist_url, text = _fetch_text(variant, fetcher, found_in)
    if "#EXT-X-ENDLIST" not in text and "#EXT-X-PLAYLIST-TYPE:VOD" not in text:
        raise SourceError(f"{url}: a live HLS stream, not a recording; skipped")
    segments: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-KEY") and "METHOD=NONE" not in line:
            raise SourceError(f"{url}: encrypted HLS, which the indexer does not read")
        if line.startswith("#EXT-X-MAP"):
            uri = _attribute(line, "URI")
            if uri and not segments:
                segments.append(urljoin(playlist_url, uri))
        elif line and not line.startswith("#"):
            segments.append(urljoin(playlist_url, line))
    if not segments:
        raise SourceError(f"{url}: HLS playlist without segments")
    path = _concatenate(segments, fetcher, found_in=found_in or url, dest_dir=dest_dir, suffix=".ts", what=f"{url}: HLS stream")
    logger.debug("%s: %d HLS segment(s) read", url, len(segments))
    return path


def download_fragments(media: ResolvedMedia, fetcher: "Fetcher", *, found_in: Optional[str], dest_dir: Path) -> Path:
    """Read a DASH representation (:func:`resolve` of its manifest) into one local file: its segments in order.

    Every segment is fetched with ``fetcher`` (checked against ``found_in``); the file is capped like
    any audio download.

    Raises:
      FetchError: a segment could not be fetched, or the whole is over the audio cap.
    """
    suffix = f".{media.extension}" if media.extension and media.extension.isalnum() else ".mp4"
    path = _concatenate(
        list(media.fragments),
        fetcher,
        found_in=found_in or media.url,
        dest_dir=dest_dir,
        suffix=suffix,
        what=f"{media.url}: DASH stream",
    )
    logger.debug("%s: %d DASH segment(s) read", media.url, len(media.fragments))
    return path


def _concatenate(segments: list[str], fetcher: "Fetcher", *, found_in: str, dest_dir: Path, suffix: str, what: str) -> Path:
    """The segments fetched one by one into one new file in ``dest_dir``, under the audio cap."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    cap = fetcher.options.max_audio_bytes
    total = 0
    with tempfile.NamedTemporaryFile(dir=dest_dir, suffix=suffix, delete=False) as out:
        try:
            for segment in segments:
                fetched = fetcher.fetch(segment, kind="audio", found_in=found_in)
                with open(fetched.path, "rb") as part:
                    shutil.copyfileobj(part, out)
                total += fetched.path.stat().st_size
                if total > cap:
                    raise FetchError(f"{what} larger than the audio limit ({cap} bytes)")
        except BaseException:
            out.close()
            Path(out.name).unlink(missing_ok=True)
            raise
    return Path(out.name)


def _fetch_text(url: str, fetcher: "Fetcher", found_in: Optional[str]) -> tuple[str, str]:
    fetched = fetcher.fetch(url, kind="page", found_in=found_in)
    return fetched.url, fetched.path.read_bytes().decode("utf-8", errors="replace")


def _pick_variant(text: str, base: str) -> Optional[str]:
    """An audio rendition's URI, else the lowest-bandwidth variant stream's."""
    variants: list[tuple[int, str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA") and "TYPE=AUDIO" in line and _attribute(line, "URI"):
            return urljoin(base, _attribute(line, "URI") or "")
        if line.startswith("#EXT-X-STREAM-INF"):
            bandwidth = int(_attribute(line, "BANDWIDTH") or 0)
            following = next(
                (next_line.strip() for next_line in lines[i + 1 :] if next_line.strip() and not next_line.startswith("#")), None
            )
            if following:
                variants.append((bandwidth, urljoin(base, following)))
    return min(variants)[1] if variants else None


def _attribute(line: str, name: str) -> Optional[str]:
    _tag, _, attributes = line.partition(":")
    for part in _split_attributes(attributes):
        key, _, value = part.partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def _split_attributes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for character in text:
        if character == '"':
            quoted = not quoted
        if character == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def _fetcher_handler(fetcher: "Fetcher", found_in: Optional[str]) -> type:
    """A yt-dlp request handler class that sends GET requests through ``fetcher``."""
    from yt_dlp.networking.common import RequestHandler, Response
    from yt_dlp.networking.exceptions import HTTPError, TransportError, UnsupportedRequest

    class IndexerFetcherRH(RequestHandler):
        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = None
        _SUPPORTED_FEATURES = None

        def _check_extensions(self, extensions: dict) -> None:
            for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing", "impersonate"):
                extensions.pop(name, None)

        def _send(self, request: Any) -> Any:
            if (request.method or "GET").upper() != "GET" or request.data is not None:
                raise UnsupportedRequest(f"the indexer fetches players with GET only, not {request.method}")
            try:
                fetched = fetcher.fetch(request.url, kind="page", found_in=found_in)
            except FetchError as e:
                status = _status_of(str(e))
                if status:
                    raise HTTPError(Response(io.BytesIO(b""), request.url, {}, status=status)) from e
                raise TransportError(cause=e) from e
            headers = {"Content-Type": fetched.content_type} if fetched.content_type else {}
            return Response(io.BytesIO(fetched.path.read_bytes()), fetched.url, headers, status=200)

    return IndexerFetcherRH


def _status_of(message: str) -> Optional[int]:
    marker = ": HTTP "
    if marker not in message:
        return None
    code = message.rsplit(marker, 1)[1][:3]
    return int(code) if code.isdigit() else None


class _YtdlpLogger:
    """yt-dlp's messages go to the indexer's log at debug level; its errors come back as exceptions."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def info(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def warning(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)


def _short(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text.removeprefix("ERROR: ")
