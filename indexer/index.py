"""The full-text index: Whoosh behind one small interface.

One Whoosh document per transcript segment (kind "audio") and per article paragraph (kind "article"),
plus one record document per source that carries its metadata and links. Every change to a source
happens in one writer commit: Whoosh writes new segment files and switches its table of contents
last, so after a crash the index is readable and holds either the old or the new version of that
source, never half of it.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterable, Iterator, Optional

from whoosh import highlight, qparser
from whoosh import index as whoosh_index
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemmingAnalyzer
from whoosh.fields import ID, NUMERIC, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.query import And, NullQuery, Or, Prefix, Term, Wildcard

from .errors import IndexUnavailableError, NotFoundError, QueryError
from .models import Article, Hit, Segment, Source, Transcript, Word

logger = logging.getLogger("indexer")

# Whoosh 2.7.4 (2016) is the last release of the original project. It still runs on current Python,
# and the forks are either archived or one person's; it is pinned and kept behind this module.
SEGMENT, PARAGRAPH, RECORD = "segment", "paragraph", "source"
# Whoosh pools postings in memory up to this before spilling to disk (its default is 128 MB). Writing
# a 3-hour transcript (1461 segments) in one commit raised RSS by 53 MB with the default, 34 MB at
# 16 and 5 MB at 4, in the same ~11 s: at the end of a long file this was the peak of the ingest.
WRITER_LIMIT_MB = 4


# Whoosh's default token, \w+(\.?\w+)*, keeps "U.S.", "3.5" and "p.m" whole but also joins two
# sentences that lost their space ("said.Mateen"): a dot before a capitalised word ends the token.
TOKEN_EXPRESSION = r"\w+(?:\.(?![A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ])\w+)*"


def _exact_analyzer():
    return RegexTokenizer(TOKEN_EXPRESSION) | LowercaseFilter()


def _stemming_analyzer():
    return StemmingAnalyzer(expression=TOKEN_EXPRESSION)


def _schema() -> Schema:
    # Lower-casing, English stop words and Porter stemming: "troops" finds "troop", "talks" finds "talk".
    analyzer = _stemming_analyzer()
    return Schema(
        doc_type=ID(stored=True),
        source_id=ID(stored=True),
        kind=ID(stored=True),
        title=TEXT(analyzer=analyzer),
        text=TEXT(stored=True, analyzer=analyzer, phrase=True),
        # The same words unstemmed, for prefix and wildcard queries: "negotiat*" must find
        # "negotiators", whose stem is "negoti".
        exact=TEXT(analyzer=_exact_analyzer(), phrase=False),
        # Article spellings of names the recogniser misheard (align.name_aliases), searched with text.
        aliases=TEXT(analyzer=analyzer, phrase=True),
        start=NUMERIC(float, stored=True),
        end=NUMERIC(float, stored=True),
        seq=NUMERIC(int, stored=True),
        words=STORED,
        record=STORED,
    )


class TextIndex:
    """A Whoosh index in ``directory``, created on first use."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._open_searcher = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Reading segment files instead of mapping them: a search from the command line opens
            # the index cold every time, and mapping made that 3-6x slower (bench/RESULTS.md).
            storage = FileStorage(str(self.directory), supports_mmap=False)
            if whoosh_index.exists_in(str(self.directory)):
                self._ix = storage.open_index()
            else:
                if not os.access(self.directory, os.W_OK):
                    raise PermissionError(13, "permission denied")
                self._ix = storage.create_index(_schema())
        except OSError as e:
            raise IndexUnavailableError(f"cannot use index directory {self.directory}: {e.strerror or e}") from e
        except whoosh_index.IndexError as e:
            raise IndexUnavailableError(f"{self.directory}: not a readable index ({e})") from e

    # -- writing ---------------------------------------------------------------------------------

    @contextmanager
    def _writer(self):
        from whoosh.index import LockError

        if not os.access(self.directory, os.W_OK):
            raise IndexUnavailableError(f"cannot write to index directory {self.directory}: permission denied")
        try:
            writer = self._ix.writer(timeout=60.0, limitmb=WRITER_LIMIT_MB)
        except LockError as e:
            raise IndexUnavailableError(f"{self.directory}: the index is locked by another writer") from e
        except OSError as e:
            raise IndexUnavailableError(f"cannot write to index directory {self.directory}: {e.strerror or e}") from e
        try:
            yield writer
        except BaseException:
            writer.cancel()
            raise
        else:
            try:
                writer.commit()
            except OSError as e:
                raise IndexUnavailableError(f"cannot write to index directory {self.directory}: {e.strerror or e}") from e

    def write(
        self,
        sources: Iterable[Source],
        transcripts: dict[str, Transcript] | None = None,
        articles: dict[str, Article] | None = None,
        aliases: dict[str, dict[int, list[tuple[int, str]]]] | None = None,
    ) -> None:
        """Replace each source's record, and its segments or paragraphs when given, in one commit.

        A source passed without a transcript or article keeps its indexed documents and only has its
        record replaced (that is how links between articles and audio are updated). ``aliases`` maps
        an audio source to the names its segments' words are also indexed under
        (segment index -> [(word index, name)]).
        """
        transcripts = transcripts or {}
        articles = articles or {}
        aliases = aliases or {}
        with self._writer() as writer:
            for source in sources:
                if source.id in transcripts or source.id in articles:
                    writer.delete_by_term("source_id", source.id)
                else:
                    self._delete_record(writer, source.id)
                writer.add_document(
                    doc_type=RECORD, source_id=source.id, kind=source.kind, record=json.dumps(source.to_dict())
                )
                if source.id in transcripts:
                    named = aliases.get(source.id, {})
                    for seq, segment in enumerate(transcripts[source.id].segments):
                        alias_at = dict(named.get(seq, []))
                        stored_words = [[w.start, w.end, w.word, w.probability] for w in segment.words]
                        for position, name in alias_at.items():
                            stored_words[position].append(name)
                        writer.add_document(
                            doc_type=SEGMENT,
                            source_id=source.id,
                            kind="audio",
                            title=source.title,
                            text=segment.text,
                            exact=segment.text,
                            start=segment.start,
                            end=segment.end,
                            seq=seq,
                            words=stored_words,
                            aliases=" ".join(alias_at.values()),
                        )
                if source.id in articles:
                    article = articles[source.id]
                    for seq, paragraph in enumerate(article.paragraphs):
                        writer.add_document(
                            doc_type=PARAGRAPH,
                            source_id=source.id,
                            kind="article",
                            title=source.title,
                            text=paragraph,
                            exact=paragraph,
                            seq=seq,
                        )

    @staticmethod
    def _delete_record(writer, source_id: str) -> None:
        writer.delete_by_query(And([Term("source_id", source_id), Term("doc_type", RECORD)]))

    def remove(self, source_ids: Iterable[str], updated: Iterable[Source] = ()) -> None:
        """Delete sources and everything indexed for them; rewrite the ``updated`` records; one commit."""
        with self._writer() as writer:
            for source_id in source_ids:
                writer.delete_by_term("source_id", source_id)
            for source in updated:
                self._delete_record(writer, source.id)
                writer.add_document(
                    doc_type=RECORD, source_id=source.id, kind=source.kind, record=json.dumps(source.to_dict())
                )

    # -- reading ---------------------------------------------------------------------------------

    def _searcher(self):
        """The open searcher, refreshed if anyone (this process or another) committed since.

        Opening a searcher maps every segment file again: a quarter of a query's time at 20k segments.
        """
        if self._open_searcher is None:
            self._open_searcher = self._ix.searcher()
        else:
            # Not closed when replaced: the fresh searcher reuses the unchanged segments' readers.
            self._open_searcher = self._open_searcher.refresh()
        return nullcontext(self._open_searcher)

    def close(self) -> None:
        if self._open_searcher is not None:
            self._open_searcher.close()
            self._open_searcher = None

    def source(self, source_id: str) -> Optional[Source]:
        with self._searcher() as searcher:
            return self._source(searcher, source_id)

    @staticmethod
    def _source(searcher, source_id: str) -> Optional[Source]:
        stored = searcher.document(doc_type=RECORD, source_id=source_id)
        return Source.from_dict(json.loads(stored["record"])) if stored else None

    def sources(self) -> list[Source]:
        with self._searcher() as searcher:
            records = [Source.from_dict(json.loads(d["record"])) for d in searcher.documents(doc_type=RECORD)]
        return sorted(records, key=lambda s: (s.kind != "article", s.title.lower(), s.id))

    def transcript(self, source_id: str) -> Transcript:
        with self._searcher() as searcher:
            source = self._source(searcher, source_id)
            if source is None:
                raise NotFoundError(f"no source {source_id!r} in the index")
            if source.kind != "audio":
                raise NotFoundError(f"{source_id} is an article, not audio; its audio: {', '.join(source.audio_ids) or 'none'}")
            docs = sorted(searcher.documents(source_id=source_id, doc_type=SEGMENT), key=lambda d: d["seq"])
        segments = [
            Segment(
                start=d["start"],
                end=d["end"],
                text=d["text"],
                words=[Word(start=w[0], end=w[1], word=w[2], probability=w[3]) for w in d.get("words") or []],
            )
            for d in docs
        ]
        return Transcript(
            segments=segments,
            language=source.language or "",
            duration=source.duration or 0.0,
            source_id=source_id,
        )

    def search(self, text: str, *, limit: int = 10, kind: Optional[str] = None) -> list[Hit]:
        """Run a Whoosh-syntax query over segments and paragraphs; best hits first."""
        query = self._parse(text)
        if kind is not None:
            # In the query rather than as a filter: Whoosh turns a filter into the set of every
            # document it matches before searching, which cost more than the search itself.
            query = And([query, Term("kind", kind)])
        hits: list[Hit] = []
        with self._searcher() as searcher:
            # Source records carry no text; masking them matters only for a bare "*" query.
            records_mask = Term("doc_type", RECORD)
            results = searcher.search(query, limit=limit, mask=records_mask)
            results.fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
            results.formatter = _MarkFormatter()
            # The query's terms as indexed, prefixes expanded. Asking the collector for each hit's
            # matched terms instead (terms=True) made every query 40 % slower.
            matched = _query_terms(query, searcher.reader())
            records: dict[str, Optional[Source]] = {}
            for result in results:
                source_id = result["source_id"]
                if source_id not in records:
                    records[source_id] = self._source(searcher, source_id)
                hits.append(self._hit(result, records, matched))
        return hits

    def _hit(self, result, records: dict[str, Optional[Source]], matched: set[tuple[str, str]]) -> Hit:
        source = records[result["source_id"]]
        snippet = result.highlights("text", top=2)
        if "**" not in snippet:
            # Matched through a name alias (or the title): Whoosh found nothing to mark in the text.
            snippet = _mark_alias_match(result, matched) or snippet or result["text"][:240]
        title = source.title if source else ""
        location = source.location if source else None
        if result["kind"] == "audio":
            # An embedded audio hit is shown as a moment of the article that embeds it.
            article = records.get(source.article_ids[0]) if source and source.article_ids else None
            if source and source.article_ids and article is None:
                article = self.source(source.article_ids[0])
            hit = Hit(
                kind="audio",
                source_id=result["source_id"],
                title=article.title if article else title,
                text=result["text"],
                snippet=snippet,
                score=round(float(result.score), 4),
                audio=location,
                start=jump_in(result, matched),
                end=result["end"],
                location=article.location if article else location,
                date=article.date if article else (source.date if source else None),
            )
        else:
            hit = Hit(
                kind="article",
                source_id=result["source_id"],
                title=title,
                text=result["text"],
                snippet=snippet,
                score=round(float(result.score), 4),
                location=location,
                date=source.date if source else None,
            )
        return hit

    def _parse(self, text: str):
        check_query_syntax(text)
        parser = qparser.MultifieldParser(["text", "aliases"], self._ix.schema)
        query = parser.parse(text)
        if query is NullQuery:
            raise QueryError(f"query {text!r} has no searchable words (only stop words or operators)")
        return query.accept(_also_unstemmed)

    def doc_count(self) -> int:
        return self._ix.doc_count()


def _query_terms(query, reader) -> set[tuple[str, str]]:
    """(field, term) pairs the query can match, prefixes and wildcards expanded.

    Whoosh's own ``Query.existing_terms`` reuses its ``fieldname`` argument as a loop variable, so
    after the first leaf it keeps only terms of that leaf's field and would drop the aliases.
    """
    terms = set()
    for leaf in query.leaves():
        for field, text in leaf.expanded_terms(reader):
            terms.add((field, text.decode("utf-8") if isinstance(text, bytes) else text))
    return terms


def _also_unstemmed(query):
    """Prefix and wildcard terms are not stemmed, so they also look among the unstemmed words."""
    if isinstance(query, (Prefix, Wildcard)) and query.fieldname == "text":
        return Or([query, type(query)("exact", query.text)])
    return query


def jump_in(result, matched: set[tuple[str, str]]) -> float:
    """Where to start listening: the start of the first word in the segment that the query matched.

    ``matched`` holds (field, term) pairs; a word matches when it analyses to one of them the way
    that field analyses text.
    """
    word = _first_matched_word(result, matched)
    return word[0] if word else result["start"]


def _first_matched_word(result, matched: set[tuple[str, str]]) -> Optional[list]:
    stemmed, exact = _stemming_analyzer(), _exact_analyzer()
    for stored in result.get("words") or []:
        spoken = stored[2]
        if any(("text", t.text) in matched for t in stemmed(spoken)):
            return stored
        if any(("exact", t.text) in matched for t in exact(spoken)):
            return stored
        if len(stored) > 4 and any(("aliases", t.text) in matched for t in stemmed(stored[4])):
            return stored
    return None


def _mark_alias_match(result, matched: set[tuple[str, str]]) -> Optional[str]:
    """A snippet for a hit found through a name alias: the heard word marked, the name beside it."""
    word = _first_matched_word(result, matched)
    if not word or len(word) < 5:
        return None
    text = result["text"]
    at = text.find(word[2])
    if at < 0:
        return None
    return f"{text[:at]}**{word[2]}** ({word[4]}){text[at + len(word[2]):]}"


def check_query_syntax(text: str) -> None:
    """Reject queries Whoosh would silently reinterpret: its parser never fails, it guesses."""
    stripped = text.strip()
    if not stripped:
        raise QueryError("empty query")
    if stripped.count('"') % 2:
        raise QueryError(f"malformed query {text!r}: unclosed quote")
    depth = 0
    for char in _outside_quotes(stripped):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        raise QueryError(f"malformed query {text!r}: unbalanced parentheses")
    words = stripped.split()
    if words[-1] in ("AND", "OR", "NOT", "ANDNOT", "ANDMAYBE") or words[0] in ("AND", "OR", "ANDNOT", "ANDMAYBE"):
        raise QueryError(f"malformed query {text!r}: an operator is missing a term")


def _outside_quotes(text: str) -> Iterator[str]:
    inside = False
    for char in text:
        if char == '"':
            inside = not inside
        elif not inside:
            yield char


class _MarkFormatter(highlight.Formatter):
    """Marks matched terms as **term**: readable in a terminal and stable in JSON."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return "**" + highlight.get_text(text, token, replace) + "**"
