"""Identity and links: which id a source gets, and how articles and the audio they embed point at each other.

An article lists its audio in ``audio_ids``; an audio source lists the articles that embed it in
``article_ids``. The article is the authority (it says what it embeds); the audio's list is kept in
step with it. The functions here are pure: they read stored records through a lookup and return
the records to write. The index runs them inside one exclusive write (``Backend.write``), so
two processes writing articles that share audio both keep their link.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Callable, Iterable, Optional

from .errors import NotFoundError
from .models import Source, TimeRange

__all__ = ["Lookup", "article_id", "audio_id", "linked", "published_audio_id", "removal"]

# Reads one stored record by id (inside a write: the latest committed version), or None.
Lookup = Callable[[str], Optional[Source]]


def audio_id(audio_hash: str, time_range: Optional[TimeRange] = None) -> str:
    """Audio is identified by its bytes, so the same file found at two places is one source.

    A part of a file (``#t=300,420``) is a source of its own.
    """
    base = f"audio-{audio_hash[:12]}"
    if not time_range:
        return base
    start, end = time_range
    return f"{base}-t{start:g}-{'end' if end is None else f'{end:g}'}"


def published_audio_id(url: str) -> str:
    """Audio indexed from its publisher's transcript is not downloaded: its identity is its URL."""
    return "audio-" + hashlib.sha256(url.encode()).hexdigest()[:12]


def article_id(key: str) -> str:
    """An article is identified by its key: a feed item's guid, else its URL, else its path."""
    return "article-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def linked(written: Iterable[Source], stored: Lookup) -> list[Source]:
    """The records to write for ``written``, with links merged into what is stored now.

    - An audio record keeps the articles stored as embedding it, plus those it is written with.
    - An article record's ``audio_ids`` are taken as written: each audio it lists gets a link back,
      and audio its stored version listed and this one does not loses the link (it stays indexed).

    Returns ``written`` (copies, in order) followed by the stored audio records whose links changed.
    """
    out: dict[str, Source] = {}
    for source in written:
        source = replace(source, audio_ids=list(source.audio_ids), article_ids=list(source.article_ids))
        if source.kind == "audio":
            before = stored(source.id)
            if before is not None:
                source.article_ids = _union(before.article_ids, source.article_ids)
        out[source.id] = source

    def audio(audio_id: str) -> Optional[Source]:
        if audio_id not in out:
            found = stored(audio_id)
            if found is None:
                return None
            out[audio_id] = found
        return out[audio_id]

    for article in [s for s in out.values() if s.kind == "article"]:
        for audio_id in article.audio_ids:
            record = audio(audio_id)
            if record is not None and article.id not in record.article_ids:
                record.article_ids.append(article.id)
        previous = stored(article.id)
        for audio_id in previous.audio_ids if previous else []:
            if audio_id in article.audio_ids:
                continue
            record = audio(audio_id)
            if record is not None:
                record.article_ids = [a for a in record.article_ids if a != article.id]
    return list(out.values())


def removal(source_id: str, stored: Lookup) -> tuple[list[Source], list[Source]]:
    """What removing ``source_id`` takes with it: (records removed, records updated).

    An article takes its audio that no other article embeds; removed audio leaves the articles
    that embedded it. Raises NotFoundError when there is no such source.
    """
    target = stored(source_id)
    if target is None:
        raise NotFoundError(f"no source {source_id!r} in the index")
    removed: list[Source] = [target]
    updated: list[Source] = []
    if target.kind == "article":
        for audio_id in target.audio_ids:
            audio = stored(audio_id)
            if audio is None:
                continue
            audio.article_ids = [a for a in audio.article_ids if a != target.id]
            (updated if audio.article_ids else removed).append(audio)
    else:
        for article_id in target.article_ids:
            article = stored(article_id)
            if article is not None:
                article.audio_ids = [a for a in article.audio_ids if a != target.id]
                updated.append(article)
    return removed, updated


def _union(first: list[str], second: list[str]) -> list[str]:
    return first + [item for item in second if item not in first]
