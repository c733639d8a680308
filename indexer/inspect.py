"""Seeing what would be ingested: pages, feeds and transcript files read as ``ingest`` reads them.

Nothing is downloaded but the inputs themselves (a page, a feed, a transcript file named by URL), no
audio is fetched and nothing is recognised or written: :func:`inspect` is how a user checks a site
before a long ingest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlsplit

from .errors import IndexerError, SourceError
from .models import Article, AudioRef, Transcript
from .paths import default_cache_dir
from .sources import classify
from .sources import fetch as fetching
from .sources.embeds import parse_media_fragment

logger = logging.getLogger("indexer")

__all__ = ["Inspection", "inspect"]

# File extensions of the transcripts publishers ship (Podcasting 2.0 <podcast:transcript> formats).
_TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".json")


@dataclass
class Inspection:
    """What one input holds.

    ``kind`` is ``"article"`` (``article`` set), ``"feed"`` (``items``, one article per item),
    ``"transcript"`` (``transcript`` set) or ``"audio"``; ``error`` is the one-line reason an input
    could not be read (``kind`` is then None when it was not even recognised).
    """

    input: str
    kind: Optional[str] = None
    article: Optional[Article] = None
    items: list[Article] = field(default_factory=list)
    transcript: Optional[Transcript] = None
    error: Optional[str] = None

    def to_dict(self) -> dict:
        """The ``indexer inspect --json`` shape of this input."""
        data: dict = {"input": self.input, "kind": self.kind}
        if self.error is not None:
            data["error"] = self.error
        if self.article is not None:
            data.update(_article_dict(self.article))
        if self.kind == "feed":
            data["items"] = [_article_dict(item) for item in self.items]
        if self.transcript is not None:
            data["segments"] = [
                {
                    "start": segment.start,
                    "end": segment.end,
                    "text": segment.text,
                    "words": [
                        {"start": w.start, "end": w.end, "word": w.word, "probability": w.probability} for w in segment.words
                    ],
                }
                for segment in self.transcript
            ]
        return data


def _article_dict(article: Article) -> dict:
    return {
        "title": article.title,
        "date": article.date,
        "author": article.author,
        "location": article.url or article.location,
        "paragraphs": list(article.paragraphs),
        "audio": [_audio_dict(ref) for ref in article.audio],
    }


def _audio_dict(ref: AudioRef) -> dict:
    return {
        "url": ref.url,
        "segment": list(ref.segment) if ref.segment else None,
        "type": ref.type,
        "title": ref.title,
        "found_by": ref.found_by,
        "transcript": {"url": ref.transcript_url, "type": ref.transcript_type} if ref.transcript_url else None,
    }


def inspect(
    *sources: Union[str, Path],
    cache_dir: Union[str, Path, None] = None,
    fetch: Union[fetching.FetchOptions, dict, None] = None,
) -> list[Inspection]:
    """Read each source as ``ingest`` would and return one :class:`Inspection` per input, in order.

    Folders are not walked: name the files. A URL is fetched (into ``cache_dir``'s downloads, as
    ``ingest`` fetches it); the audio a page or feed names is listed, not fetched. An input that cannot
    be read is still listed, with its ``error``.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    results = []
    with fetching.Fetcher(cache / "downloads", fetch) as fetcher:
        for source in sources:
            name = str(source)
            try:
                results.append(_inspect_one(name, fetcher))
            except IndexerError as e:
                results.append(Inspection(input=name, kind=None, error=str(e)))
    return results


def _inspect_one(name: str, fetcher: fetching.Fetcher) -> Inspection:
    if fetching.is_url(name):
        location = parse_media_fragment(name)[0]
        path_part = urlsplit(location).path
        if classify.by_name(path_part) == "audio":
            return Inspection(input=name, kind="audio")
        fetched = fetcher.fetch(location, kind="page", found_in=None)
        local, origin, content_type, shown = fetched.path, fetched.url, fetched.content_type, urlsplit(fetched.url).path
    else:
        local = Path(name).expanduser()
        if local.is_dir():
            raise SourceError(f"{name}: a folder; name the files to inspect")
        if not local.exists():
            raise SourceError(f"{name}: no such file")
        origin, content_type, shown = str(local.resolve()), None, name
    if shown.lower().endswith(_TRANSCRIPT_SUFFIXES) or (content_type or "").startswith(("text/vtt", "application/x-subrip")):
        return Inspection(input=name, kind="transcript", transcript=_read_transcript(local, shown, content_type, origin))
    kind = classify.by_content(local, content_type, name=shown)
    if kind == "audio":
        return Inspection(input=name, kind="audio")
    if kind == "feed":
        from .sources.feed import read_feed

        return Inspection(input=name, kind="feed", items=read_feed(local.read_bytes(), origin))
    return Inspection(input=name, kind="article", article=classify.read_article(local, kind, origin))


def _read_transcript(path: Path, shown: str, content_type: Optional[str], location: str) -> Transcript:
    from .sources.transcripts import read_publisher_transcript

    suffix = Path(shown).suffix.lower()
    suffix = suffix.lstrip(".") if suffix in _TRANSCRIPT_SUFFIXES else ""
    declared = suffix or (content_type or "")
    return read_publisher_transcript(path.read_bytes(), declared, location=location)
