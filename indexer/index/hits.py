"""Presenting matches: what title, place and date a hit shows. Above the backend, the same for any.

An audio hit is a moment of the article that embeds the audio: it shows the article's title,
location and date, and the audio's file and times. Audio on its own shows its own.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from ..models import Hit, Source
from .backend import Match

Lookup = Callable[[str], Optional[Source]]


def present(matches: Iterable[Match], lookup: Lookup) -> list[Hit]:
    """``matches`` as hits, in order; ``lookup`` reads a source's record (None if it is gone)."""
    records: dict[str, Optional[Source]] = {}

    def record(source_id: str) -> Optional[Source]:
        if source_id not in records:
            records[source_id] = lookup(source_id)
        return records[source_id]

    return [_hit(match, record) for match in matches]


def _hit(match: Match, record: Lookup) -> Hit:
    source = record(match.source_id)
    title = source.title if source else ""
    location = source.location if source else None
    date = source.date if source else None
    if match.kind == "article":
        return Hit(
            kind="article",
            source_id=match.source_id,
            title=title,
            text=match.text,
            snippet=match.snippet,
            score=match.score,
            location=location,
            date=date,
        )
    article = shown_article(source, record)
    return Hit(
        kind="audio",
        source_id=match.source_id,
        title=article.title if article else title,
        text=match.text,
        snippet=match.snippet,
        score=match.score,
        audio=location,
        start=match.jump_in,
        end=match.end,
        location=article.location if article else location,
        date=article.date if article else date,
    )


def shown_article(audio: Optional[Source], record: Lookup) -> Optional[Source]:
    """The article an audio hit is shown in: the first that embeds it, if it is still indexed."""
    if audio is None or not audio.article_ids:
        return None
    return record(audio.article_ids[0])
