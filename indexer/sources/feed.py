"""Podcast and news feeds (RSS 2.0, Atom, iTunes, Podcasting 2.0): one Article per item.

feedparser reads the feed, tolerating broken XML. It keeps only the last ``<podcast:transcript>``
of an item (each one overwrites the previous in ``entry.podcast_transcript``), but an episode
commonly lists several formats, so the transcripts are read with a second, recovering lxml pass
and matched to feedparser's entries by guid, enclosure, link or title.
"""

from __future__ import annotations

import calendar
import io
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Optional
from urllib.parse import urlsplit

import lxml.etree

from ..errors import FeedError, SourceError
from ..models import Article, AudioRef
from .embeds import AUDIO_EXTENSIONS, parse_media_fragment, resolve_reference
from .fetch import is_url
from .html import html_to_paragraphs, looks_like_markup, plain_text_paragraphs
from .text import format_datetime, parse_datetime
from .transcripts import transcript_format

logger = logging.getLogger("indexer")

__all__ = ["looks_like_feed", "read_feed"]

# Transcript formats by preference: JSON may carry word times, SRT and VTT carry cue times, HTML
# carries times only when it marks them with <time>.
_FORMAT_RANK = {"json": 0, "srt": 1, "vtt": 2, "html": 3}

_FEED_ROOTS = {"rss", "feed", "rdf"}


@dataclass
class _Transcript:
    url: str
    type: str
    language: str = ""
    rel: str = ""


@dataclass
class _RawItem:
    """What the lxml pass keeps of an item: the keys to match it to an entry, and its transcripts."""

    guid: str = ""
    enclosure: str = ""
    link: str = ""
    title: str = ""
    transcripts: list[_Transcript] = field(default_factory=list)


_UTF32_BOMS = {b"\xff\xfe\x00\x00": "utf-32-le", b"\x00\x00\xfe\xff": "utf-32-be"}


def _utf32_to_utf8(data: bytes) -> bytes:
    """A UTF-32 document (with its BOM) as UTF-8: neither feedparser nor lxml reads UTF-32."""
    encoding = _UTF32_BOMS.get(data[:4])
    if encoding is None:
        return data
    text = data[4:].decode(encoding, errors="replace")
    if text.startswith("<?xml"):
        declaration, end, rest = text.partition("?>")
        text = re.sub(r"""\sencoding=["'][^"']*["']""", "", declaration) + end + rest
    return text.encode("utf-8")


def looks_like_feed(data: bytes) -> bool:
    """True when the document's root element is ``<rss>``, Atom ``<feed>`` or RSS 1.0 ``<rdf:RDF>``."""
    head = _utf32_to_utf8(data[:16384])[:4096]
    try:
        for _event, element in lxml.etree.iterparse(
            io.BytesIO(head), events=("start",), recover=True, resolve_entities=False, no_network=True
        ):
            return _localname(element.tag).rpartition(":")[2].lower() in _FEED_ROOTS
    except lxml.etree.XMLSyntaxError:
        return False
    return False


def read_feed(data: bytes, location: str) -> list[Article]:
    """Read a feed into one :class:`Article` per item, newest first (undated items last, in feed order).

    Each article has the item's ``title``, ``date`` (ISO 8601 in UTC), ``author`` (the item's, else
    the feed's), ``url`` (the item's link), ``guid`` (the item's id, else its enclosure URL),
    ``paragraphs`` (the show notes as text) and ``location`` (the feed's ``location``). Its
    ``audio`` holds the enclosure, resolved against ``location``, with the preferred
    ``<podcast:transcript>`` (JSON, then SRT, then VTT, then HTML; the feed's language first).

    A feed with broken XML still yields the items that could be read.

    Raises:
      FeedError: the data has no items and is not a feed at all.
    """
    import feedparser

    data = _utf32_to_utf8(data)
    # A BytesIO, not the bytes: feedparser treats a string argument as a URL or a file name.
    # No content-location either: feedparser would then "resolve" plain guids like "ep-2" into
    # URLs; relative references are resolved here instead, against ``location``.
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-type": "application/xml"})
    except (ValueError, LookupError):
        # feedparser trusts the XML declaration's encoding and fails on "\x95" or "\x00"; without the
        # declaration it detects the encoding from the bytes.
        data = _drop_encoding_declaration(data)
        try:
            parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-type": "application/xml"})
        except (ValueError, LookupError) as e:
            raise FeedError(f"{location}: unreadable feed ({_one_line(e)})") from e
    entries = list(parsed.entries)
    if not entries:
        if parsed.get("version"):
            logger.info("%s: the feed has no items", location)
            return []
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements"
        raise FeedError(f"{location}: not an RSS or Atom feed ({_one_line(reason)})")
    if parsed.get("bozo"):
        logger.warning("%s: malformed feed, reading what can be read (%s)", location, _one_line(parsed.bozo_exception))

    feed_language = (parsed.feed.get("language") or "").lower()
    feed_author = parsed.feed.get("author")
    raw_items = _raw_items(data)

    dated: list[tuple[Optional[float], Article]] = []
    for entry in entries:
        article, timestamp = _entry_article(entry, location, feed_author, feed_language, raw_items)
        if article is not None:
            dated.append((timestamp, article))
    # Stable sort: items with the same (or no) date keep their order in the feed.
    dated.sort(key=lambda pair: (pair[0] is None, -(pair[0] or 0.0)))
    articles = [article for _timestamp, article in dated]
    logger.debug("%s: %d item(s)", location, len(articles))
    return articles


def _entry_article(
    entry, location: str, feed_author: Optional[str], feed_language: str, raw_items: list[_RawItem]
) -> tuple[Optional[Article], Optional[float]]:
    enclosure = _enclosure_url(entry, location)
    link = _entry_link(entry, location)
    guid = (entry.get("id") or "").strip() or enclosure or link
    title = " ".join((entry.get("title") or "").split())
    paragraphs = _show_notes(entry)
    if not (title or paragraphs or enclosure):
        logger.warning("%s: skipping an item with no title, text or enclosure", location)
        return None, None
    moment = _entry_datetime(entry)

    raw = _match(
        raw_items,
        guid=entry.get("id"),
        enclosure=_raw_enclosure(entry),
        link=entry.get("link"),
        title=entry.get("title"),
    )
    transcript = _preferred_transcript(raw.transcripts if raw else [], feed_language)
    if transcript is None and entry.get("podcast_transcript"):
        # The lxml pass found nothing (unparseable XML): fall back to feedparser's one.
        found = entry["podcast_transcript"]
        transcript = _preferred_transcript(
            [_Transcript(found.get("url", ""), found.get("type", ""), found.get("language", ""))], feed_language
        )
    transcript_url = None
    if transcript is not None:
        try:
            transcript_url = resolve_reference(transcript.url, location)
        except SourceError as e:
            logger.warning("%s: ignoring a transcript: %s", location, e)

    audio: list[AudioRef] = []
    if enclosure:
        try:
            url, segment = parse_media_fragment(enclosure)
        except SourceError as e:
            logger.warning("%s; using the whole enclosure", e)
            url, segment = enclosure.split("#", 1)[0], None
        kind, found_by = _enclosure_kind(entry)
        audio.append(AudioRef(url=url, segment=segment, title=title or None, type=kind, found_by=found_by))
    elif transcript_url is not None:
        # An episode published as a transcript only (or whose audio is elsewhere): the transcript is
        # still what was said; the item's page stands for the audio.
        audio.append(AudioRef(url=link or transcript_url, title=title or None, found_by="podcast:transcript"))
    if transcript is not None and transcript_url is not None and audio:
        audio[0].transcript_url = transcript_url
        audio[0].transcript_type = transcript.type

    article = Article(
        title=title or _fallback_title(enclosure, link, guid),
        location=location,
        paragraphs=paragraphs,
        date=format_datetime(moment, has_time=True) if moment else None,
        author=" ".join((entry.get("author") or feed_author or "").split()) or None,
        url=link,
        audio=audio,
        guid=guid or None,
    )
    return article, (moment.timestamp() if moment else None)


def _drop_encoding_declaration(data: bytes) -> bytes:
    """The feed without the ``encoding="..."`` of its XML declaration."""
    return re.sub(rb"^(\s*<\?xml[^>]*?)\sencoding\s*=\s*(\"[^\"]*\"|'[^']*')", rb"\1", data, count=1)


def _entry_datetime(entry) -> Optional[datetime]:
    """The item's publication time in UTC (feedparser normalises parsed dates to UTC)."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed: Optional[time.struct_time] = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    # A date feedparser could not read: dateutil knows more formats.
    for key in ("published", "updated"):
        if entry.get(key):
            result = parse_datetime(entry[key])
            if result is not None:
                moment = result[0]
                return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def _enclosure_url(entry, location: str) -> Optional[str]:
    href = _raw_enclosure(entry)
    if not href:
        return None
    try:
        return resolve_reference(href, location)
    except SourceError as e:
        logger.warning("%s: skipping an enclosure: %s", location, e)
        return None


def _raw_enclosure(entry) -> Optional[str]:
    """The first enclosure that is audio (or video, which carries an audio track)."""
    candidates = list(entry.get("enclosures") or [])
    # Media RSS (<media:content>) when there is no enclosure.
    candidates += [
        {"href": media.get("url"), "type": media.get("type") or media.get("medium", "")}
        for media in entry.get("media_content") or []
    ]
    for candidate in candidates:
        href = (candidate.get("href") or "").strip()
        kind = (candidate.get("type") or "").lower()
        if not href:
            continue
        extension = os.path.splitext(href.split("#", 1)[0].split("?", 1)[0])[1].lower().lstrip(".")
        # A declared type decides (image/jpeg, application/pdf are not episodes); without one,
        # the extension does, and an extensionless enclosure ("/play?id=5") is taken as audio.
        if kind.startswith(("audio", "video")) or (not kind and (extension in AUDIO_EXTENSIONS or not extension)):
            return href
    return None


def _enclosure_kind(entry) -> tuple[str, str]:
    """The enclosure's type ("audio" or "video") and where it was found (``enclosure``, ``media:content``)."""
    for candidate in entry.get("enclosures") or []:
        if (candidate.get("href") or "").strip() == (_raw_enclosure(entry) or ""):
            return ("video" if (candidate.get("type") or "").lower().startswith("video") else "audio"), "enclosure"
    return "audio", "media:content"


def _entry_link(entry, location: str) -> Optional[str]:
    link = (entry.get("link") or "").strip()
    if not link:
        return None
    try:
        if is_url(link):
            urlsplit(link).port  # noqa: B018 -- raises on a port out of range
            return link
        # feedparser copies a guid into ``link`` when the guid may be a permalink; "ep-2" is not one.
        if entry.get("guidislink") or not is_url(location):
            return None
        return resolve_reference(link, location)
    except (ValueError, SourceError) as e:
        logger.warning("%s: ignoring an item's link %r: %s", location, link, e)
        return None


def _show_notes(entry) -> list[str]:
    """The item's notes as paragraphs: the fullest of content:encoded / content and the description."""
    candidates = [(c.get("value") or "", c.get("type") or "") for c in entry.get("content") or []]
    summary = entry.get("summary_detail") or {}
    candidates.append((entry.get("summary") or "", summary.get("type") or "text/html"))
    best: list[str] = []
    for value, kind in candidates:
        if not value.strip():
            continue
        # feedparser labels media:description text/plain however much markup it holds.
        paragraphs = html_to_paragraphs(value) if "html" in kind or looks_like_markup(value) else plain_text_paragraphs(value)
        if sum(map(len, paragraphs)) > sum(map(len, best)):
            best = paragraphs
    return best


def _fallback_title(*candidates: Optional[str]) -> str:
    for candidate in candidates:
        if candidate:
            name = os.path.basename(urlsplit(candidate).path.rstrip("/"))
            return name or candidate
    return "Untitled item"


def _preferred_transcript(transcripts: Iterable[_Transcript], feed_language: str) -> Optional[_Transcript]:
    """The transcript to use: the best format among those in the feed's language (or unmarked).

    A transcript in another language (a translation) would index words nobody says in the audio:
    it is not used, and the audio is recognised instead.
    """
    usable = []
    for transcript in transcripts:
        try:
            kind = transcript_format(transcript.type)
        except SourceError:
            if transcript.url:
                logger.debug("ignoring transcript %s of unsupported type %r", transcript.url, transcript.type)
            continue
        if not transcript.url:
            continue
        language = transcript.language.lower()
        if language and feed_language and language.split("-")[0] != feed_language.split("-")[0]:
            logger.info("not using transcript %s: it is in %s, the feed in %s", transcript.url, language, feed_language)
            continue
        mime = transcript.type.split(";")[0].strip().lower()
        usable.append((_FORMAT_RANK[kind], _Transcript(transcript.url.strip(), mime, language)))
    if not usable:
        return None
    return min(usable, key=lambda candidate: candidate[0])[1]


def _raw_items(data: bytes) -> list[_RawItem]:
    """Items' keys and ``<podcast:transcript>`` elements, read by a recovering XML parser."""
    parser = lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    try:
        root = lxml.etree.fromstring(data, parser)
    except (lxml.etree.XMLSyntaxError, ValueError):
        return []
    if root is None:
        return []
    items = []
    for element in root.iter():
        try:
            name = _localname(element.tag)
        except ValueError:  # lxml cannot decode a character reference it kept in a namespace (&#xD800;)
            continue
        if name not in ("item", "entry"):
            continue
        raw = _RawItem()
        for child in element.iter():
            try:
                _read_child(raw, element, child)
            except ValueError:  # lxml cannot decode a character reference it kept (&#xD800;): skip the element
                continue
        items.append(raw)
    return items


def _read_child(raw: _RawItem, item, child) -> None:
    """Note what ``child``, an element inside ``item``, says of the item."""
    name = _localname(child.tag)
    prefix, _, local = name.rpartition(":")
    if local == "transcript" and _is_podcast_namespace(child.tag, prefix):
        raw.transcripts.append(
            _Transcript(
                url=child.get("url") or "",
                type=child.get("type") or "",
                language=child.get("language") or "",
                rel=child.get("rel") or "",
            )
        )
    elif child.getparent() is not item:
        return
    elif name in ("guid", "id") and not raw.guid:
        raw.guid = (child.text or "").strip()
    elif name == "title" and not raw.title:
        raw.title = (child.text or "").strip()
    elif name == "enclosure" and not raw.enclosure:
        raw.enclosure = (child.get("url") or "").strip()
    elif name == "link":
        if child.get("rel") == "enclosure" and not raw.enclosure:
            raw.enclosure = (child.get("href") or "").strip()
        elif child.get("rel") in (None, "alternate") and not raw.link:
            raw.link = (child.get("href") or child.text or "").strip()


def _match(raw_items: list[_RawItem], **keys: Optional[str]) -> Optional[_RawItem]:
    """The raw item with the same guid, else enclosure, else link, else title."""
    for key, value in keys.items():
        value = " ".join((value or "").split())
        if not value:
            continue
        for raw in raw_items:
            if " ".join(getattr(raw, key).split()) == value:
                return raw
    return None


def _is_podcast_namespace(tag, prefix: str) -> bool:
    if not isinstance(tag, str):
        return False
    if tag.startswith("{"):
        namespace = tag[1:].split("}", 1)[0].lower()
        return "podcastindex" in namespace or "podcast-namespace" in namespace
    # An undeclared prefix: the recovering parser keeps "podcast:transcript" as the tag.
    return prefix.lower() == "podcast"


def _localname(tag) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _one_line(error) -> str:
    return " ".join(str(error).split())
