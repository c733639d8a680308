"""What the pages show, made from the library's records: hits grouped by article, marked snippets,
play buttons. The templates escape whatever these return; the one piece of HTML made here is a
segment's words (:func:`word_spans`), each escaped, because a template loop over a long transcript's
words cost most of its page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence
from urllib.parse import quote

from markupsafe import Markup, escape

from ..models import Hit, Segment, Source, Word
from ..sources.fetch import is_url


@dataclass
class Play:
    """A moment to play: the audio source, where its bytes come from, and the second to start at.

    ``src`` is the original URL for audio ingested from the web, else the server's ``/media/`` route;
    ``fallback`` is that route too for URL audio, which serves the downloaded copy when the original
    cannot be played.
    """

    source_id: str
    start: float
    src: str
    fallback: Optional[str] = None

    @property
    def transcript_url(self) -> str:
        return f"{transcript_path(self.source_id)}#t={self.start:g}"


@dataclass
class HitGroup:
    """The hits of one article (or of one audio on its own), in rank order."""

    title: str
    location: Optional[str]
    date: Optional[str]
    hits: list[Hit] = field(default_factory=list)


def media_path(source_id: str) -> str:
    return f"/media/{quote(source_id, safe='')}"


def transcript_path(source_id: str) -> str:
    return f"/audio/{quote(source_id, safe='')}"


def player_source(source_id: str, location: Optional[str]) -> tuple[str, Optional[str]]:
    """``(src, fallback)`` for an audio source's player: see :class:`Play`."""
    if location and is_url(location):
        return location, media_path(source_id)
    return media_path(source_id), None


def plays(hit: Hit) -> list[Play]:
    """The moments a hit can be played from: an audio hit's jump-in time, and for an article paragraph
    every place its audio speaks it (``heard_at``, when the index knows it)."""
    if hit.kind == "audio" and hit.start is not None:
        return [Play(hit.source_id, hit.start, *player_source(hit.source_id, hit.audio))]
    found = []
    for heard in getattr(hit, "heard_at", None) or []:
        source_id, start = _field(heard, "source_id"), _field(heard, "start")
        if source_id is not None and start is not None:
            found.append(Play(source_id, float(start), *player_source(source_id, _field(heard, "audio"))))
    return found


def _field(record: Any, name: str) -> Any:
    # heard_at entries are records in the library and dicts in JSON: read either.
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


def group_hits(hits: Iterable[Hit]) -> list[HitGroup]:
    """Hits grouped by the article they belong to (an embedded audio hit belongs to its article),
    groups in the order of their best hit."""
    groups: dict[tuple[str, Optional[str]], HitGroup] = {}
    for hit in hits:
        key = (hit.title, hit.location)
        if key not in groups:
            groups[key] = HitGroup(title=hit.title, location=hit.location, date=hit.date)
        groups[key].hits.append(hit)
    return list(groups.values())


def marks(snippet: str) -> list[tuple[str, bool]]:
    """A snippet's ``**marked**`` terms as (text, marked) pieces, for the template to escape and mark up."""
    return [(piece, i % 2 == 1) for i, piece in enumerate(snippet.split("**")) if piece]


@dataclass
class ArticleEntry:
    """An article on the sources page with the audio it embeds."""

    article: Source
    audio: list[Source]


def arrange_sources(sources: list[Source]) -> tuple[list[ArticleEntry], list[Source]]:
    """Articles with their audio beneath them, and the audio that no indexed article embeds."""
    by_id = {s.id: s for s in sources}
    articles = [ArticleEntry(s, [by_id[a] for a in s.audio_ids if a in by_id]) for s in sources if s.kind == "article"]
    embedded = {a.id for entry in articles for a in entry.audio}
    alone = [s for s in sources if s.kind == "audio" and s.id not in embedded]
    return articles, alone


def word_spans(segment: Segment) -> Markup:
    """A segment's words as ``<span class="w" data-s=START data-e=END>word</span>``, text escaped; a
    segment without word times (a publisher's transcript) is one span."""
    timed: Sequence[Optional[Word]] = segment.words or [None]
    spans = []
    for word in timed:
        start, end, text = (word.start, word.end, word.word) if word else (segment.start, segment.end, segment.text)
        spans.append(f'<span class="w" data-s="{float(start)!r}" data-e="{float(end)!r}">{escape(text.strip())}</span>')
    return Markup(" ".join(spans))
