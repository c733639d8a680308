"""The index: sources' records and documents in a backend, links kept, hits presented.

:class:`TextIndex` is what the rest of the package uses. It checks queries
(:mod:`~indexer.index.query`), keeps article<->audio links consistent inside each write
(:mod:`indexer.links`), and presents matches as hits (:mod:`~indexer.index.hits`); the backend
(:class:`~indexer.index.backend.Backend`; :class:`~indexer.index.whoosh.WhooshBackend` by default)
only stores and searches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Optional

from .. import links
from ..errors import IndexerError, NoIndexError, NotFoundError
from ..models import Article, Hit, Source, SourceKind, Transcript
from . import query
from .backend import Aliases, Backend, Changes, HeardAts, Lookup, Match, StoredWord
from .hits import present
from .spelling import article_spelling
from .whoosh import WhooshBackend

__all__ = ["Backend", "Changes", "Match", "StoredWord", "TextIndex", "WhooshBackend", "is_postgres_url", "open_backend"]


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_backend(location: Path | str) -> Backend:
    """The backend a location names: a ``postgresql://`` URL is a PostgreSQL database (the
    ``postgres`` extra), anything else a directory holding a Whoosh index."""
    if is_postgres_url(location):
        from .postgres import PostgresBackend

        return PostgresBackend(str(location))
    return WhooshBackend(location)


class TextIndex:
    """Sources and their documents, searchable; a context manager that closes its backend.

    ``backend`` defaults to a Whoosh index in ``directory``. Nothing is created until the first
    write; reading where there is no index raises IndexUnavailableError.
    """

    def __init__(self, directory: Optional[Path | str] = None, *, backend: Optional[Backend] = None):
        if backend is None:
            if directory is None:
                raise TypeError("TextIndex needs a directory or a backend")
            backend = open_backend(directory)
        self.backend = backend
        self.directory = Path(directory) if directory is not None and not is_postgres_url(directory) else None

    def __enter__(self) -> "TextIndex":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()

    # -- writing ---------------------------------------------------------------------------------

    def create(self) -> None:
        """Create the index if there is none yet: what is ingested makes one, even if nothing lands."""
        try:
            self.backend.source("")
        except NoIndexError:
            self.backend.write(lambda stored: Changes())  # an empty write creates it (Backend.write)

    def write(
        self,
        sources: Iterable[Source],
        transcripts: Mapping[str, Transcript] | None = None,
        articles: dict[str, Article] | None = None,
        aliases: dict[str, Aliases] | None = None,
        heard_at: dict[str, HeardAts] | None = None,
    ) -> list[Source]:
        """Replace each source's record, and its segments or paragraphs when given, in one commit.

        A source passed without a transcript or article keeps its indexed documents and only has its
        record replaced. Links are merged with the stored ones inside the commit (see
        :func:`indexer.links.linked`). ``aliases`` maps an audio source to the article spellings its
        segments' words are also indexed under (segment index -> [(word index, spelling)]);
        ``heard_at`` maps an article to where its paragraphs are spoken. Returns the records as
        written, links included.
        """
        sources = list(sources)

        def plan(stored: Lookup) -> Changes:
            return Changes(
                records=links.linked(sources, stored),
                transcripts=dict(transcripts or {}),
                articles=dict(articles or {}),
                aliases=dict(aliases or {}),
                heard_at=dict(heard_at or {}),
            )

        return self.backend.write(plan).records

    def remove(self, source_id: str) -> list[Source]:
        """Delete a source; an article takes with it the audio that no other article embeds.

        Returns the sources removed. Raises NotFoundError when there is no such source.
        """
        if self.backend.source(source_id) is None:  # a read first: no index is created to remove from
            raise NotFoundError(f"no source {source_id!r} in the index")
        removed: list[Source] = []

        def plan(stored: Lookup) -> Changes:
            gone, updated = links.removal(source_id, stored)
            removed[:] = gone
            return Changes(records=updated, removed=[s.id for s in gone])

        self.backend.write(plan)
        return removed

    # -- reading ---------------------------------------------------------------------------------

    def source(self, source_id: str) -> Optional[Source]:
        return self.backend.source(source_id)

    def sources(self) -> list[Source]:
        """Every source: articles first, then audio, each by title."""
        return sorted(self.backend.sources(), key=lambda s: (s.kind != "article", s.title.lower(), s.id))

    def article(self, source_id: str) -> Optional[Article]:
        """An indexed article's title and paragraphs (what alignment needs), or None."""
        source = self.backend.source(source_id)
        if source is None or source.kind != "article":
            return None
        return Article(title=source.title, location=source.location, paragraphs=self.backend.paragraphs(source_id))

    def transcript(self, source_id: str, *, spelling: str = "heard") -> Transcript:
        """An audio source's transcript as heard, or with ``spelling="article"`` with each word an
        aligned article spells differently in its spelling (``Word.heard`` keeps what was heard)."""
        if spelling not in ("heard", "article"):
            raise IndexerError(f"spelling must be 'heard' or 'article', not {spelling!r}")
        source = self.backend.source(source_id)
        if source is None:
            raise NotFoundError(f"no source {source_id!r} in the index")
        if source.kind != "audio":
            raise NotFoundError(f"{source_id} is an article, not audio; its audio: {', '.join(source.audio_ids) or 'none'}")
        segments = self.backend.segments(source_id)
        if spelling == "article":
            stored = self.backend.stored_words(source_id)
            segments = [article_spelling(segment, words) for segment, words in zip(segments, stored)]
        return Transcript(
            segments=segments,
            language=source.language or "",
            duration=source.duration or 0.0,
            source_id=source_id,
        )

    def search(self, text: str, *, limit: int = 10, kind: Optional[SourceKind] = None) -> list[Hit]:
        """Hits for a query (see :mod:`indexer.index.query`) over segments and paragraphs; best first."""
        query.check(text)
        return present(self.backend.search(text, limit=limit, kind=kind))
