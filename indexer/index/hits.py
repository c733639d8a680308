"""Presenting matches: what title, place and date a hit shows. Above the backend, the same for any.

An audio hit is a moment of the article that embeds the audio: it shows the article's title,
location and date, and the audio's file and times. Audio on its own shows its own.
"""

from __future__ import annotations

from typing import Iterable

from ..models import Hit
from .backend import Match


def present(matches: Iterable[Match]) -> list[Hit]:
    """``matches`` as hits, in order."""
    return [_hit(match) for match in matches]


def _hit(match: Match) -> Hit:
    source = match.record
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
    # The first article that embeds the audio (and is still indexed) is the one it is shown in.
    article = match.embedded_in[0] if match.embedded_in else None
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
