"""What a storage and search engine must do to hold the index: the :class:`Backend` protocol.

A backend stores three things per source: its record (a :class:`~indexer.models.Source`, links
included), and its documents: the segments of an audio source's transcript (with their words) or
the paragraphs of an article. It searches the documents. Everything else (which ids sources get,
how articles and audio link, how a hit is shown) happens above it, in :mod:`indexer.links` and
:mod:`indexer.index.hits`, so a second backend implements only this file's protocol.

Contract, for every backend:

- **One write is one exclusive, atomic transaction.** :meth:`Backend.write` takes the writers'
  lock (one writer at a time, across processes), reads records through the lookup it hands to
  ``plan`` (the latest committed state, under that lock), applies the :class:`Changes` ``plan``
  returns, and commits; if ``plan`` or the write raises, nothing changes. Links between articles
  and audio are read and written this way, so two processes writing articles that embed the same
  audio both keep their link.
- **Readers see whole commits** and survive other processes' commits while they read.
- **Queries** use the query language of :mod:`indexer.index.query` (Whoosh syntax over the fields
  ``text``, ``title``, ``kind`` and ``source_id``); what a backend cannot run raises
  :class:`~indexer.errors.QueryError` with one line, never another exception.
- **Errors** of the storage itself (missing, unreadable, damaged, locked) raise
  :class:`~indexer.errors.IndexUnavailableError`; reading where no index exists raises its
  subclass :class:`~indexer.errors.NoIndexError`, and creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional, Protocol, Sequence

from ..links import Lookup
from ..models import Article, HeardAt, Segment, Source, SourceKind, Transcript, Word

__all__ = ["BY_SOUND", "Aliases", "Backend", "Changes", "HeardAts", "Lookup", "Match", "MatchKind", "StoredWord"]

# segment index -> [(word index, spelling)]: article spellings a spoken word is also found under
# (from aligning the transcript with the articles that embed it, indexer.alignment). An empty
# spelling marks a heard word that is part of the previous word's ("four teen" -> "fourteen", "").
Aliases = dict[int, list[tuple[int, str]]]
# An alias that starts with it was given by sound (the index-wide name lexicon, indexer.lexicon),
# not by aligning: its hits are "sounds-like" matches.
BY_SOUND = "~"
# paragraph index -> where the paragraph is spoken (indexer.alignment).
HeardAts = dict[int, list[HeardAt]]
# How a match was found: "exact" (the query's words, or their normal forms such as "14" for
# "fourteen", as heard or written), "article" (heard differently, found under an aligned article's
# spelling), "sounds-like" (a rare query word heard as a word that sounds like it).
MatchKind = str


@dataclass
class Changes:
    """One transaction's changes.

    Attributes:
      records: records to store, each replacing the stored record of its id. A record's documents
        are kept unless its id is also in ``transcripts`` or ``articles``.
      transcripts: audio source id -> transcript whose segments replace the source's documents.
      articles: article source id -> article whose paragraphs replace the source's documents.
      aliases: audio source id -> article spellings its segments' words are also found under.
      heard_at: article source id -> where its paragraphs are spoken (stored with the paragraphs).
      removed: source ids to delete with all their documents (applied before ``records``).
    """

    records: list[Source] = field(default_factory=list)
    transcripts: dict[str, Transcript] = field(default_factory=dict)
    articles: dict[str, Article] = field(default_factory=dict)
    aliases: dict[str, Aliases] = field(default_factory=dict)
    heard_at: dict[str, HeardAts] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


class StoredWord(NamedTuple):
    """A spoken word as stored with its segment; ``alias`` is an aligned article's spelling of it
    (``""``: the word is part of the previous word's spelling).

    Stored compactly as a list ``[start, end, word, probability]`` (plus ``alias`` when there is one).
    """

    start: float
    end: float
    word: str
    probability: float
    alias: Optional[str] = None

    @classmethod
    def of(cls, word: Word, alias: Optional[str] = None) -> "StoredWord":
        return cls(word.start, word.end, word.word, word.probability, alias)

    @classmethod
    def load(cls, stored: Sequence) -> "StoredWord":
        return cls(*stored)

    def dump(self) -> list:
        return list(self) if self.alias is not None else list(self[:4])

    @property
    def spelling(self) -> Optional[str]:
        """The alias as spelled (without the :data:`BY_SOUND` mark)."""
        if self.alias is not None and self.alias.startswith(BY_SOUND):
            return self.alias[len(BY_SOUND) :]
        return self.alias

    @property
    def by_sound(self) -> bool:
        return self.alias is not None and self.alias.startswith(BY_SOUND)

    def to_word(self) -> Word:
        return Word(start=self.start, end=self.end, word=self.word, probability=self.probability)


@dataclass
class Match:
    """One document a query matched, as the backend found it (before presentation).

    Attributes:
      source_id, kind: the source the document belongs to.
      text: the segment's or paragraph's whole text.
      snippet: ``text`` (or the part of it around the matches, at most ~240 characters) with
        matched terms marked ``**like this**``; a word found through an article's spelling is marked
        and followed by that spelling: ``**Ashikov** (Ushakov)``; a sound-alike one by the query
        word: ``**Ashikov** (sounds like Ushakov)``.
      score: relevance, higher is better, comparable within one search only.
      start, end: a segment's times in seconds (None for a paragraph).
      jump_in: where the first matched word of a segment is spoken (its start when no stored
        word matched); None for a paragraph.
      record: the source's record, read from the same commit as the match.
      embedded_in: the records of the articles in ``record.article_ids`` that exist, in that
        order, from the same commit (a search that overlaps a commit still shows one state).
      match: how it was found (:data:`MatchKind`).
      heard_at: a paragraph's ``Changes.heard_at`` as stored; [] for a segment.
    """

    source_id: str
    kind: SourceKind
    text: str
    snippet: str
    score: float
    start: Optional[float] = None
    end: Optional[float] = None
    jump_in: Optional[float] = None
    record: Optional[Source] = None
    embedded_in: list[Source] = field(default_factory=list)
    match: MatchKind = "exact"
    heard_at: list[HeardAt] = field(default_factory=list)


class Backend(Protocol):
    """Storage and search of sources' records and documents (see the module's contract)."""

    def write(self, plan: Callable[[Lookup], Changes]) -> Changes:
        """Run ``plan`` under the writers' lock and commit the changes it returns; returns them.

        Creates the index if there is none. Raises IndexUnavailableError when the storage cannot
        be written or the lock is not had within the backend's time-out.
        """
        ...

    def source(self, source_id: str) -> Optional[Source]:
        """The stored record of ``source_id``, or None."""
        ...

    def sources(self) -> list[Source]:
        """Every stored record, in any order."""
        ...

    def segments(self, source_id: str) -> list[Segment]:
        """An audio source's stored segments in order, with their words; [] if it has none."""
        ...

    def stored_words(self, source_id: str) -> list[list[StoredWord]]:
        """An audio source's stored words, one list per segment in order (aliases included)."""
        ...

    def paragraphs(self, source_id: str) -> list[str]:
        """An article's stored paragraphs in order; [] if it has none."""
        ...

    def search(self, query: str, *, limit: int, kind: Optional[SourceKind] = None) -> list[Match]:
        """The best ``limit`` documents for ``query`` (already checked by ``query.check``), best first.

        ``kind`` keeps only documents of that kind. Records are never matched. A query word also
        matches its normal forms (indexer.normalise) and the words' aliases (match "article").
        Where no audio matched otherwise, a backend may add sound-alike matches (match
        "sounds-like", indexer.soundalike) after the others.
        """
        ...

    def close(self) -> None:
        """Release open readers and connections; the backend may not be used afterwards."""
        ...
