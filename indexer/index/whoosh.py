"""The Whoosh backend: the index as files in one directory.

One Whoosh document per transcript segment (doc_type "segment") and per article paragraph
("paragraph"), plus one record document per source ("source") that carries its metadata and links.
Every write happens in one writer commit: Whoosh writes new index files and switches its table
of contents last, so after a crash the index holds either the old or the new version of a source,
never half of it. The files are synced before and after that switch (see :class:`SyncedStorage`).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import struct
import threading
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional, TypeVar

from whoosh import highlight, qparser
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemmingAnalyzer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, FileIndex, LockError
from whoosh.query import And, NullQuery, Or, Prefix, Term, Wildcard
from whoosh.reading import ReaderClosed
from whoosh.searching import Searcher
from whoosh.util.filelock import try_for

from .. import soundalike
from ..errors import IndexUnavailableError, NoIndexError, QueryError
from ..models import HeardAt, Segment, Source, SourceKind
from ..normalise import normalising_analyzer
from . import marks
from .backend import Changes, Lookup, Match, StoredWord
from .marks import corrected_text

logger = logging.getLogger("indexer")

__all__ = ["WhooshBackend", "SyncedStorage"]

# Whoosh 2.7.4 (2016) is the last release of the original project. It still runs on current Python,
# and the forks are either archived or one person's; it is pinned and kept behind this module.
SEGMENT, PARAGRAPH, RECORD = "segment", "paragraph", "source"
INDEX_NAME = "MAIN"
# Whoosh pools postings in memory up to this before spilling to disk (its default is 128 MB): at the
# end of a long file this pool was the ingest's peak ("Index: writer memory" in bench/RESULTS.md).
WRITER_LIMIT_MB = 4
# How long a writer waits for another process's commit to finish.
LOCK_TIMEOUT_SECONDS = 60.0

T = TypeVar("T")

# A query's words are looked for as heard or written, in their normal forms ("14" for "fourteen"),
# and as aligned articles spell words heard differently.
SEARCH_FIELDS = ("text", "norm", "aliases")

# What reading a damaged index file or table of contents raises inside Whoosh.
_DAMAGED = (EOFError, struct.error, pickle.UnpicklingError, ValueError, IndexError, KeyError, TypeError)
# What Whoosh's parser and matchers raise on queries it cannot handle (its parser never fails cleanly).
_QUERY_CRASHES = (IndexError, KeyError, AssertionError, ValueError, TypeError, UnicodeDecodeError, AttributeError)


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
        # A segment's words in the spellings of the articles aligned with it (indexer.alignment),
        # where any word was heard differently; searched with text.
        aliases=TEXT(analyzer=normalising_analyzer(), phrase=True),
        **_aligned_fields(),
        # The norm terms a document has that its text terms lack ("fourteen" for "14"). Where no
        # document has a query word's term here, the word's norm clause matches only what its text
        # clause matches and is left out of the search (_lean). Only in indexes created with it: an
        # older index's documents never filled it.
        norm_only=KEYWORD(scorable=False),
        # A segment's heard words and joined pairs after their Metaphone codes (soundalike.sound_terms):
        # the sound-alike fallback finds its candidates by code. Only in indexes created with it; an
        # older index's fallback reads every heard word and pair (seconds at 100k segments).
        sounds=KEYWORD(lowercase=False, scorable=False),
        start=NUMERIC(float, stored=True),
        end=NUMERIC(float, stored=True),
        seq=NUMERIC(int, stored=True),
        words=STORED,
        record=STORED,
    )


def _aligned_fields() -> dict:
    """Fields for article-informed search; an index made before them gets them when opened."""
    return {
        # The words in their normal forms (indexer.normalise): "14" finds "fourteen", "litres" "liters".
        "norm": TEXT(analyzer=normalising_analyzer(), phrase=True),
        # On a paragraph: where it is spoken, [{"source_id", "audio", "start", "end"}].
        "heard_at": STORED,
        # On a segment: adjacent heard words joined, for sound-alike matching (indexer.soundalike).
        "pairs": KEYWORD(lowercase=True),
    }


def _add_aligned_fields(ix: FileIndex) -> None:
    writer = ix.writer(timeout=LOCK_TIMEOUT_SECONDS)
    # The schema as of the lock: another process may have added the fields meanwhile.
    missing = {name: f for name, f in _aligned_fields().items() if name not in writer.schema}
    if not missing:
        writer.cancel()
        return
    for name, f in missing.items():
        writer.add_field(name, f)
    writer.commit()


class SyncedStorage(FileStorage):
    """Whoosh's file storage, made durable: a commit's files reach the disk before the table of
    contents that names them, and the new table of contents before the commit returns.

    Whoosh writes a commit's index files, then a temporary table of contents, and renames it into place.
    Without a sync, a power cut can leave a renamed table of contents that points at data still in
    the page cache. Cost per commit: "Reliability" in bench/RESULTS.md.
    """

    def __init__(self, path: str):
        # Reading index files instead of mapping them: a search from the command line opens the
        # index cold every time, and mapping made that slower ("Index: search" in bench/RESULTS.md).
        super().__init__(path, supports_mmap=False)
        self._written: set[str] = set()

    def create_file(self, name, excl=False, mode="wb", **kwargs):
        self._written.add(name)
        return super().create_file(name, excl=excl, mode=mode, **kwargs)

    def rename_file(self, oldname, newname, safe=False):
        if not newname.endswith(".toc"):
            return super().rename_file(oldname, newname, safe=safe)
        for name in sorted(self._written):
            _sync_file(self._fpath(name))
        self._written.clear()
        _sync_file(self.folder, directory=True)
        super().rename_file(oldname, newname, safe=safe)
        _sync_file(self.folder, directory=True)


def _sync_file(path: str, *, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    except FileNotFoundError:
        return  # a part Whoosh already merged into a compound file and deleted
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WhooshBackend:
    """The index in ``directory`` (see :class:`~indexer.index.backend.Backend` for the contract).

    Nothing is created until the first write; reading where there is no index raises
    NoIndexError. One searcher serves every read and is replaced when another commit has landed;
    reads from several threads take turns.
    """

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self._storage = SyncedStorage(str(self.directory))
        self._ix: Optional[FileIndex] = None
        self._lock = threading.Lock()
        self._searcher: Optional[Searcher] = None
        self._schema: Optional[Schema] = None
        self._closed = False

    # -- opening ---------------------------------------------------------------------------------

    def _exists(self) -> bool:
        if not self.directory.is_dir():
            return False
        if not os.access(self.directory, os.R_OK | os.X_OK):
            raise PermissionError(13, "permission denied")
        return TOC._latest_generation(self._storage, INDEX_NAME) >= 0

    def _index(self, *, create: bool = False) -> FileIndex:
        if self._closed:
            raise IndexUnavailableError(f"{self.directory}: the index was closed")
        if self._ix is not None:
            return self._ix
        try:
            if not self._exists():
                if not create:
                    raise NoIndexError(f"no index in {self.directory}: ingest something first")
                self._create()
            ix = FileIndex(self._storage, schema=None, indexname=INDEX_NAME)
            if any(name not in ix.schema for name in _aligned_fields()) and os.access(self.directory, os.W_OK):
                _add_aligned_fields(ix)
                ix = FileIndex(self._storage, schema=None, indexname=INDEX_NAME)
            self._ix = ix
            self._schema = self._ix.schema  # read once: every access reads the table of contents
        except OSError as e:
            raise IndexUnavailableError(f"cannot use index directory {self.directory}: {e.strerror or e}") from e
        except _DAMAGED + (pickle.PickleError,) as e:
            raise IndexUnavailableError(f"{self.directory}: not a readable index ({type(e).__name__})") from e
        except LockError as e:
            raise IndexUnavailableError(f"{self.directory}: the index is locked by another writer") from e
        return self._ix

    def _create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK):
            raise PermissionError(13, "permission denied")
        # Under the writers' lock: another process may be creating it too, and creating clears
        # whatever index files are there.
        lock = self._storage.lock(f"{INDEX_NAME}_WRITELOCK")
        if not try_for(lock.acquire, timeout=LOCK_TIMEOUT_SECONDS, delay=0.1):
            raise IndexUnavailableError(f"{self.directory}: the index is locked by another writer")
        try:
            if not self._exists():
                TOC.create(self._storage, _schema(), INDEX_NAME)
        finally:
            lock.release()

    # -- writing ---------------------------------------------------------------------------------

    def write(self, plan: Callable[[Lookup], Changes]) -> Changes:
        ix = self._index(create=True)
        if not os.access(self.directory, os.W_OK):
            raise IndexUnavailableError(f"cannot write to index directory {self.directory}: permission denied")
        try:
            writer = ix.writer(timeout=LOCK_TIMEOUT_SECONDS, limitmb=WRITER_LIMIT_MB)
        except LockError as e:
            raise IndexUnavailableError(f"{self.directory}: the index is locked by another writer") from e
        except OSError as e:
            raise IndexUnavailableError(f"cannot write to index directory {self.directory}: {e.strerror or e}") from e
        try:
            # The writer read the table of contents after taking the lock: this is the latest commit.
            with writer.searcher() as current:
                changes = plan(lambda source_id: _record(current, source_id))
            _apply(writer, changes)
        except BaseException:
            writer.cancel()
            raise
        try:
            writer.commit()
        except OSError as e:
            raise IndexUnavailableError(f"cannot write to index directory {self.directory}: {e.strerror or e}") from e
        return changes

    # -- reading ---------------------------------------------------------------------------------

    def _read(self, read: Callable[[Searcher], T]) -> T:
        """``read`` with one searcher; once more with a fresh one if a commit removed files under it."""
        ix = self._index()
        # One read at a time: Whoosh's readers seek and read shared file objects without a lock.
        with self._lock:
            for attempt in (1, 2):
                searcher = self._current(ix, fresh=attempt > 1)
                try:
                    return read(searcher)
                except (ReaderClosed, FileNotFoundError) as e:
                    if attempt > 1:
                        raise IndexUnavailableError(f"{self.directory}: index file missing ({_name(e)})") from e
                    logger.debug("index changed under a reader (%s); reading again", e)
                except OSError as e:
                    raise IndexUnavailableError(f"cannot read index directory {self.directory}: {e.strerror or e}") from e
        raise AssertionError("unreachable")

    def _current(self, ix: FileIndex, *, fresh: bool) -> Searcher:
        """The searcher on the latest commit: the open one if nobody committed since, else a new one.

        A new one takes over the open one's readers of the files the commit kept (and closes the
        others); ``fresh`` opens every file again.
        """
        current = self._searcher
        if current is not None and not fresh and ix.latest_generation() == current.reader().generation():
            return current
        reuse = current.reader() if current is not None and not fresh else None
        if fresh and current is not None:
            _close(current)
        self._searcher = None
        try:
            # Whoosh retries a table of contents or index file that a commit deleted meanwhile.
            self._searcher = Searcher(ix.reader(reuse=reuse), fromindex=ix)
        except FileNotFoundError as e:
            raise IndexUnavailableError(f"{self.directory}: index file missing ({_name(e)})") from e
        except _DAMAGED + (pickle.PickleError,) as e:
            raise IndexUnavailableError(f"{self.directory}: the index is damaged ({type(e).__name__}: {e})") from e
        return self._searcher

    def close(self) -> None:
        with self._lock:
            if self._searcher is not None:
                _close(self._searcher)
            self._searcher = None
            self._closed = True

    def source(self, source_id: str) -> Optional[Source]:
        return self._read(lambda searcher: _record(searcher, source_id))

    def sources(self) -> list[Source]:
        return self._read(lambda searcher: [_load_record(d) for d in searcher.documents(doc_type=RECORD)])

    def segments(self, source_id: str) -> list[Segment]:
        def read(searcher: Searcher) -> list[Segment]:
            docs = sorted(searcher.documents(source_id=source_id, doc_type=SEGMENT), key=lambda d: d["seq"])
            return [
                Segment(
                    start=d["start"],
                    end=d["end"],
                    text=d["text"],
                    words=[StoredWord.load(w).to_word() for w in d.get("words") or []],
                )
                for d in docs
            ]

        return self._read(read)

    def stored_words(self, source_id: str) -> list[list[StoredWord]]:
        def read(searcher: Searcher) -> list[list[StoredWord]]:
            docs = sorted(searcher.documents(source_id=source_id, doc_type=SEGMENT), key=lambda d: d["seq"])
            return [[StoredWord.load(w) for w in d.get("words") or []] for d in docs]

        return self._read(read)

    def paragraphs(self, source_id: str) -> list[str]:
        def read(searcher: Searcher) -> list[str]:
            docs = sorted(searcher.documents(source_id=source_id, doc_type=PARAGRAPH), key=lambda d: d["seq"])
            return [d["text"] for d in docs]

        return self._read(read)

    def search(self, query: str, *, limit: int, kind: Optional[SourceKind] = None) -> list[Match]:
        parsed = self._parse(query)
        if kind is not None:
            # In the query rather than as a filter: Whoosh turns a filter into the set of every
            # document it matches before searching, which cost more than the search itself.
            parsed = And([parsed, Term("kind", kind)])

        def read(searcher: Searcher) -> list[Match]:
            try:
                matches = _search(searcher, parsed, limit)
                if kind in (None, "audio") and len(matches) < limit and not any(m.kind == "audio" for m in matches):
                    # Only where nothing is heard as written or aligned; below every other match.
                    matches += self._sounds_like(searcher, query, limit - len(matches), matches)
                return matches
            except _QUERY_CRASHES as e:
                raise QueryError(f"cannot run query {query!r}: {type(e).__name__} in the search engine") from e

        return self._read(read)

    def _parse(self, text: str):
        self._index()
        parser = qparser.MultifieldParser(list(SEARCH_FIELDS), self._schema)
        try:
            query = parser.parse(text)
        except _QUERY_CRASHES as e:
            raise QueryError(f"malformed query {text!r}") from e
        if query is NullQuery:
            raise QueryError(f"query {text!r} has no searchable words (only stop words or operators)")
        return query.accept(_also_unstemmed)

    def _sounds_like(self, searcher: Searcher, text: str, limit: int, found: list[Match]) -> list[Match]:
        """Audio matches for rare query words heard as words (or word pairs) that sound like them."""
        words = soundalike.plain_words(text)
        if not words or not any(soundalike.eligible(w) for w in words):
            return []
        reader = searcher.reader()
        clauses: list = []  # one per query word that requires something
        alike: dict[str, str] = {}  # each heard term and the query word it sounds like
        heard: list[tuple[int, Term]] = []  # each heard term, after its word's place in clauses
        for word in words:
            if not soundalike.eligible(word):
                try:
                    clauses.append(self._parse(word))
                except QueryError:
                    pass  # a stop word, which the query itself leaves out
                continue
            single, joined, terms = _sound_candidates(word, reader)
            if not single and not joined:
                return []
            alike.update({c: word for c in single | joined})
            heard += [(len(clauses), term) for term in terms]
            clauses.append(Or(terms))
        # Each heard term's best passages, at most as many as hits asked for, beside what the other
        # words require: a term heard in thousands of passages costs what a rare one does. A passage
        # ranks by the sum of its terms' scores.
        each = limit + len(found)
        scores: dict[int, float] = {}
        stored: dict[int, dict] = {}
        for own, term in heard:
            others = [clause for k, clause in enumerate(clauses) if k != own]
            for docnum, score in _first_audio_matches(searcher, And([term, *others]) if others else term, each, stored):
                scores[docnum] = scores.get(docnum, 0.0) + score
        seen = {(m.source_id, m.start) for m in found}
        matches: list[Match] = []
        for docnum, score in sorted(scores.items(), key=lambda scored: (-scored[1], scored[0])):
            hit = stored[docnum]
            if (hit["source_id"], hit["start"]) in seen:
                continue
            jump, snippet = _mark_sounds_like(hit, alike)
            matches.append(_match(searcher, hit, snippet, score, jump, "sounds-like"))
            if len(matches) == limit:
                break
        return matches


def _first_audio_matches(searcher: Searcher, query, count: int, stored: dict[int, dict]) -> Iterator[tuple[int, float]]:
    """The first ``count`` audio passages ``query`` matches, in index order, with their scores; their
    stored fields go into ``stored``. Read without ranking every match (a heard word can be in a
    hundred thousand passages), and the kind told from the stored fields: intersected with the
    kind's term, Whoosh would walk that term's postings block by block up to the first match."""
    for subsearcher, offset in searcher.leaf_searchers():
        matcher = query.matcher(subsearcher, searcher.context())
        while count and matcher.is_active():
            docnum = offset + matcher.id()
            fields = stored.get(docnum) or searcher.stored_fields(docnum)
            if fields.get("kind") == "audio" and fields.get("doc_type") != RECORD:
                stored[docnum] = fields
                yield docnum, matcher.score()
                count -= 1
            matcher.next()


def _sound_fields(schema: Schema, words) -> dict:
    """A segment's fields for the sound-alike fallback: ``sounds`` where the index has it, else ``pairs``."""
    heard = [w.word for w in words]
    if "sounds" in schema:
        return {"sounds": soundalike.sound_terms(heard)}
    return {"pairs": soundalike.joined_pairs(heard)}


def _sound_candidates(word: str, reader) -> tuple[set[str], set[str], list[Term]]:
    """Heard words and joined pairs that sound like ``word``, and the terms that find them."""
    if "sounds" in reader.schema:
        code = soundalike.metaphone(soundalike.letters(word))

        def heard(prefix: str) -> list[str]:
            return [t.decode().split(".", 1)[1] for t in reader.expand_prefix("sounds", prefix)]

        singles = [w for near in sorted(soundalike.near_codes(code)) for w in heard(f"s{near}.")]
        single = soundalike.sounds_like(word, singles)
        joined = soundalike.sounds_like(word, heard(f"p{code}."), pairs=True)
        return (
            single,
            joined,
            [Term("exact", c) for c in sorted(single)] + [Term("sounds", f"p{code}.{c}") for c in sorted(joined)],
        )
    single = soundalike.sounds_like(word, (t.decode() for t in reader.lexicon("exact")))
    # An index opened read-only from before the pairs field has none.
    pairs = reader.lexicon("pairs") if "pairs" in reader.schema else ()
    joined = soundalike.sounds_like(word, (t.decode() for t in pairs), pairs=True)
    return single, joined, [Term("exact", c) for c in sorted(single)] + [Term("pairs", c) for c in sorted(joined)]


def _close(searcher: Searcher) -> None:
    """Close a searcher's readers that are still open (a failed refresh may have closed some)."""
    for reader, _ in searcher.reader().leaf_readers():
        if not getattr(reader, "is_closed", False):
            reader.close()


# -- writing helpers ------------------------------------------------------------------------------


# Records read through each searcher: a searcher reads one commit, so they stay true while it
# lives, and a long-lived reader (indexer serve) looks each up once (a lookup costs ~1.5 ms).
_RECORDS: "weakref.WeakKeyDictionary[Searcher, dict[str, Optional[Source]]]" = weakref.WeakKeyDictionary()


def _record(searcher: Searcher, source_id: str) -> Optional[Source]:
    known = _RECORDS.setdefault(searcher, {})
    if source_id not in known:
        stored = searcher.document(doc_type=RECORD, source_id=source_id)
        known[source_id] = _load_record(stored) if stored else None
    return known[source_id]


def _load_record(stored: dict) -> Source:
    return Source.from_dict(json.loads(stored["record"]))


def _apply(writer, changes: Changes) -> None:
    for source_id in changes.removed:
        writer.delete_by_term("source_id", source_id)
    for source in changes.records:
        if source.id in changes.transcripts or source.id in changes.articles:
            writer.delete_by_term("source_id", source.id)
        else:
            writer.delete_by_query(And([Term("source_id", source.id), Term("doc_type", RECORD)]))
        writer.add_document(doc_type=RECORD, source_id=source.id, kind=source.kind, record=json.dumps(source.to_dict()))
        if source.id in changes.transcripts:
            named = changes.aliases.get(source.id, {})
            for seq, segment in enumerate(changes.transcripts[source.id].segments):
                alias_at = dict(named.get(seq, []))
                stored = [StoredWord.of(w, alias_at.get(i)) for i, w in enumerate(segment.words)]
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
                    words=[w.dump() for w in stored],
                    aliases=corrected_text(stored) if alias_at else "",
                    norm=segment.text,
                    norm_only=_norm_only(segment.text),
                    **_sound_fields(writer.schema, segment.words),
                )
        if source.id in changes.articles:
            heard = changes.heard_at.get(source.id, {})
            for seq, paragraph in enumerate(changes.articles[source.id].paragraphs):
                writer.add_document(
                    heard_at=[h.to_dict() for h in heard.get(seq, [])],
                    norm=paragraph,
                    norm_only=_norm_only(paragraph),
                    doc_type=PARAGRAPH,
                    source_id=source.id,
                    kind="article",
                    title=source.title,
                    text=paragraph,
                    exact=paragraph,
                    seq=seq,
                )


_NORM_ANALYZER = normalising_analyzer()
_TEXT_ANALYZER = _stemming_analyzer()


def _norm_only(text: str) -> str:
    """The ``norm_only`` field's terms of a document's text."""
    norm: set[str] = set()
    plain: set[str] = set()
    for word in text.split():  # no token spans a space: analysing word by word gives the same terms
        n, p = _terms(word)
        norm |= n
        plain |= p
    return " ".join(sorted(norm - plain))


@lru_cache(maxsize=65536)
def _terms(word: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(t.text for t in _NORM_ANALYZER(word)), frozenset(t.text for t in _TEXT_ANALYZER(word))


# -- searching helpers ----------------------------------------------------------------------------


def _search(searcher: Searcher, query, limit: int) -> list[Match]:
    # The query's terms as indexed, prefixes expanded. Asking the collector for each hit's
    # matched terms instead (terms=True) made every query slower ("Index: search" in bench/RESULTS.md).
    reader = searcher.reader()
    matched = _query_terms(query, reader)
    return [match for match, _ in _matches(searcher, _lean(query, reader), limit, matched)]


def _lean(query, reader):
    """``query`` without the norm clauses that can match nothing its text clauses do not.

    A word's clauses are ``text:t OR norm:n OR aliases:n``; when ``n == t`` and no document holds
    ``n`` in ``norm_only``, every document with ``norm:n`` also has ``text:t``. Scoring the same
    postings twice made a frequent word's search about twice as slow ("Web page" in bench/RESULTS.md).
    """
    if "norm_only" not in reader.schema:
        return query

    def needless(clause, texts: set[str]) -> bool:
        return (
            isinstance(clause, Term)
            and clause.fieldname == "norm"
            and clause.text in texts
            and reader.doc_frequency("norm_only", clause.text) == 0
        )

    def lean(node):
        if not isinstance(node, Or):
            return node
        texts = {c.text for c in node.subqueries if isinstance(c, Term) and c.fieldname == "text"}
        kept = [c for c in node.subqueries if not needless(c, texts)]
        if len(kept) == len(node.subqueries):
            return node
        return Or(kept, boost=node.boost)

    return query.accept(lean)


def _matches(searcher: Searcher, query, limit: int, matched: set[tuple[str, str]]):
    """(match, Whoosh hit) of the best ``limit`` documents for ``query``."""
    # Source records carry no text; masking them matters only for a bare "*" query.
    results = searcher.search(query, limit=limit, mask=Term("doc_type", RECORD))
    results.fragmenter = highlight.ContextFragmenter(maxchars=240, surround=60)
    results.formatter = _MarkFormatter()

    for result in results:
        if "text" not in result:
            continue  # a record that a negated query reached past the mask
        snippet = result.highlights("text", top=2)
        # A word heard differently and found under the aligned article's spelling (indexer.alignment).
        aliased = _alias_matches(result, matched)
        if aliased:
            snippet = marks.mark_aliases(snippet if "**" in snippet else result["text"], aliased)
        elif "**" not in snippet:
            # Matched through a normal form ("14" for "fourteen") or the title: nothing marked yet.
            snippet = _mark_normal_forms(result["text"], matched) or snippet or result["text"][:240]
        audio = result["kind"] == "audio"
        kind = marks.alias_match_kind(aliased) if aliased else "exact"
        yield _match(searcher, result, snippet, result.score, jump_in(result, matched) if audio else None, kind), result


def _match(searcher: Searcher, result, snippet: str, score: float, jump: Optional[float], kind: str) -> Match:
    """A hit as a :class:`Match`, with its source's record and those of the articles that embed it."""
    audio = result["kind"] == "audio"
    source = _record(searcher, result["source_id"])
    embedded_in = [_record(searcher, a) for a in source.article_ids] if source else []
    return Match(
        source_id=result["source_id"],
        kind=result["kind"],
        text=result["text"],
        snippet=snippet,
        score=round(float(score), 4),
        start=result["start"] if audio else None,
        end=result["end"] if audio else None,
        jump_in=jump,
        record=source,
        embedded_in=[r for r in embedded_in if r is not None],
        match=kind,
        heard_at=[HeardAt(**h) for h in result.get("heard_at") or []],
    )


# Fields whose terms are words (the others hold numbers as bytes, or ids).
_WORD_FIELDS = ("text", "exact", "aliases", "norm", "pairs", "title")


def _query_terms(query, reader) -> set[tuple[str, str]]:
    """(field, term) pairs the query can match in the word fields, prefixes and wildcards expanded.

    Whoosh's own ``Query.existing_terms`` reuses its ``fieldname`` argument as a loop variable, so
    after the first leaf it keeps only terms of that leaf's field and would drop the aliases.
    """
    terms = set()
    for leaf in query.leaves():
        for field, text in leaf.expanded_terms(reader):
            if field in _WORD_FIELDS:
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
    return word.start if word else result["start"]


def _first_matched_word(result, matched: set[tuple[str, str]]) -> Optional[StoredWord]:
    stemmed, exact, normal = _stemming_analyzer(), _exact_analyzer(), normalising_analyzer()
    for stored in result.get("words") or []:
        word = StoredWord.load(stored)
        if any(("text", t.text) in matched for t in stemmed(word.word)):
            return word
        if any(("exact", t.text) in matched for t in exact(word.word)):
            return word
        if word.spelling and any(("aliases", t.text) in matched for t in normal(word.spelling)):
            return word
        if any(("norm", t.text) in matched for t in normal(word.word)):
            return word
    return None


def _alias_matches(result, matched: set[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """(heard, article spelling, given by sound) of the words in an audio hit that matched only as the article spells them."""
    words = [StoredWord.load(w) for w in result.get("words") or []]
    return marks.alias_matches(words, lambda token: ("aliases", token) in matched)


def _mark_sounds_like(result, alike: dict[str, str]) -> tuple[float, str]:
    """Jump-in and snippet of a sound-alike hit: the heard word (or pair) marked, the query word beside it."""
    words = [StoredWord.load(w) for w in result.get("words") or []]
    return marks.mark_sounds_like(words, result["start"], result["text"], alike)


def _mark_normal_forms(text: str, matched: set[tuple[str, str]]) -> Optional[str]:
    """``text`` with the words marked whose normal forms the query matched (``14`` for "fourteen")."""
    return marks.mark_normal_forms(text, lambda token: ("norm", token) in matched)


def _name(error: OSError | ReaderClosed) -> str:
    filename = getattr(error, "filename", None)
    return os.path.basename(filename) if filename else type(error).__name__


class _MarkFormatter(highlight.Formatter):
    """Marks matched terms as **term**: readable in a terminal and stable in JSON."""

    between = " … "

    def format_token(self, text, token, replace=False):
        return "**" + highlight.get_text(text, token, replace) + "**"
