"""The PostgreSQL backend: the index in a database that many machines write and search at once.

Same contract as the Whoosh backend (:mod:`indexer.index.backend`): one row per source record, one
row per transcript segment or article paragraph, searched through one tsvector column with a GIN
index (:mod:`.schema`). A write is one transaction: readers see the old or the new version of a
source, never half of it, and never wait for a writer (PostgreSQL's MVCC). Instead of Whoosh's one
writers' lock, a write locks only the ids it reads or writes (transaction advisory locks): writers
of different sources run side by side, and two that touch the same source take turns, so links
merged inside a write are never lost. Two writes that lock the same ids in opposite orders are
told apart by PostgreSQL's deadlock detection; the one it stops is run again from its plan.

Ranking is ``ts_rank_cd`` (cover density: how close together and how often the query's words occur
in the passage) divided by the passage's length, not Whoosh's BM25F: it has no inverse document
frequency, so in ``rare OR frequent`` a passage with the frequent word weighs as much as one with
the rare word, and repeated words do not saturate the way BM25's k1 makes them. Rare-term queries
return the same hits; "Scale" in bench/RESULTS.md says how far the order of frequent-term hits moves.

What alignment gives the index works as in Whoosh, with these differences in how:

- Normal forms ("14" and "fourteen", "litres" and "liters") and aligned articles' spellings are made
  by the project's own analyzer in Python and written with the passage as tsvector literals
  (:mod:`.forms`), under weight B of the one document; Whoosh keeps them in fields ``norm`` and
  ``aliases``. A query word is put in its normal forms by the same analyzer (:mod:`.tsquery`).
  Words are marked, hits' kinds told and jump-in times found by the same code as Whoosh's
  (:mod:`indexer.index.marks`).
- The sound-alike fallback tests a query word against a lexicon table of heard words and joined
  pairs (``heard_terms``, added to in each write, looked up by Metaphone code in its key), where
  Whoosh reads its terms by code prefix; the terms are searched as ``~word`` lexemes of the
  passage's document, at most as many passages per term as hits asked for. The table only grows:
  a term whose passages are gone finds nothing.
  What it costs: "Scale" in bench/RESULTS.md.
- A stop word beside a rare name in a sound-alike query is left out instead of failing the query.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

from ... import soundalike
from ...errors import IndexUnavailableError, NoIndexError, QueryError
from ...models import HeardAt, Segment, Source, SourceKind
from .. import marks
from ..backend import Changes, Lookup, Match, StoredWord
from ..marks import corrected_text
from . import forms, schema, tsquery

logger = logging.getLogger("indexer")

__all__ = ["PostgresBackend", "redacted"]

POOL_SIZE = 4
CONNECT_TIMEOUT = 10  # seconds
WRITE_ATTEMPTS = 5  # a write that PostgreSQL stopped to break a deadlock runs again, this often
# ts_headline's fragments: about Whoosh's ContextFragmenter(maxchars=240, surround=60), top 2. A
# passage that fits is shown whole, as Whoosh shows it.
HEADLINE = 'StartSel=**, StopSel=**, MaxFragments=2, MaxWords=30, MinWords=12, FragmentDelimiter=" … "'
WHOLE = "StartSel=**, StopSel=**, HighlightAll=true"
SNIPPET_CHARS = 240
# ts_rank_cd's normalisation: 2 divides by the passage's length in words, as BM25's length
# normalisation favours short passages; of its flags it brings the top 10 closest to Whoosh's.
RANK_NORMALISATION = 2


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def _psycopg():
    try:
        import psycopg
        import psycopg_pool
    except ImportError as e:
        raise IndexUnavailableError(
            f"a PostgreSQL index needs psycopg and psycopg_pool: pip install 'indexer[postgres]' ({e})"
        ) from e
    return psycopg, psycopg_pool


class PostgresBackend:
    """The index in the PostgreSQL database at ``url`` (see :class:`~indexer.index.backend.Backend`).

    Nothing is created until the first write, which creates or migrates the tables; reading where
    the indexer never wrote raises NoIndexError. Connections come from a small pool, opened on
    first use and shared by the threads of the process.
    """

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE):
        self.url = url
        self.pool_size = pool_size
        self._pool = None
        self._ready = False  # the schema is known to be current
        self._closed = False

    # -- connections -----------------------------------------------------------------------------

    def _connect(self):
        psycopg, psycopg_pool = _psycopg()
        if self._closed:
            raise IndexUnavailableError(f"{redacted(self.url)}: the index was closed")
        if self._pool is None:
            try:
                # A first plain connection, so a wrong URL fails at once with the server's own reason.
                psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT).close()
            except psycopg.Error as e:
                raise IndexUnavailableError(f"cannot use PostgreSQL index {redacted(self.url)}: {_reason(e)}") from e
            self._pool = psycopg_pool.ConnectionPool(
                self.url, min_size=1, max_size=self.pool_size, open=True, timeout=CONNECT_TIMEOUT, name="indexer"
            )
        return self._pool

    def _run(self, action, *, create: bool = False):
        psycopg, psycopg_pool = _psycopg()
        pool = self._connect()
        try:
            with pool.connection() as conn:
                if not self._ready:
                    self._check_schema(conn, create=create)
                return action(conn)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as e:
            if isinstance(e, psycopg.errors.DeadlockDetected):
                raise
            raise IndexUnavailableError(f"PostgreSQL index {redacted(self.url)}: {_reason(e)}") from e

    def _check_schema(self, conn, *, create: bool) -> None:
        if create:
            schema.migrate(conn)
        else:
            found = schema.version(conn)
            conn.commit()
            if found == 0:
                raise NoIndexError(f"no index in {redacted(self.url)}: ingest something first")
            if found != schema.LATEST:
                raise IndexUnavailableError(
                    f"the index's schema is version {found}, this indexer's is {schema.LATEST}: "
                    + ("upgrade indexer" if found > schema.LATEST else "ingest once to migrate it")
                )
        self._ready = True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self._pool = None
        self._closed = True

    # -- writing ---------------------------------------------------------------------------------

    def write(self, plan: Callable[[Lookup], Changes]) -> Changes:
        psycopg, _ = _psycopg()
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return self._run(lambda conn: _write(conn, plan), create=True)
            except psycopg.errors.DeadlockDetected:
                if attempt == WRITE_ATTEMPTS:
                    raise IndexUnavailableError(f"PostgreSQL index {redacted(self.url)}: writers kept colliding") from None
                logger.debug("write stopped by a deadlock with another writer; running it again (%d)", attempt)
        raise AssertionError("unreachable")

    # -- reading ---------------------------------------------------------------------------------

    def source(self, source_id: str) -> Optional[Source]:
        row = self._run(lambda conn: conn.execute("SELECT record FROM sources WHERE id = %s", (source_id,)).fetchone())
        return Source.from_dict(row[0]) if row else None

    def sources(self) -> list[Source]:
        return [Source.from_dict(row[0]) for row in self._run(lambda conn: conn.execute("SELECT record FROM sources").fetchall())]

    def segments(self, source_id: str) -> list[Segment]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT start_s, end_s, text, words FROM passages WHERE source_id = %s AND kind = 'audio' ORDER BY seq",
                (source_id,),
            ).fetchall()
        )
        return [
            Segment(start=start, end=end, text=text, words=[StoredWord.load(w).to_word() for w in words or []])
            for start, end, text, words in rows
        ]

    def stored_words(self, source_id: str) -> list[list[StoredWord]]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT words FROM passages WHERE source_id = %s AND kind = 'audio' ORDER BY seq", (source_id,)
            ).fetchall()
        )
        return [[StoredWord.load(w) for w in words or []] for (words,) in rows]

    def paragraphs(self, source_id: str) -> list[str]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT text FROM passages WHERE source_id = %s AND kind = 'article' ORDER BY seq", (source_id,)
            ).fetchall()
        )
        return [text for (text,) in rows]

    def search(self, query: str, *, limit: int, kind: Optional[SourceKind] = None) -> list[Match]:
        psycopg, _ = _psycopg()
        try:
            return self._run(lambda conn: _search(conn, query, limit, kind))
        except (psycopg.DataError, psycopg.ProgrammingError) as e:
            # A query the translation let through and PostgreSQL refused: one line, as for Whoosh's crashes.
            raise QueryError(f"cannot run query {query!r}: {type(e).__name__} in the search engine") from e


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# -- writing helpers ------------------------------------------------------------------------------


def _lock(conn, source_ids) -> None:
    """Take the transaction's lock on each id (in order); another writer of the same id waits."""
    for source_id in sorted(set(source_ids)):
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("indexer:" + source_id,))


def _write(conn, plan: Callable[[Lookup], Changes]) -> Changes:
    with conn.transaction():

        def lookup(source_id: str) -> Optional[Source]:
            _lock(conn, [source_id])
            row = conn.execute("SELECT record FROM sources WHERE id = %s", (source_id,)).fetchone()
            return Source.from_dict(row[0]) if row else None

        changes = plan(lookup)
        heard: set[forms.HeardTerm] = set()
        _lock(conn, [*changes.removed, *(s.id for s in changes.records)])
        if changes.removed:
            conn.execute("DELETE FROM sources WHERE id = ANY(%s)", (sorted(set(changes.removed)),))  # passages cascade
        for source in changes.records:
            conn.execute(
                "INSERT INTO sources (id, kind, record) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, record = excluded.record, updated_at = now()",
                (source.id, source.kind, _json(source.to_dict())),
            )
            if source.id in changes.transcripts or source.id in changes.articles:
                conn.execute("DELETE FROM passages WHERE source_id = %s", (source.id,))
                _copy(conn, _passages(source, changes, heard))
        schema.add_heard_terms(conn, heard)  # last: its row locks are the only ones taken after the ids'
    return changes


def _text(value: str) -> str:
    """PostgreSQL's text and JSONB cannot hold NUL characters; nothing readable is lost without them."""
    return value.replace("\x00", "")


def _json(value) -> str:
    def clean(item):
        if isinstance(item, str):
            return _text(item)
        if isinstance(item, dict):
            return {clean(k): clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        return item

    return json.dumps(clean(value))


def _passages(source: Source, changes: Changes, heard: set[forms.HeardTerm]):
    """Rows of ``source``'s passages for COPY; adds its heard words and pairs to ``heard``."""
    if source.id in changes.transcripts:
        named = changes.aliases.get(source.id, {})
        for seq, segment in enumerate(changes.transcripts[source.id].segments):
            alias_at = dict(named.get(seq, []))
            stored = [StoredWord.of(w, alias_at.get(i)) for i, w in enumerate(segment.words)]
            sounds, terms = forms.heard(stored)
            heard |= terms
            yield (
                source.id,
                seq,
                "audio",
                _text(source.title),
                _text(segment.text),
                segment.start,
                segment.end,
                _json([w.dump() for w in stored]),
                _text(" ".join(alias_at.values())),
                _text(forms.norm_vector(segment.text, corrected_text(stored) if alias_at else "")),
                _text(sounds),
                None,
            )
    if source.id in changes.articles:
        spoken = changes.heard_at.get(source.id, {})
        for seq, paragraph in enumerate(changes.articles[source.id].paragraphs):
            heard_at = _json([h.to_dict() for h in spoken.get(seq, [])])
            norm = _text(forms.norm_vector(paragraph))
            yield (source.id, seq, "article", _text(source.title), _text(paragraph), None, None, None, "", norm, "", heard_at)


def _copy(conn, rows) -> None:
    columns = "source_id, seq, kind, title, text, start_s, end_s, words, aliases, norm, sounds, heard_at"
    with conn.cursor() as cursor, cursor.copy(f"COPY passages ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# -- searching helpers ----------------------------------------------------------------------------

_SEARCH = """
SELECT source_id, kind, text, start_s, end_s, words, heard_at, score,
       ts_headline('english', text, %(headline)s::tsquery, CASE WHEN length(text) <= %(fits)s THEN %(whole)s ELSE %(fragments)s END)
FROM (SELECT source_id, seq, kind, text, start_s, end_s, words, heard_at,
             ts_rank_cd(document, %(rank)s::tsquery, %(normalisation)s) AS score
      FROM passages
      WHERE document @@ %(match)s::tsquery {kind}
      ORDER BY score DESC, source_id, seq
      LIMIT %(limit)s) AS best
ORDER BY score DESC, source_id, seq
"""
# Marks nothing: the headline of a query whose words were all found through normal forms.
_NOTHING = "'#'"


def _rows(conn, match: str, rank: str, headline: Optional[str], limit: int, kind: Optional[SourceKind]) -> list[tuple]:
    return conn.execute(
        _SEARCH.format(kind="AND kind = %(kind)s" if kind else ""),
        {
            "match": match,
            "rank": rank,
            "headline": headline or _NOTHING,
            "kind": kind,
            "limit": limit,
            "fragments": HEADLINE,
            "whole": WHOLE,
            "fits": SNIPPET_CHARS,
            "normalisation": RANK_NORMALISATION,
        },
    ).fetchall()


def _search(conn, query: str, limit: int, kind: Optional[SourceKind]) -> list[Match]:
    # One transaction (REPEATABLE READ): the hits, their records and the articles that embed them
    # come from one state of the index, as one Whoosh searcher reads one commit.
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    compiled = tsquery.compile(conn, query)
    rows = _rows(conn, compiled.match, compiled.rank, compiled.headline, limit, kind)
    spoken = {w.word for row in rows for w in _words(row[5])}
    matcher = _Matcher(compiled.leaves, _word_forms(conn, sorted(spoken)))
    records = _records(conn, {row[0] for row in rows})
    matches = []
    for source_id, found_kind, text, start, end, words, heard_at, score, headline in rows:
        stored = _words(words)
        snippet = _trim(_mark_prefixes(headline, matcher))
        # A word heard differently and found under the aligned article's spelling (indexer.alignment).
        aliased = marks.alias_matches(stored, matcher.normal_match)
        if aliased:
            snippet = marks.mark_aliases(snippet if "**" in snippet else text, aliased)
        elif "**" not in snippet:
            # Matched through a normal form ("14" for "fourteen") or the title: nothing marked yet.
            snippet = marks.mark_normal_forms(text, matcher.normal_match) or snippet or text[:SNIPPET_CHARS]
        first = matcher.first_word(stored) if found_kind == "audio" else None
        match = _match(source_id, found_kind, text, start, end, score, records)
        match.snippet, match.jump_in = snippet, (first.start if first else start) if found_kind == "audio" else None
        match.match = marks.alias_match_kind(aliased) if aliased else "exact"
        match.heard_at = [HeardAt(**h) for h in heard_at or []]
        matches.append(match)
    if kind in (None, "audio") and len(matches) < limit and not any(m.kind == "audio" for m in matches):
        # Only where nothing is heard as written or aligned; below every other match.
        matches += _sounds_like(conn, query, limit - len(matches), matches)
    return matches


def _match(source_id, kind, text, start, end, score, records: dict[str, Source]) -> Match:
    """A row as a match, its snippet and jump-in still to be made."""
    record = records.get(source_id)
    audio = kind == "audio"
    return Match(
        source_id=source_id,
        kind=kind,
        text=text,
        snippet=text,
        score=round(float(score), 4),
        start=start if audio else None,
        end=end if audio else None,
        record=record,
        embedded_in=[records[a] for a in (record.article_ids if record else []) if a in records],
    )


def _sounds_like(conn, query: str, limit: int, found: list[Match]) -> list[Match]:
    """Audio matches for rare query words heard as words (or word pairs) that sound like them.

    Candidates come from the lexicon of heard terms by Metaphone code (an index lookup: the codes
    one edit from the word's, and its own for pairs), and are then judged by soundalike.sounds_like.
    """
    words = soundalike.plain_words(query)
    if not words or not any(soundalike.eligible(w) for w in words):
        return []
    clauses: list[str] = []  # one per query word that requires something
    alike: dict[str, str] = {}  # each heard term and the query word it sounds like
    heard: list[tuple[int, str]] = []  # each heard term, as a lexeme, and its word's clause
    for word in words:
        if not soundalike.eligible(word):
            try:
                clauses.append(tsquery.compile(conn, word).match)
            except QueryError:
                pass  # a stop word: nothing to require
            continue
        code = soundalike.metaphone(soundalike.letters(word))
        rows = conn.execute(schema.HEARD_LOOKUP, (sorted(soundalike.near_codes(code)), code)).fetchall()
        single = soundalike.sounds_like(word, (term for term, pair in rows if not pair))
        joined = soundalike.sounds_like(word, (term for term, pair in rows if pair), pairs=True)
        if not single and not joined:
            return []
        alike.update({c: word for c in single | joined})
        heard += [(len(clauses), _sound_lexeme(c)) for c in sorted(single | joined)]
        # No weight: only `sounds` makes '~' lexemes, and without one the index answers without reading the rows.
        clauses.append(" | ".join(_sound_lexeme(c) for c in sorted(single | joined)))
    rank = " & ".join(f"({c})" for c in clauses)  # the kind has no position: ts_rank_cd would find no cover
    rows = conn.execute(
        _SOUNDS_LIKE,
        {
            "rank": rank,
            "heard": [lexeme for _, lexeme in heard],
            # What the query's other words require beside each heard term: its own word's other
            # candidates would make every term's search read them all.
            "others": [" & ".join(f"({c})" for k, c in enumerate(clauses) if k != own) for own, _ in heard],
            "each": limit + len(found),
            "limit": limit + len(found),
            "normalisation": RANK_NORMALISATION,
        },
    ).fetchall()
    records = _records(conn, {row[0] for row in rows})
    seen = {(m.source_id, m.start) for m in found}
    matches: list[Match] = []
    for source_id, found_kind, text, start, end, words_json, score in rows:
        if (source_id, start) in seen or len(matches) == limit:
            continue
        match = _match(source_id, found_kind, text, start, end, score, records)
        match.jump_in, match.snippet = marks.mark_sounds_like(_words(words_json), start, text, alike)
        match.match = "sounds-like"
        matches.append(match)
    return matches


def _sound_lexeme(term: str) -> str:
    return forms.quote(forms.SOUND + term)


# The passages of a sound-alike query, at most `each` (the hits asked for) per heard term: a term heard in
# thousands of passages costs what a rare one does, every term gets a place in the ranking, and a
# term's passages beyond its first `each` are never read.
_SOUNDS_LIKE = """
SELECT source_id, kind, text, start_s, end_s, words, score
FROM (SELECT DISTINCT ON (p.source_id, p.seq) p.source_id, p.seq, p.kind, p.text, p.start_s, p.end_s, p.words,
             ts_rank_cd(p.document, %(rank)s::tsquery, %(normalisation)s) AS score
      FROM unnest(%(heard)s::tsquery[], %(others)s::tsquery[]) AS q (heard, others),
           LATERAL (SELECT * FROM passages
                    WHERE document @@ (q.heard && q.others) AND kind = 'audio'
                    LIMIT %(each)s) AS p
      ORDER BY p.source_id, p.seq) AS found
ORDER BY score DESC, source_id, seq
LIMIT %(limit)s
"""


_EDGES = re.compile(r"^[^\w*]+|[^\w*]+$")


def _trim(snippet: str) -> str:
    """From the first word to the last, as Whoosh's fragments run (no closing full stop)."""
    return _EDGES.sub("", snippet)


def _words(stored: Optional[list]) -> list[StoredWord]:
    return [StoredWord.load(w) for w in stored or []]


def _records(conn, source_ids: set[str]) -> dict[str, Source]:
    """The hits' source records and those of the articles that embed them, in one query."""
    rows = conn.execute(
        "SELECT record FROM sources WHERE id = ANY(%(ids)s)"
        " OR id IN (SELECT jsonb_array_elements_text(record->'article_ids') FROM sources WHERE id = ANY(%(ids)s))",
        {"ids": sorted(source_ids)},
    ).fetchall()
    return {row[0]["id"]: Source.from_dict(row[0]) for row in rows}


def _word_forms(conn, spoken: list[str]) -> dict[str, tuple[set[str], set[str]]]:
    """Each spoken word's English stems and unstemmed forms, as the index analysed them."""
    if not spoken:
        return {}
    rows = conn.execute(
        "SELECT w, tsvector_to_array(to_tsvector('english', w)), tsvector_to_array(to_tsvector('simple', w))"
        " FROM unnest(%s::text[]) AS w",
        (spoken,),
    ).fetchall()
    return {w: (set(stems), set(unstemmed)) for w, stems, unstemmed in rows}


class _Matcher:
    """Which words of a hit the query matched, from the query's leaves and each word's forms:
    English stems and unstemmed forms from PostgreSQL (weights A and D), normal forms (B) from
    the project's analyzer."""

    def __init__(self, leaves: list[tsquery.Leaf], word_forms: dict[str, tuple[set[str], set[str]]]):
        self.forms = word_forms
        self.stems = {(lexeme, w) for leaf in leaves if leaf.kind != "prefix" for lexeme in leaf.lexemes for w in leaf.weights}
        self.prefixes = [(leaf.lexemes[-1], leaf.weights) for leaf in leaves if leaf.kind == "prefix" and leaf.lexemes]
        self.normal = {token for leaf in leaves for token in leaf.normal}
        self.normal_prefixes = tuple(prefix for prefix, weights in self.prefixes if tsquery.NORMAL in weights)

    def matches(self, word: str, weight: str) -> bool:
        """Whether ``word``, indexed under ``weight`` (A: text), matches a leaf."""
        stems, unstemmed = self.forms.get(word, (set(), set()))
        if any((stem, weight) in self.stems for stem in stems):
            return True
        return any(weight in weights and any(f.startswith(p) for f in stems | unstemmed) for p, weights in self.prefixes)

    def normal_match(self, token: str) -> bool:
        """Whether a normal-form token (weight B) matches a leaf."""
        return token in self.normal or (bool(self.normal_prefixes) and token.startswith(self.normal_prefixes))

    def first_word(self, words: list[StoredWord]) -> Optional[StoredWord]:
        for word in words:
            if self.matches(word.word, "A") or any(self.normal_match(t) for t in forms.normal_tokens(word.word)):
                return word
            if word.spelling and any(self.normal_match(t) for t in forms.normal_tokens(word.spelling)):
                return word
        return None

    def prefix_matches(self, word: str) -> bool:
        lowered = word.lower()
        return any("A" in weights and lowered.startswith(prefix) for prefix, weights in self.prefixes)


_WORD = re.compile(r"\*\*[^*]+\*\*|\w[\w'-]*")


def _mark_prefixes(headline: str, matcher: _Matcher) -> str:
    """ts_headline marks stems; words matched by a prefix of their unstemmed form are marked here."""
    if not matcher.prefixes:
        return headline
    return _WORD.sub(
        lambda m: m.group(0) if m.group(0).startswith("**") or not matcher.prefix_matches(m.group(0)) else f"**{m.group(0)}**",
        headline,
    )
