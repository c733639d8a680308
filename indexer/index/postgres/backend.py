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
"""

from __future__ import annotations

import json
import logging
import re
from typing import Callable, Optional
from urllib.parse import urlsplit, urlunsplit

from ...errors import IndexUnavailableError, NoIndexError, QueryError
from ...models import Segment, Source, SourceKind
from ..backend import Changes, Lookup, Match, StoredWord
from . import schema, tsquery

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
                _copy(conn, _passages(source, changes))
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


def _passages(source: Source, changes: Changes):
    if source.id in changes.transcripts:
        named = changes.aliases.get(source.id, {})
        for seq, segment in enumerate(changes.transcripts[source.id].segments):
            alias_at = dict(named.get(seq, []))
            stored = [StoredWord.of(w, alias_at.get(i)).dump() for i, w in enumerate(segment.words)]
            aliases = " ".join(alias_at.values())
            yield (
                source.id,
                seq,
                "audio",
                _text(source.title),
                _text(segment.text),
                segment.start,
                segment.end,
                _json(stored),
                _text(aliases),
            )
    if source.id in changes.articles:
        for seq, paragraph in enumerate(changes.articles[source.id].paragraphs):
            yield (source.id, seq, "article", _text(source.title), _text(paragraph), None, None, None, "")


def _copy(conn, rows) -> None:
    columns = "source_id, seq, kind, title, text, start_s, end_s, words, aliases"
    with conn.cursor() as cursor, cursor.copy(f"COPY passages ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# -- searching helpers ----------------------------------------------------------------------------

_SEARCH = """
SELECT source_id, kind, text, start_s, end_s, words, score,
       ts_headline('english', text, %(rank)s::tsquery, CASE WHEN length(text) <= %(fits)s THEN %(whole)s ELSE %(headline)s END)
FROM (SELECT source_id, seq, kind, text, start_s, end_s, words,
             ts_rank_cd(document, %(rank)s::tsquery, %(normalisation)s) AS score
      FROM passages
      WHERE document @@ %(match)s::tsquery {kind}
      ORDER BY score DESC, source_id, seq
      LIMIT %(limit)s) AS best
ORDER BY score DESC, source_id, seq
"""


def _search(conn, query: str, limit: int, kind: Optional[SourceKind]) -> list[Match]:
    # One transaction (REPEATABLE READ): the hits, their records and the articles that embed them
    # come from one state of the index, as one Whoosh searcher reads one commit.
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    match, rank, leaves = tsquery.compile(conn, query)
    rows = conn.execute(
        _SEARCH.format(kind="AND kind = %(kind)s" if kind else ""),
        {
            "match": match,
            "rank": rank,
            "kind": kind,
            "limit": limit,
            "headline": HEADLINE,
            "whole": WHOLE,
            "fits": SNIPPET_CHARS,
            "normalisation": RANK_NORMALISATION,
        },
    ).fetchall()
    spoken = {w.word for row in rows for w in _words(row[5])} | {w.alias for row in rows for w in _words(row[5]) if w.alias}
    matcher = _Matcher(leaves, _word_forms(conn, sorted(spoken)))
    records = _records(conn, {row[0] for row in rows})
    matches = []
    for source_id, found_kind, text, start, end, words, score, headline in rows:
        stored = _words(words)
        snippet = _trim(_mark_prefixes(headline, matcher))
        if "**" not in snippet:
            # Matched through a name alias (or the title): nothing in the text to mark.
            snippet = _mark_alias_match(text, stored, matcher) or snippet or text[:SNIPPET_CHARS]
        record = records.get(source_id)
        audio = found_kind == "audio"
        first = matcher.first_word(stored) if audio else None
        matches.append(
            Match(
                source_id=source_id,
                kind=found_kind,
                text=text,
                snippet=snippet,
                score=round(float(score), 4),
                start=start if audio else None,
                end=end if audio else None,
                jump_in=(first.start if first else start) if audio else None,
                record=record,
                embedded_in=[records[a] for a in (record.article_ids if record else []) if a in records],
            )
        )
    return matches


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
    return {w: (set(stems), set(forms)) for w, stems, forms in rows}


class _Matcher:
    """Which words of a hit the query matched, from the query's leaves and each word's forms."""

    def __init__(self, leaves: list[tsquery.Leaf], forms: dict[str, tuple[set[str], set[str]]]):
        self.forms = forms
        self.stems = {(lexeme, w) for leaf in leaves if leaf.kind != "prefix" for lexeme in leaf.lexemes for w in leaf.weights}
        self.prefixes = [(leaf.lexemes[-1], leaf.weights) for leaf in leaves if leaf.kind == "prefix" and leaf.lexemes]

    def matches(self, word: str, weight: str) -> bool:
        """Whether ``word``, indexed under ``weight`` (A: text, B: alias), matches a leaf."""
        stems, forms = self.forms.get(word, (set(), set()))
        if any((stem, weight) in self.stems for stem in stems):
            return True
        return any(weight in weights and any(f.startswith(p) for f in stems | forms) for p, weights in self.prefixes)

    def first_word(self, words: list[StoredWord]) -> Optional[StoredWord]:
        for word in words:
            if self.matches(word.word, "A") or (word.alias and self.matches(word.alias, "B")):
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


def _mark_alias_match(text: str, words: list[StoredWord], matcher: _Matcher) -> Optional[str]:
    """A snippet for a hit found through a name alias: the heard word marked, the name beside it."""
    for word in words:
        if word.alias and matcher.matches(word.alias, "B"):
            at = text.find(word.word)
            if at >= 0:
                return f"{text[:at]}**{word.word}** ({word.alias}){text[at + len(word.word) :]}"
    return None
