"""Audio that a page embeds: players, links, enclosures, Open Graph and JSON-LD, with W3C media fragments.

Discovery only reads the document: nothing is fetched. Each find is an :class:`~indexer.models.AudioRef`
whose ``url`` is absolute (a URL, or an absolute local path when the page itself is a local file) and
carries no fragment; a ``#t=start,end`` fragment becomes the ref's ``segment``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Iterator, Optional, Tuple, Union
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

import lxml.etree
import lxml.html

from ..audio import AUDIO_EXTENSIONS, TimeRange
from ..errors import SourceError
from ..models import AudioRef

logger = logging.getLogger("indexer")

__all__ = ["AUDIO_EXTENSIONS", "find_embedded_audio", "looks_like_html", "parse_media_fragment"]

# Extensions of files that carry an audio track. mp4/webm/mkv/3gp are containers that are often
# video, but podcast hosts serve audio in them too and ffmpeg reads the audio either way.

# Schemes that never point at a downloadable file.
_IGNORED_SCHEMES = ("javascript:", "data:", "blob:", "mailto:", "tel:", "about:")

_JSONLD_AUDIO_TYPES = {"AudioObject", "PodcastEpisode", "RadioEpisode", "PodcastClip"}
# Where an episode or article nests its media objects. ("encoding" is left out on purpose: it
# lists other encodings of the same recording.)
_JSONLD_MEDIA_KEYS = ("associatedMedia", "audio")

# First elements of an HTML document or of a page fragment saved without <html>.
_HTML_ROOTS = frozenset("html head body meta title link div p article main section header nav script style".split())

_OG_AUDIO = {"og:audio", "og:audio:url", "og:audio:secure_url"}


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
    bare, fragment = urldefrag(url)
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


def find_embedded_audio(html: Union[str, bytes, "lxml.html.HtmlElement"], base: str) -> list[AudioRef]:
    """Find the audio a page embeds, in document order.

    Looks at ``<audio>``/``<video>`` (``src`` or their first ``<source>``), ``<a href>`` to audio
    files, ``<link rel="enclosure">``, ``og:audio`` meta tags and JSON-LD ``AudioObject`` /
    ``PodcastEpisode`` ``contentUrl`` (also nested under ``associatedMedia``/``audio``).

    ``base`` is the page's URL or local path; relative references resolve against it (or against
    the page's ``<base href>``). In a local page, root-relative references (``/audio/x.mp3``)
    resolve against the page's canonical URL when it states one, since they name files on its site.

    Returns one :class:`AudioRef` per distinct (url, segment), the first occurrence first; a
    malformed ``#t=`` fragment keeps the whole file and logs a warning.
    """
    tree = html if isinstance(html, lxml.html.HtmlElement) else _parse_html(html)
    if tree is None:
        return []
    document_base = base
    for element in tree.iter("base"):
        href = (element.get("href") or "").strip()
        if href:
            document_base = _resolve_base(href, base)
            break

    # A page saved to disk keeps root-relative links ("/audio/x.mp3") to files the browser did not
    # save (it rewrites the ones it saves to "page_files/..."): those live on the page's site.
    site = None if _is_url(document_base) else _canonical_url(tree)

    found: list[AudioRef] = []
    index: dict[tuple, int] = {}
    for reference, title in _iter_references(tree):
        root_relative = reference.startswith("/") and not reference.startswith("//")
        ref = _make_ref(reference, title, site if site and root_relative else document_base)
        if ref is None:
            continue
        key = (_dedup_url(ref.url), ref.segment)
        if key in index:
            kept = found[index[key]]
            # og:audio and og:audio:secure_url usually name one file over http and https.
            if kept.url.startswith("http:") and ref.url.startswith("https:"):
                kept.url = ref.url
            kept.title = kept.title or ref.title
            continue
        index[key] = len(found)
        found.append(ref)
    logger.debug("found %d embedded audio reference(s) in %s", len(found), base)
    return found


def _canonical_url(tree: "lxml.html.HtmlElement") -> Optional[str]:
    """The page's own web address, from ``<link rel="canonical">`` or ``og:url``."""
    for element in tree.iter("link", "meta"):
        if element.tag == "link" and "canonical" in (element.get("rel") or "").lower().split():
            url = (element.get("href") or "").strip()
        elif element.tag == "meta" and (element.get("property") or element.get("name") or "").lower() == "og:url":
            url = (element.get("content") or "").strip()
        else:
            continue
        if urlsplit(url).scheme in ("http", "https"):
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


def _iter_references(tree: "lxml.html.HtmlElement") -> Iterator[Tuple[str, Optional[str]]]:
    """(raw reference, title) pairs in document order."""
    for element in tree.iter():
        tag = element.tag
        if not isinstance(tag, str):  # comments, processing instructions
            continue
        tag = tag.lower()
        if tag in ("audio", "video"):
            title = _clean(element.get("title") or element.get("aria-label"))
            src = _first_attr(element, "src", "data-src")
            if src:
                yield src, title
                continue
            # Several <source> children are alternative encodings of one recording: like a
            # browser, take the first one rather than indexing the same speech twice.
            for source in element.iter("source"):
                src = _first_attr(source, "src", "data-src")
                if src:
                    yield src, title
                    break
        elif tag == "a":
            href = _first_attr(element, "href")
            if href and (_has_audio_extension(href) or (element.get("type") or "").lower().startswith("audio/")):
                yield href, _clean(element.get("title") or element.text_content())
        elif tag == "link":
            rels = (element.get("rel") or "").lower().split()
            href = _first_attr(element, "href")
            if href and "enclosure" in rels:
                yield href, _clean(element.get("title"))
        elif tag == "meta":
            name = (element.get("property") or element.get("name") or "").strip().lower()
            content = _first_attr(element, "content")
            if content and name in _OG_AUDIO:
                yield content, None
        elif tag == "script" and (element.get("type") or "").strip().lower() == "application/ld+json":
            yield from _jsonld_references(element.text or "")


def _jsonld_references(text: str) -> Iterator[Tuple[str, Optional[str]]]:
    try:
        data = json.loads(text)
    except ValueError as e:
        logger.debug("ignoring malformed JSON-LD block: %s", e)
        return
    yield from _walk_jsonld(data, media=False, parent_title=None)


def _walk_jsonld(node, *, media: bool, parent_title: Optional[str]) -> Iterator[Tuple[str, Optional[str]]]:
    """Walk JSON-LD; ``media`` is True under an episode's ``associatedMedia``/``audio``, where
    objects often omit ``@type`` and a bare string is the file's URL."""
    if isinstance(node, list):
        for item in node:
            yield from _walk_jsonld(item, media=media, parent_title=parent_title)
        return
    if isinstance(node, str):
        if media:
            yield node, parent_title
        return
    if not isinstance(node, dict):
        return
    types = node.get("@type") or []
    types = {types} if isinstance(types, str) else {t for t in types if isinstance(t, str)}
    name = node.get("name") or node.get("headline")
    title = _clean(name) if isinstance(name, str) else None
    is_audio = bool(types & _JSONLD_AUDIO_TYPES) or (media and not types - {"MediaObject", "AudioObject"})
    if is_audio:
        for url in _as_list(node.get("contentUrl")):
            if isinstance(url, str):
                yield url, title or parent_title
    for key, value in node.items():
        if key in _JSONLD_MEDIA_KEYS:
            yield from _walk_jsonld(value, media=True, parent_title=title or parent_title)
        elif isinstance(value, (dict, list)) and key != "contentUrl":
            yield from _walk_jsonld(value, media=False, parent_title=parent_title)


def _make_ref(reference: str, title: Optional[str], base: str) -> Optional[AudioRef]:
    reference = reference.strip()
    if not reference or reference.lower().startswith(_IGNORED_SCHEMES) or reference.startswith("#"):
        return None
    resolved = resolve_reference(reference, base)
    try:
        url, segment = parse_media_fragment(resolved)
    except SourceError as e:
        logger.warning("%s; indexing the whole file", e)
        url, segment = urldefrag(resolved)[0], None
    return AudioRef(url=url, segment=segment, title=title or None)


def resolve_reference(reference: str, base: str) -> str:
    """Resolve a reference found in a document against the document's URL or local path.

    Absolute URLs are returned as they are; with a URL base, relative references are joined the
    way a browser joins them; with a local path base, they become absolute local paths (a fragment
    is kept, as ``path#t=...``, so the caller can still read it).
    """
    reference = reference.strip()
    if _is_url(reference):
        return reference
    if reference.startswith("//"):
        scheme = urlsplit(base).scheme if _is_url(base) else "https"
        return f"{scheme}:{reference}"
    if _is_url(base):
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
    if not _is_url(resolved) and href.rstrip().endswith("/"):
        resolved += os.sep  # a directory: keep it as the directory relative links resolve in
    return resolved


def _local_path(base: str) -> str:
    if base.lower().startswith("file:"):
        return os.path.abspath(url2pathname(unquote(urlsplit(base).path)))
    return os.path.abspath(base) + (os.sep if base.endswith(("/", os.sep)) else "")


def _is_url(text: str) -> bool:
    scheme = urlsplit(text).scheme.lower()
    # Windows drive letters ("C:\\...") parse as a one-letter scheme.
    return len(scheme) > 1 and scheme != "file"


def _dedup_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return url[len(parts.scheme) + 1 :]
    return url


def _has_audio_extension(href: str) -> bool:
    path = urlsplit(href.strip()).path
    extension = os.path.splitext(unquote(path))[1].lower().lstrip(".")
    return extension in AUDIO_EXTENSIONS


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


def _clean(text: Optional[str]) -> Optional[str]:
    if not text:
        return None
    cleaned = " ".join(text.split())
    return cleaned or None
