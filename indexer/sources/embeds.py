"""Audio that a page embeds: players, links, enclosures, Open Graph and JSON-LD, with W3C media fragments.

Discovery only reads the document: nothing is fetched. Each find is an :class:`~indexer.models.AudioRef`
whose ``url`` is absolute (a URL, or an absolute local path when the page itself is a local file) and
carries no fragment; a ``#t=start,end`` fragment becomes the ref's ``segment``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Tuple, Union
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import lxml.etree
import lxml.html

from ..audio import AUDIO_EXTENSIONS, TimeRange
from ..errors import SourceError
from ..models import AudioRef
from .fetch import is_url
from .text import collapse_whitespace as _clean

logger = logging.getLogger("indexer")

__all__ = ["AUDIO_EXTENSIONS", "find_embedded_audio", "looks_like_html", "parse_media_fragment"]

# Extensions of files that carry an audio track. mp4/webm/mkv/3gp are containers that are often
# video, but podcast hosts serve audio in them too and ffmpeg reads the audio either way.

# Schemes that never point at a downloadable file.
_IGNORED_SCHEMES = ("javascript:", "data:", "blob:", "mailto:", "tel:", "about:")

_SCHEMA_MEDIA_TYPES = {"AudioObject", "VideoObject", "PodcastEpisode", "RadioEpisode", "PodcastClip", "Clip", "MusicRecording"}
# Where an episode or article nests its media objects. ("encoding" is left out on purpose: it
# lists other encodings of the same recording.)
_SCHEMA_MEDIA_KEYS = ("associatedMedia", "audio", "video")
# Extensions that are audio only; the rest of AUDIO_EXTENSIONS are containers that often hold video.
_AUDIO_ONLY_EXTENSIONS = frozenset("mp3 m4a m4b aac ogg oga opus spx wav wave flac weba mka wma aif aiff aifc amr caf".split())
# File names of the silent placeholders and interface sounds players load before the real file.
_PLACEHOLDER_NAMES = frozenset("blank silence silent empty click beep ding notification".split())

# First elements of an HTML document or of a page fragment saved without <html>.
_HTML_ROOTS = frozenset("html head body meta title link div p article main section header nav script style".split())


def parse_media_fragment(url: str) -> Tuple[str, Optional[TimeRange]]:
    """Split a W3C media fragment (``#t=...``) off a URL.

    Returns ``(url_without_fragment, segment)`` where ``segment`` is ``(start, end)`` in seconds,
    ``end`` being None for "to the end of the file", or None when the URL names no time range.
    Accepted forms: ``t=300,420``, ``t=npt:300,420``, ``t=5:00,7:00``, ``t=0:05:00``, ``t=300``
    (start only) and ``t=,420`` (start 0). Fragments without a ``t`` dimension (``#chapter2``) are
    dropped without a segment.

    Raises:
      SourceError: the ``t`` dimension is present but malformed, uses an unsupported time format
        (SMPTE, wall clock), or ends before it starts.
    """
    # Split by hand: urldefrag parses the whole URL and raises on "//]#" or an unclosed "[".
    bare, _, fragment = url.partition("#")
    if not fragment:
        return bare, None
    value: Optional[str] = None
    # Media fragments are name=value pairs joined by "&"; the last valid "t" wins (spec 5.1.1).
    for pair in fragment.split("&"):
        name, sep, raw = pair.partition("=")
        if sep and unquote(name).strip() == "t":
            value = unquote(raw).strip()
    if value is None:
        return bare, None
    return bare, _parse_time_range(value, url)


def _parse_time_range(value: str, url: str) -> TimeRange:
    if value.startswith("npt:"):
        value = value[4:]
    else:
        prefix, colon, _rest = value.partition(":")
        if colon and any(character.isalpha() for character in prefix):
            # "smpte:", "smpte-25:", "clock:" ...: valid media fragments we do not map onto seconds.
            raise SourceError(f"{url}: unsupported media fragment time format {prefix!r}")
    start_text, comma, end_text = value.partition(",")
    if not start_text and not end_text:
        raise SourceError(f"{url}: empty media fragment time range")
    start = _parse_npt(start_text, url) if start_text else 0.0
    end = _parse_npt(end_text, url) if end_text else None
    if end is not None and end <= start:
        raise SourceError(f"{url}: media fragment ends at {end:g}s, not after its start {start:g}s")
    return start, end


def _parse_npt(text: str, url: str) -> float:
    """Seconds from an NPT time: ``300``, ``300.5``, ``5:00``, ``0:05:00.25``."""
    parts = text.strip().split(":")
    if len(parts) > 3 or any(not part for part in parts):
        raise SourceError(f"{url}: malformed media fragment time {text!r}")
    # Hours and minutes are whole numbers; only the seconds field may have a fraction.
    if any(not part.isdigit() for part in parts[:-1]) or not parts[-1].replace(".", "", 1).isdigit():
        raise SourceError(f"{url}: malformed media fragment time {text!r}")
    numbers = [float(part) for part in parts]
    if len(numbers) > 1 and (numbers[-1] >= 60 or (len(numbers) == 3 and numbers[1] >= 60)):
        raise SourceError(f"{url}: media fragment time {text!r} has minutes or seconds over 59")
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def looks_like_html(data: bytes) -> bool:
    """True when the bytes look like an HTML (or XHTML) document rather than a feed, audio or text."""
    head = _sniff_text(data)
    if not head.startswith("<"):
        return False
    doctype, first_tag = _prolog(head.lower())
    if doctype.startswith("html"):
        return True
    # A feed is XML too, and its show notes may hold "<p>": the root element decides.
    if first_tag in ("rss", "feed", "rdf:rdf"):
        return False
    return first_tag in _HTML_ROOTS


def _prolog(head: str) -> Tuple[str, str]:
    """The doctype's text and the first element's name, skipping XML declarations and comments."""
    doctype = ""
    position = 0
    while (start := head.find("<", position)) >= 0:
        if head.startswith("<?", start):
            end, skip = head.find("?>", start), 2
        elif head.startswith("<!--", start):
            end, skip = head.find("-->", start), 3
        elif head.startswith("<!", start):
            end, skip = head.find(">", start), 1
            doctype = head[start + 2 : end if end >= 0 else None].removeprefix("doctype").strip()
        else:
            name = head[start + 1 :].split(None, 1)[0] if head[start + 1 :].strip() else ""
            return doctype, name.split(">", 1)[0].split("/", 1)[0]
        if end < 0:
            break
        position = end + skip
    return doctype, ""


def _sniff_text(data: bytes, size: int = 2048) -> str:
    """The start of a document as text, for sniffing: BOM and leading whitespace removed."""
    chunk = data[:size]
    if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = chunk.decode("utf-16", errors="ignore")
    else:
        # latin-1 never fails and keeps the ASCII markup we look for intact.
        text = chunk.decode("latin-1")
    return text.lstrip("\ufeff\xef\xbb\xbf \t\r\n")


def find_embedded_audio(
    html: Union[str, bytes, "lxml.html.HtmlElement"],
    base: str,
    *,
    paragraphs: Optional[list[str]] = None,
    title: Optional[str] = None,
) -> list[AudioRef]:
    """Find the page's own audio and video: media files, HLS playlists and player pages.

    Finders, each named in the ref's ``found_by``:

    - ``og:audio``/``og:video`` (and their ``:secure_url``), ``json-ld`` and ``microdata`` media objects
      (``AudioObject``, ``VideoObject``, ``PodcastEpisode`` ...; Open Graph and microdata read with
      extruct), ``twitter:player:stream``:
      what the page declares as its media;
    - ``html5``: ``<audio>``/``<video>``; of their ``<source>`` alternatives a direct audio file is taken
      first, then MP4 or another file, an HLS playlist when it is all there is;
    - ``iframe``: player pages that yt-dlp knows (YouTube, Vimeo, SoundCloud, Libsyn ...), resolved to
      media when ingested (``type="player"``);
    - ``data-attribute``: a play button's ``data-*`` attribute naming a media file;
    - ``link``: ``<a href>`` to a media file, ``<link rel="enclosure">``;
    - ``json-state``: a media URL in the page's script state, taken only when nothing else is found and
      when the object holding it names the page;
    - ``twitter:player``: a player card, only when nothing else is found.

    One recording found several ways (og:audio, the player and the download link; its MP3 and OGG
    encodings; a YouTube and a youtube-nocookie iframe) is one ref. Live streams, muted autoplay
    previews and placeholder sounds are skipped (logged). Given the article's ``paragraphs`` (and
    ``title``), players and links outside the article (a sidebar, "related" episodes, a site-wide
    radio) are skipped unless they carry the article's title.

    ``base`` is the page's URL or local path; relative references resolve against it (or against
    the page's ``<base href>``). In a local page, root-relative references (``/audio/x.mp3``)
    resolve against the page's canonical URL when it states one, since they name files on its site.

    Returns the refs, page metadata first, then in document order; a malformed ``#t=`` fragment
    keeps the whole file and logs a warning.
    """
    tree = html if isinstance(html, lxml.html.HtmlElement) else _parse_html(html)
    if tree is None:
        return []
    document_base = base
    for element in tree.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            try:
                resolved_base = _resolve_base(href, base)
            except SourceError as e:
                logger.warning("%s: ignoring its <base href>: %s", base, e)
                break
            # A page from the web may only lead to the web: <base href="file:///"> would turn its
            # links into local paths.
            if is_url(base) and not is_url(resolved_base):
                logger.warning("%s: ignoring <base href=%r>, which is not a web address", base, href)
                break
            document_base = resolved_base
            break
    # A page saved to disk keeps root-relative links ("/audio/x.mp3") to files the browser did not
    # save (it rewrites the ones it saves to "page_files/..."): those live on the page's site.
    site = None if is_url(document_base) else _canonical_url(tree)
    page_url = document_base if is_url(document_base) else site

    def make(reference: str, **fields) -> Optional[_Find]:
        root_relative = reference.strip().startswith("/") and not reference.strip().startswith("//")
        return _make_find(reference, site if site and root_relative else document_base, **fields)

    finds = [find for find in _all_finds(tree, make, page_url) if find is not None]
    region = _article_core(tree, paragraphs) if paragraphs else None
    kept = _select(finds, region, title, page_url, after=_article_end(tree, region, title))
    live = [find.url for find in finds if find.type == "live"]
    if live and not kept:
        logger.warning("%s: its only media is a live stream (%s), not a recording: nothing to transcribe", base, live[0])
    refs = [
        AudioRef(url=find.url, segment=find.segment, title=find.title, type=find.type, found_by=find.found_by) for find in kept
    ]
    logger.debug("found %d embedded media reference(s) in %s", len(refs), base)
    return refs


def _canonical_url(tree: "lxml.html.HtmlElement") -> Optional[str]:
    """The page's own web address, from ``<link rel="canonical">`` or ``og:url``."""
    for element in tree.iter("link", "meta"):
        if element.tag == "link" and "canonical" in (element.get("rel") or "").lower().split():
            url = (element.get("href") or "").strip()
        elif element.tag == "meta" and (element.get("property") or element.get("name") or "").lower() == "og:url":
            url = (element.get("content") or "").strip()
        else:
            continue
        if is_url(url):
            return url
    return None


def _parse_html(html: Union[str, bytes]) -> Optional["lxml.html.HtmlElement"]:
    if isinstance(html, bytes):
        html = html.strip()
    elif isinstance(html, str):
        # lxml refuses str input that carries an XML encoding declaration.
        html = html.strip()
        if html.startswith("<?xml"):
            html = html.encode("utf-8")
    if not html:
        return None
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as e:
        logger.debug("cannot parse HTML for embedded audio: %s", e)
        return None


@dataclass
class _Find:
    url: str
    segment: Optional[TimeRange]
    type: str  # audio | video | hls | dash | player | live
    found_by: str
    tier: int  # 0 the page's declared media, 1 players in the page, 2 links, 3 fallbacks
    title: Optional[str] = None
    element: Optional[object] = None
    position: int = 0
    keys: frozenset = frozenset()
    skip: Optional[str] = None  # why it is not the page's media
    context: str = ""  # for script state: the text around the URL


def _make_find(
    reference: str,
    base: str,
    *,
    found_by: str,
    tier: int,
    title: Optional[str] = None,
    element=None,
    media_type: Optional[str] = None,
) -> Optional[_Find]:
    reference = reference.strip()
    if not reference or reference.lower().startswith(_IGNORED_SCHEMES) or reference.startswith("#"):
        return None
    if any(character in reference for character in "'\"<> \n") or "+ " in reference:
        # Script that builds a URL ("...?cache-buster=' + Math.random()"), copied into the markup.
        logger.info("skipping %s in %s: script, not a URL", reference[:80], found_by)
        return None
    try:
        resolved = resolve_reference(reference, base)
    except SourceError as e:
        logger.warning("%s; skipping it", e)
        return None
    try:
        url, segment = parse_media_fragment(resolved)
    except SourceError as e:
        logger.warning("%s; indexing the whole file", e)
        url, segment = urldefrag(resolved)[0], None
    kind = _media_kind(url, media_type)
    if kind is None:
        return None
    find = _Find(url=url, segment=segment, type=kind, found_by=found_by, tier=tier, title=_clean(title), element=element)
    find.keys = _recording_keys(find)
    return find


def _media_kind(url: str, media_type: Optional[str]) -> Optional[str]:
    """audio, video, hls, dash or player from a declared MIME type, else from the URL's extension."""
    mime = (media_type or "").split(";")[0].strip().lower()
    extension = _extension(url)
    if "mpegurl" in mime or extension in ("m3u8",):
        return "hls"
    if "dash" in mime or extension == "mpd":
        return "dash"
    if mime in ("text/html", "application/x-shockwave-flash"):
        return "player"
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("video/"):
        return "video"
    if extension in _AUDIO_ONLY_EXTENSIONS:
        return "audio"
    if extension in AUDIO_EXTENSIONS:
        return "video"
    if extension in ("m3u", "pls"):
        return "live"  # radio playlists point at endless streams
    return None if mime or extension else "audio"  # an extensionless URL ("/play?id=5") may be audio


def _extension(url: str) -> str:
    try:
        path = urlsplit(url).path if "://" in url else url
    except ValueError:  # "http://[..." is no URL; the caller's resolving says so
        path = url
    return os.path.splitext(unquote(path))[1].lower().lstrip(".")


def _recording_keys(find: _Find) -> frozenset:
    """Names under which two finds are one recording: the URL without scheme (and, for a file, without
    its query), and a distinctive file name without extensions (``ep11.mp3`` = ``ep11.ogg``)."""
    parts = urlsplit(find.url)
    segment = f"#{find.segment}" if find.segment else ""
    if find.type == "player":
        return frozenset({f"{parts.netloc}{parts.path}?{parts.query}{segment}"})
    keys = {f"{parts.netloc.removeprefix('www.')}{parts.path}{'' if _extension(find.url) else '?' + parts.query}{segment}"}
    stem = os.path.basename(unquote(parts.path)).split(".")[0].lower()
    if any(c.isdigit() for c in stem) and len(stem) >= 4 or len(stem) >= 12:
        keys.add(f"file:{stem}{segment}")
    return frozenset(keys)


def _all_finds(tree, make, page_url: Optional[str]) -> Iterator[Optional[_Find]]:
    yield from _metadata_finds(tree, make, page_url)
    position = 0
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        position += 1
        tag = tag.lower()
        found: list[Optional[_Find]] = []
        if tag in ("audio", "video"):
            found.append(_html5_find(element, make))
        elif tag in ("iframe", "embed"):
            found.append(_iframe_find(element, make, page_url))
        elif tag == "a":
            href = _first_attr(element, "href")
            media_type = (element.get("type") or "").lower()
            if href and (
                _extension(href) in AUDIO_EXTENSIONS
                or _extension(href) in ("m3u8", "m3u", "pls")
                or media_type.startswith("audio/")
            ):
                found.append(
                    make(
                        href,
                        found_by="link",
                        tier=2,
                        title=element.get("title") or element.text_content(),
                        element=element,
                        media_type=media_type or None,
                    )
                )
        elif tag == "link" and "enclosure" in (element.get("rel") or "").lower().split() and _first_attr(element, "href"):
            found.append(
                make(
                    _first_attr(element, "href") or "",
                    found_by="enclosure",
                    tier=0,
                    title=element.get("title"),
                    media_type=element.get("type"),
                )
            )
        elif tag == "script" and (element.get("type") or "").strip().lower() not in ("application/ld+json", "text/template"):
            found.extend(_json_state_finds(element, make))
        if tag not in ("audio", "video", "source", "iframe", "embed", "a", "link", "meta", "script"):
            found.extend(_data_attribute_finds(element, make))
        for find in found:
            if find is not None:
                find.position = position
                yield find


def _metadata_finds(tree, make, page_url: Optional[str]) -> Iterator[Optional[_Find]]:
    """Open Graph, JSON-LD and microdata (extruct), and Twitter cards: the media the page declares."""
    from extruct import MicrodataExtractor, OpenGraphExtractor

    try:
        graphs = OpenGraphExtractor().extract_items(tree)
        properties = [pair for graph in graphs for pair in graph.get("properties", [])]
    except Exception as e:  # noqa: BLE001 - metadata is a bonus; a page must still be read without it
        logger.debug("cannot read Open Graph: %s", e)
        properties = []
    # og:audio / og:video is followed by its :type, :secure_url ... until the next og:audio / og:video.
    current: Optional[dict] = None
    declared: list[dict] = []
    for name, value in properties:
        name = name.lower()
        for medium in ("audio", "video"):
            if name in (f"og:{medium}", f"og:{medium}:url"):
                if current is not None and current["medium"] == medium and not current.get("url"):
                    current["url"] = value
                else:
                    current = {"medium": medium, "url": value}
                    declared.append(current)
            elif name.startswith(f"og:{medium}:") and current is not None and current["medium"] == medium:
                current[name.split(":", 2)[2]] = value
            elif name.startswith(f"og:{medium}:secure_url") and current is None:
                current = {"medium": medium, "url": value}
                declared.append(current)
    for item in declared:
        url = item.get("secure_url") or item.get("url")
        if url:
            yield make(
                url,
                found_by=f"og:{item['medium']}",
                tier=0,
                media_type=item.get("type") or (None if _extension(url) else f"{item['medium']}/"),
            )

    items: list = []
    # Block by block: extruct gives up on the whole page at the first malformed block.
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() == "application/ld+json":
            try:
                items.append(json.loads(script.text or "", strict=False))
            except ValueError as e:
                logger.debug("ignoring a malformed JSON-LD block: %s", e)
    for data in items:
        yield from _schema_finds(data, make, "json-ld", media=False, parent_title=None)
    try:
        microdata = MicrodataExtractor().extract_items(tree, base_url=page_url)
    except Exception as e:  # noqa: BLE001
        logger.debug("ignoring malformed microdata: %s", e)
        microdata = []
    for item in microdata:
        yield from _schema_finds(_from_microdata(item), make, "microdata", media=False, parent_title=None)

    cards: dict[str, str] = {}
    for element in tree.iter("meta"):
        name = (element.get("name") or element.get("property") or "").strip().lower()
        if name.startswith("twitter:player"):
            cards.setdefault(name, (element.get("content") or "").strip())
    if cards.get("twitter:player:stream"):
        yield make(
            cards["twitter:player:stream"],
            found_by="twitter:player:stream",
            tier=0,
            media_type=cards.get("twitter:player:stream:content_type"),
        )
    if cards.get("twitter:player"):
        yield make(cards["twitter:player"], found_by="twitter:player", tier=3, media_type="text/html")


def _from_microdata(item):
    """A microdata item as extruct gives it (``type``, ``properties``) in JSON-LD's shape."""
    if isinstance(item, list):
        return [_from_microdata(value) for value in item]
    if not isinstance(item, dict):
        return item
    if "properties" not in item:
        return item
    types = item.get("type") or []
    types = [types] if isinstance(types, str) else types
    converted = {"@type": [str(t).rstrip("/").rsplit("/", 1)[-1] for t in types]}
    for key, value in (item.get("properties") or {}).items():
        converted[key] = _from_microdata(value)
    return converted


def _schema_finds(node, make, found_by: str, *, media: bool, parent_title: Optional[str]) -> Iterator[Optional[_Find]]:
    """Walk schema.org data; ``media`` is True under an episode's ``associatedMedia``/``audio``/``video``,
    where objects often omit ``@type`` and a bare string is the file's URL."""
    if isinstance(node, list):
        for item in node:
            yield from _schema_finds(item, make, found_by, media=media, parent_title=parent_title)
        return
    if isinstance(node, str):
        if media:
            yield make(node, found_by=found_by, tier=0, title=parent_title)
        return
    if not isinstance(node, dict):
        return
    types = node.get("@type") or []
    types = {types} if isinstance(types, str) else {t for t in types if isinstance(t, str)}
    name = node.get("name") or node.get("headline")
    title = _clean(name) if isinstance(name, str) else None
    is_media = bool(types & _SCHEMA_MEDIA_TYPES) or (media and not types - {"MediaObject", "AudioObject", "VideoObject"})
    if is_media:
        if node.get("isLiveBroadcast") in (True, "true", "True") or "BroadcastEvent" in types:
            logger.info("skipping a live broadcast declared in the page's %s", found_by)
            return
        kind = "video/" if "VideoObject" in types else None
        encoding = node.get("encodingFormat") if isinstance(node.get("encodingFormat"), str) else None
        same: list[Optional[_Find]] = []
        for url in _as_list(node.get("contentUrl")):
            if isinstance(url, str):
                declared = encoding if encoding and "/" in encoding else (None if _extension(url) else kind)
                same.append(make(url, found_by=found_by, tier=0, title=title or parent_title, media_type=declared))
        for key in ("embedUrl", "embedURL"):
            for url in _as_list(node.get(key)):
                if isinstance(url, str):
                    same.append(make(url, found_by=found_by, tier=0, title=title or parent_title, media_type="text/html"))
        # The file and the player of one media object are one recording.
        keys = frozenset().union(*(find.keys for find in same if find is not None)) if same else frozenset()
        for find in same:
            if find is not None:
                find.keys = keys
                yield find
    for key, value in node.items():
        if key in _SCHEMA_MEDIA_KEYS:
            yield from _schema_finds(value, make, found_by, media=True, parent_title=title or parent_title)
        elif isinstance(value, (dict, list)) and key not in ("contentUrl", "embedUrl", "embedURL", "encoding"):
            yield from _schema_finds(value, make, found_by, media=False, parent_title=parent_title)


def _html5_find(element, make) -> Optional[_Find]:
    title = element.get("title") or element.get("aria-label")
    if element.get("muted") is not None and element.get("autoplay") is not None and element.get("controls") is None:
        logger.debug("skipping a muted autoplay %s (a preview or a background)", element.tag)
        return None
    # <source> children are alternatives: the best one stands for the recording, the others are
    # kept as its names so the same file found elsewhere on the page is not taken twice.
    alternatives = []
    src = _first_attr(element, "src", "data-src")
    if src:
        alternatives.append(make(src, found_by="html5", tier=1, title=title, element=element))
    for source in element.iter("source"):
        src = _first_attr(source, "src", "data-src")
        if src:
            alternatives.append(make(src, found_by="html5", tier=1, title=title, element=element, media_type=source.get("type")))
    alternatives = [find for find in alternatives if find is not None]
    if not alternatives:
        return None
    best = min(alternatives, key=_preference)
    best.keys = frozenset().union(*(find.keys for find in alternatives))
    return best


def _iframe_find(element, make, page_url: Optional[str]) -> Optional[_Find]:
    from .players import identify

    src = _first_attr(element, "src", "data-src", "data-lazy-src")
    if not src:
        return None
    find = make(src, found_by="iframe", tier=1, title=element.get("title"), element=element, media_type="text/html")
    if find is None or not is_url(find.url):
        return None
    player = identify(find.url, same_site_as=page_url)
    if player is None:
        return None
    if player.playlist:
        find.skip = f"a playlist or channel ({player.extractor}), not one recording"
    elif player.drm:
        find.skip = "a DRM-protected player"
    if player.key:
        find.keys = frozenset({player.key})
    return find


def _data_attribute_finds(element, make) -> Iterator[Optional[_Find]]:
    """Play buttons that carry their file in a ``data-*`` attribute (``data-sound-href``, ``data-asset-source``)."""
    # A live player lists its stream in several forms (data-url-live-mp3, data-url-ts-mp3 ...): all live.
    live_player = any(name.startswith("data-") and "live" in name for name in element.attrib)
    for name, value in element.attrib.items():
        if not name.startswith("data-") or not value or len(value) > 2000 or "{" in value:
            continue
        extension = _extension(value.strip().split("?")[0])
        if extension not in AUDIO_EXTENSIONS and extension not in ("m3u8", "m3u", "pls"):
            continue
        find = make(value, found_by="data-attribute", tier=1, title=_data_title(element), element=element)
        if find is None:
            continue
        if live_player:
            find.type = "live"
        elif "preview" in name:
            find.skip = "a preview clip"
        yield find


def _data_title(element) -> Optional[str]:
    for name, value in element.attrib.items():
        if name.startswith("data-") and name.endswith("title") and value.strip():
            return value
    return element.get("title") or element.get("aria-label")


_JSON_MEDIA_URL = re.compile(
    r"""https?:(?:\\?/){2}[^"'\s<>\\]*(?:\\/[^"'\s<>\\]*)*?\.(?:mp3|m4a|aac|ogg|opus|mp4|m3u8)(?=[?"'\\])"""
)


def _json_state_finds(element, make) -> Iterator[Optional[_Find]]:
    """Media URLs in a page's script state (``window.__STATE__ = {...}``), with the text around each."""
    text = element.text or ""
    if len(text) > 5_000_000:
        return
    for match in _JSON_MEDIA_URL.finditer(text):
        url = match.group(0).replace("\\/", "/")
        find = make(url, found_by="json-state", tier=3, element=element)
        if find is not None:
            # The object holding the URL: what lies between it and the brace that opens that object.
            opening = text.rfind("{", 0, match.start())
            find.context = _unescape_json(text[max(opening - 200, 0) : match.end() + 400])
            yield find


def _unescape_json(text: str) -> str:
    try:
        return json.loads(f'"{text}"') if "\\u" in text else text.replace("\\/", "/")
    except ValueError:
        return text.replace("\\/", "/")


def _preference(find: _Find) -> tuple:
    """Lower is better: a direct audio file, then MP4 or another file, then HLS, DASH, a player page."""
    order = {"audio": 0, "video": 1, "hls": 2, "dash": 3, "player": 4, "live": 9}
    extension = _extension(find.url)
    return order.get(find.type, 5), 0 if extension == "mp3" else 1


def _select(
    finds: list[_Find], region, title: Optional[str], page_url: Optional[str], *, after: Optional[Callable[..., bool]] = None
) -> list[_Find]:
    """The page's own recordings among the finds, one find per recording.

    ``after`` tells whether an element comes after the article (see :func:`_article_end`), or is None.
    """
    page_title = _norm(title) if title else None
    usable: list[_Find] = []
    for find in finds:
        if find.type == "live":
            logger.info("skipping live stream %s (%s): not a recording", find.url, find.found_by)
            continue
        if find.skip:
            logger.info("skipping %s: %s", find.url, find.skip)
            continue
        stem = os.path.basename(urlsplit(find.url).path).split(".")[0].lower()
        if stem in _PLACEHOLDER_NAMES:
            logger.info("skipping %s: a placeholder or interface sound", find.url)
            continue
        usable.append(find)

    declared_keys = frozenset().union(*(find.keys for find in usable if find.tier == 0)) if usable else frozenset()
    kept = []
    for find in usable:
        container = None if find.element is None or find.keys & declared_keys else _aside(find.element, region)
        if container is None and after is not None and find.element is not None and not find.keys & declared_keys:
            container = "what follows the article" if after(find.element) else None
        if container is not None and not (page_title and find.title and _norm(find.title) == page_title):
            logger.info("skipping %s (%s): in %s, not the article", find.url, find.found_by, container)
        else:
            kept.append(find)
    usable = kept

    # Script state and player cards are the last resort: only when nothing better names the media.
    best = [find for find in usable if find.tier < 3]
    if not best:
        best = [find for find in usable if find.found_by != "json-state" or _names_page(find, page_title)]
        best = best[:1] if best and best[0].found_by == "twitter:player" else best
    # A page's og:video is its main video; when the article embeds a player, that player is it.
    if any(find.tier == 1 and find.type in ("player", "video", "hls") for find in best):
        best = [
            find
            for find in best
            if not (find.found_by in ("og:video", "twitter:player") and not find.keys & _keys_of(best, tier=1))
        ]
    # A player of the page's own site plays the page's own file: when the page names a file, take it.
    direct = [find for find in best if find.type in ("audio", "video", "hls")]
    if direct and page_url:
        own_site = _site(urlsplit(page_url).hostname or "")
        best = [find for find in best if not (find.type == "player" and _site(urlsplit(find.url).hostname or "") == own_site)]
    # A download link is the page's file when the page plays no audio file of its own.
    played = [find for find in best if find.tier < 2 and find.type == "audio"]
    if played:
        played_keys = frozenset().union(*(find.keys for find in best if find.tier < 2))
        best = [find for find in best if find.tier < 2 or find.keys & played_keys]
    groups: list[list[_Find]] = []
    for find in best:
        for group in groups:
            if any(find.keys & other.keys and find.segment == other.segment for other in group):
                group.append(find)
                break
        else:
            groups.append([find])
    chosen = []
    for group in groups:
        winner = min(group, key=_preference)
        # A link's text is a label ("MP3 (22 MB)"), a title only for the link itself.
        winner.title = winner.title or next((find.title for find in group if find.title and find.tier < 2), None)
        winner.position = min(find.position for find in group)
        winner.tier = min(find.tier for find in group)
        chosen.append(winner)
    chosen.sort(key=lambda find: (find.tier != 0, find.position))
    return chosen


def _site(host: str) -> str:
    return ".".join(host.lower().split(".")[-2:])


def _keys_of(finds: list[_Find], *, tier: int) -> frozenset:
    return frozenset().union(*(find.keys for find in finds if find.tier == tier)) if finds else frozenset()


def _names_page(find: _Find, page_title: Optional[str]) -> bool:
    return page_title is not None and page_title in _norm(find.context)


# Containers of what is not the article: sidebars, related items, teasers, site furniture (the
# class and id words readability and trafilatura also read as "unlikely to be the content").
_ASIDE_TAGS = frozenset("aside nav footer".split())
_ASIDE_WORDS = re.compile(
    r"sidebar|side-bar|related|widget|teaser|recommend|promo|rail|latest|popular|trending|more-?stories|"
    r"you-may|also-|carousel|menu|footer|masthead|podcast-(?:card|list)|program-|shows?-list",
    re.IGNORECASE,
)


def _aside(element, core) -> Optional[str]:
    """The container that puts ``element`` outside the article (``"aside.widget"``), or None.

    ``core`` is the element holding the article's paragraphs, when known: a container that holds the
    article itself (a page wrapped in a "widget" div) does not count.
    """
    core_ancestors = set(core.iterancestors()) | {core} if core is not None else set()
    for ancestor in element.iterancestors():
        if ancestor in core_ancestors:
            return None
        if not isinstance(ancestor.tag, str) or ancestor.tag.lower() in ("body", "html"):
            continue
        words = f"{ancestor.get('class') or ''} {ancestor.get('id') or ''}"
        if ancestor.tag.lower() in _ASIDE_TAGS or _ASIDE_WORDS.search(words):
            return f"{ancestor.tag}.{(ancestor.get('class') or ancestor.get('id') or '').split()[0] if words.strip() else ''}".rstrip(
                "."
            )
    return None


def _article_core(tree, paragraphs: list[str]):
    """The deepest element holding the article's paragraphs as found in the page, or None.

    A paragraph that the text extractor took from elsewhere (a sidebar video's caption) does not widen
    it: the element taken is the deepest that holds three quarters of the paragraphs' text.
    """
    wanted = {_norm(paragraph)[:60] for paragraph in paragraphs if len(paragraph) >= 30}
    if not wanted:
        return None
    size: dict = {}
    for element in tree.iter("p", "li", "blockquote", "h2", "h3", "h4", "dd", "pre", "td", "figcaption"):
        text = _norm(element.text_content())[:60]
        if len(text) >= 30 and text in wanted:
            size[element] = len(_norm(element.text_content()))
    found = {_norm(element.text_content())[:60] for element in size}
    # Paragraphs set apart by <br> rather than in elements of their own (old layout-table pages) are
    # where their first run of text is (a paragraph's text starts with it, before any inline markup) ...
    missing = {prefix: len(_norm(paragraph)) for paragraph in paragraphs if (prefix := _norm(paragraph)[:60]) in wanted - found}
    if missing:
        for element in tree.iter():
            own = element.text if isinstance(element.tag, str) and element.tag.lower() not in ("script", "style") else None
            for run, owner in ((own, element), (element.tail, element.getparent())):
                text = _norm(run or "")[:60]
                if len(text) >= 30 and owner is not None:
                    # ... and the element holding that run holds the paragraph's start whole, not only a heading
                    # that the extractor joined to the text after it.
                    start = next(
                        (prefix for prefix in missing if prefix.startswith(text) and prefix in _norm(owner.text_content())), None
                    )
                    if start is not None:
                        size[owner] = size.get(owner, 0) + missing.pop(start)
    if not size:
        return None
    held: dict = {}
    for element in size:
        for holder in (element, *element.iterancestors()):
            held[holder] = held.get(holder, 0) + size[element]
    total = sum(size.values())
    # The holders of enough text form one chain from the root down; the deepest of them is the core.
    return max((holder for holder, length in held.items() if 4 * length >= 3 * total), key=_depth)


def _depth(element) -> int:
    return sum(1 for _ in element.iterancestors())


def _article_end(tree, core, title: Optional[str]) -> Optional[Callable[..., bool]]:
    """A test of whether an element comes after the article: after the smallest element that holds both
    the article's headline (an ``h1``/``h2`` reading the title) and its paragraphs, and outside it.

    Such an element is in what the page sets after or beside its article (a sidebar column, a footer),
    however its classes are named. None when the headline or the paragraphs are not found in the page.
    """
    if core is None or not title:
        return None
    wanted = _norm(title)
    heading = next((h for h in tree.iter("h1", "h2") if _norm(h.text_content()) == wanted), None)
    if heading is None:
        return None
    ancestors = set(heading.iterancestors()) | {heading}
    article = core
    while article is not None and article not in ancestors:
        article = article.getparent()
    if article is None or not isinstance(article.tag, str) or article.tag.lower() in ("body", "html"):
        return None
    order = {element: position for position, element in enumerate(tree.iter())}
    inside = {element for element in article.iter()}
    end = max(order[element] for element in inside)

    def after(element) -> bool:
        return element not in inside and order.get(element, -1) > end

    return after


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def resolve_reference(reference: str, base: str) -> str:
    """Resolve a reference found in a document against the document's URL or local path.

    Absolute URLs are returned as they are; with a URL base, relative references are joined the
    way a browser joins them; with a local path base, they become absolute local paths (a fragment
    is kept, as ``path#t=...``, so the caller can still read it).

    Raises:
      SourceError: the reference (or the base) is not a valid URL, e.g. ``http://[::1`` or ``//[``.
    """
    reference = reference.strip()
    try:
        resolved = _resolve_reference(reference, base)
        urlsplit(resolved).port  # noqa: B018 -- raises on "http://[" and on a port out of range
        return resolved
    except ValueError as e:  # urllib's "Invalid IPv6 URL", a port out of range
        raise SourceError(f"{reference!r}: not a valid URL ({e})") from e


def _resolve_reference(reference: str, base: str) -> str:
    if _is_absolute(reference):
        return reference
    if reference.startswith("//"):
        scheme = urlsplit(base).scheme if _is_absolute(base) else "https"
        return f"{scheme}:{reference}"
    if _is_absolute(base):
        return urljoin(base, reference)
    path, fragment = urldefrag(reference)
    # A reference in HTML is a URL path: %20 is a space on disk.
    path = url2pathname(unquote(path)) if path else ""
    base_path = _local_path(base)
    directory = base_path if base_path.endswith(os.sep) or os.path.isdir(base_path) else os.path.dirname(base_path)
    resolved = os.path.normpath(os.path.join(directory, path)) if path else os.path.abspath(base_path)
    return f"{resolved}#{fragment}" if fragment else resolved


def _resolve_base(href: str, base: str) -> str:
    resolved = resolve_reference(href, base)
    if not _is_absolute(resolved) and href.rstrip().endswith("/"):
        resolved += os.sep  # a directory: keep it as the directory relative links resolve in
    return resolved


def _local_path(base: str) -> str:
    if base.lower().startswith("file:"):
        return os.path.abspath(url2pathname(unquote(urlsplit(base).path)))
    return os.path.abspath(base) + (os.sep if base.endswith(("/", os.sep)) else "")


def _is_absolute(reference: str) -> bool:
    """Whether a reference names its scheme (``https:``, ``ftp:``), so no base applies to it."""
    try:
        scheme = urlsplit(reference).scheme.lower()
    except ValueError:  # an unclosed IPv6 bracket
        return False
    # Windows drive letters ("C:\\...") parse as a one-letter scheme.
    return len(scheme) > 1 and scheme != "file"


def _first_attr(element, *names: str) -> Optional[str]:
    for name in names:
        value = (element.get(name) or "").strip()
        if value:
            return value
    return None


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
