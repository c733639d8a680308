"""The full-text index in PostgreSQL, for many writers on many machines and many searchers.

Same interface and behaviour as the Whoosh index (:class:`indexer.index.TextIndex`): one row per
source record, one row per transcript segment or article paragraph, searched through one tsvector
column with a GIN index (see :mod:`.schema`). Every change to a set of sources is one transaction:
readers see the old or the new version of a source, never half of it, and never wait for a writer
(PostgreSQL's MVCC). Writers touching the same source queue on its row; others do not meet at all.

Ranking is PostgreSQL's ``ts_rank_cd`` (cover density: how close together and how often the query's
words occur in the passage), divided by the passage's length, not Whoosh's BM25F: it has no inverse
document frequency, so in ``rare OR frequent`` a passage with the frequent word weighs as much as
one with the rare word, and repeated words do not saturate the way BM25's k1 makes them. Rare-term
queries return the same hits; bench/RESULTS.md says how far the order of frequent-term hits moves.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Iterable, Optional
from urllib.parse import urlsplit, urlunsplit

from ..errors import IndexUnavailableError, NotFoundError
from ..models import Article, Hit, Segment, Source, Transcript, Word
from . import query as pg_query
from .schema import migrate

logger = logging.getLogger("indexer")

POOL_SIZE = 4
CONNECT_TIMEOUT = 10.0
# ts_headline's fragments: about Whoosh's ContextFragmenter(maxchars=240, surround=60), top 2.
# A passage that fits is shown whole, as Whoosh shows it.
HEADLINE = 'StartSel=**, StopSel=**, MaxFragments=2, MaxWords=30, MinWords=12, FragmentDelimiter=" … "'
WHOLE = "StartSel=**, StopSel=**, HighlightAll=true"
SNIPPET_CHARS = 240
# ts_rank_cd's normalisation: 2 divides by the passage's length in words, as BM25's length
# normalisation favours short passages; of the flags it brings the top 10 closest to Whoosh's
# (bench/RESULTS.md, "PostgreSQL ranking").
RANK_NORMALISATION = 2


def is_postgres_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _psycopg():
    try:
        import psycopg
        import psycopg_pool
    except ImportError as e:
        raise IndexUnavailableError(
            f"a PostgreSQL index needs psycopg and psycopg_pool: pip install 'indexer[postgres]' ({e})"
        ) from e
    return psycopg, psycopg_pool


class PostgresIndex:
    """An index in the PostgreSQL database at ``url``; tables created or migrated on first use."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE):
        psycopg, psycopg_pool = _psycopg()
        self.url = url
        self.directory = None  # not a directory: callers that show where the index is use ``url``
        self._psycopg = psycopg
        self._pool_timeout = psycopg_pool.PoolTimeout
        try:
            # A first plain connection, so a wrong URL fails at once with the server's own reason.
            with psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT)) as conn:
                migrate(conn)
        except psycopg.Error as e:
            raise IndexUnavailableError(f"cannot use PostgreSQL index {redacted(url)}: {_reason(e)}") from e
        self._pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, open=True, timeout=CONNECT_TIMEOUT, name="indexer"
        )

    def _connection(self):
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> "PostgresIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, action):
        try:
            with self._connection() as conn:
                return action(conn)
        except (self._psycopg.OperationalError, self._pool_timeout) as e:
            raise IndexUnavailableError(f"PostgreSQL index {redacted(self.url)}: {_reason(e)}") from e

    # -- writing ---------------------------------------------------------------------------------

    def write(
        self,
        sources: Iterable[Source],
        transcripts: dict[str, Transcript] | None = None,
        articles: dict[str, Article] | None = None,
        aliases: dict[str, dict[int, list[tuple[int, str]]]] | None = None,
    ) -> None:
        """Replace each source's record, and its segments or paragraphs when given, in one transaction.

        A source passed without a transcript or article keeps its passages and only has its record
        replaced. ``aliases`` maps an audio source to the names its segments' words are also indexed
        under (segment index -> [(word index, name)]).
        """
        transcripts = transcripts or {}
        articles = articles or {}
        aliases = aliases or {}
        # Rows are locked in id order, so two writers sharing sources cannot deadlock.
        ordered = sorted({s.id: s for s in sources}.values(), key=lambda s: s.id)
        rows = {s.id: list(self._passages(s, transcripts, articles, aliases)) for s in ordered}

        def write(conn) -> None:
            with conn.transaction():
                for source in ordered:
                    _upsert(conn, source)
                    if source.id in transcripts or source.id in articles:
                        conn.execute("DELETE FROM passages WHERE source_id = %s", (source.id,))
                        _copy_passages(conn, rows[source.id])

        self._run(write)

    @staticmethod
    def _passages(source: Source, transcripts, articles, aliases) -> Iterable[tuple]:
        if source.id in transcripts:
            named = aliases.get(source.id, {})
            for seq, segment in enumerate(transcripts[source.id].segments):
                alias_at = dict(named.get(seq, []))
                stored_words = [[w.start, w.end, w.word, w.probability] for w in segment.words]
                for position, name in alias_at.items():
                    stored_words[position].append(name)
                yield (
                    source.id,
                    seq,
                    "audio",
                    source.title,
                    segment.text,
                    segment.start,
                    segment.end,
                    json.dumps(stored_words),
                    " ".join(alias_at.values()),
                )
        if source.id in articles:
            for seq, paragraph in enumerate(articles[source.id].paragraphs):
                yield (source.id, seq, "article", source.title, paragraph, None, None, None, "")

    def remove(self, source_ids: Iterable[str], updated: Iterable[Source] = ()) -> None:
        """Delete sources and everything indexed for them; rewrite the ``updated`` records; one transaction."""
        removed, updated = sorted(set(source_ids)), sorted(updated, key=lambda s: s.id)

        def remove(conn) -> None:
            with conn.transaction():
                conn.execute("DELETE FROM sources WHERE id = ANY(%s)", (removed,))  # passages cascade
                for source in updated:
                    _upsert(conn, source)

        self._run(remove)

    # -- reading ---------------------------------------------------------------------------------

    def source(self, source_id: str) -> Optional[Source]:
        row = self._run(lambda conn: conn.execute("SELECT record FROM sources WHERE id = %s", (source_id,)).fetchone())
        return Source.from_dict(row[0]) if row else None

    def sources(self) -> list[Source]:
        rows = self._run(lambda conn: conn.execute("SELECT record FROM sources").fetchall())
        records = [Source.from_dict(row[0]) for row in rows]
        return sorted(records, key=lambda s: (s.kind != "article", s.title.lower(), s.id))

    def transcript(self, source_id: str) -> Transcript:
        source = self.source(source_id)
        if source is None:
            raise NotFoundError(f"no source {source_id!r} in the index")
        if source.kind != "audio":
            raise NotFoundError(f"{source_id} is an article, not audio; its audio: {', '.join(source.audio_ids) or 'none'}")
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT start_s, end_s, text, words FROM passages WHERE source_id = %s ORDER BY seq", (source_id,)
            ).fetchall()
        )
        segments = [
            Segment(
                start=start,
                end=end,
                text=text,
                words=[Word(start=w[0], end=w[1], word=w[2], probability=w[3]) for w in words or []],
            )
            for start, end, text, words in rows
        ]
        return Transcript(segments=segments, language=source.language or "", duration=source.duration or 0.0, source_id=source_id)

    def doc_count(self) -> int:
        return self._run(
            lambda conn: conn.execute("SELECT (SELECT count(*) FROM sources) + (SELECT count(*) FROM passages)").fetchone()[0]
        )

    def search(self, text: str, *, limit: int = 10, kind: Optional[str] = None) -> list[Hit]:
        """Run a Whoosh-syntax query over segments and paragraphs; best hits first."""

        def search(conn):
            match, rank, leaves = pg_query.compile(conn, text)
            rows = conn.execute(
                f"""
                SELECT source_id, kind, text, start_s, end_s, words, score,
                       ts_headline('english', text, %(rank)s::tsquery,
                                   CASE WHEN length(text) <= %(fits)s THEN %(whole)s ELSE %(headline)s END)
                FROM (SELECT source_id, seq, kind, text, start_s, end_s, words,
                             ts_rank_cd(document, %(rank)s::tsquery, %(normalisation)s) AS score
                      FROM passages
                      WHERE document @@ %(match)s::tsquery {"AND kind = %(kind)s" if kind else ""}
                      ORDER BY score DESC, source_id, seq
                      LIMIT %(limit)s) AS best
                ORDER BY score DESC, source_id, seq
                """,
                {
                    "match": match,
                    "rank": rank,
                    "kind": kind,
                    "limit": limit,
                    "headline": HEADLINE,
                    "normalisation": RANK_NORMALISATION,
                    "whole": WHOLE,
                    "fits": SNIPPET_CHARS,
                },
            ).fetchall()
            spoken = sorted(
                {w[2] for row in rows for w in row[5] or []} | {w[4] for row in rows for w in row[5] or [] if len(w) > 4}
            )
            forms = _word_forms(conn, spoken)
            records = _records(conn, {row[0] for row in rows})
            return rows, leaves, forms, records

        rows, leaves, forms, records = self._run(search)
        matcher = _Matcher(leaves, forms)
        return [self._hit(row, records, matcher) for row in rows]

    def _hit(self, row, records: dict[str, Source], matcher: "_Matcher") -> Hit:
        source_id, kind, text, start, end, words, score, headline = row
        source = records.get(source_id)
        snippet = _mark_prefixes(headline, matcher)
        if "**" not in snippet:
            snippet = _mark_alias_match(text, words, matcher) or snippet or text[:SNIPPET_CHARS]
        title = source.title if source else ""
        location = source.location if source else None
        if kind == "audio":
            article = None
            if source and source.article_ids:
                article = records.get(source.article_ids[0]) or self.source(source.article_ids[0])
            first = matcher.first_word(words or [])
            return Hit(
                kind="audio",
                source_id=source_id,
                title=article.title if article else title,
                text=text,
                snippet=snippet,
                score=round(float(score), 4),
                audio=location,
                start=first[0] if first else start,
                end=end,
                location=article.location if article else location,
                date=article.date if article else (source.date if source else None),
            )
        return Hit(
            kind="article",
            source_id=source_id,
            title=title,
            text=text,
            snippet=snippet,
            score=round(float(score), 4),
            location=location,
            date=source.date if source else None,
        )


def _reason(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _upsert(conn, source: Source) -> None:
    conn.execute(
        "INSERT INTO sources (id, kind, record) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, record = excluded.record, updated_at = now()",
        (source.id, source.kind, json.dumps(source.to_dict())),
    )


def _copy_passages(conn, rows: list[tuple]) -> None:
    columns = "source_id, seq, kind, title, text, start_s, end_s, words, aliases"
    with conn.cursor() as cursor, cursor.copy(f"COPY passages ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _records(conn, source_ids: set[str]) -> dict[str, Source]:
    """The hits' source records and the articles that embed their audio, in one query."""
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

    def __init__(self, leaves: list[pg_query.Leaf], forms: dict[str, tuple[set[str], set[str]]]):
        self.forms = forms
        self.stems = {(lexeme, w) for leaf in leaves if leaf.kind != "prefix" for lexeme in leaf.lexemes for w in leaf.weights}
        self.prefixes = [(leaf.lexemes[-1], leaf.weights) for leaf in leaves if leaf.kind == "prefix" and leaf.lexemes]

    def matches(self, word: str, field: str) -> bool:
        stems, forms = self.forms.get(word, (set(), set()))
        if any((stem, field) in self.stems for stem in stems):
            return True
        return any(field in weights and any(f.startswith(p) for f in stems | forms) for p, weights in self.prefixes)

    def first_word(self, words: list) -> Optional[list]:
        for stored in words:
            if self.matches(stored[2], "A") or (len(stored) > 4 and self.matches(stored[4], "B")):
                return stored
        return None

    def prefix_matches(self, word: str) -> bool:
        lowered = word.lower()
        return any("A" in weights and lowered.startswith(prefix) for prefix, weights in self.prefixes)


_WORD = re.compile(r"\*\*[^*]+\*\*|\w[\w'-]*")


def _mark_prefixes(headline: str, matcher: _Matcher) -> str:
    """ts_headline marks stems; words matched by a prefix of their unstemmed form are marked here."""
    if not matcher.prefixes:
        return headline

    def mark(m: re.Match) -> str:
        word = m.group(0)
        if word.startswith("**"):
            return word
        return f"**{word}**" if matcher.prefix_matches(word) else word

    return _WORD.sub(mark, headline)


def _mark_alias_match(text: str, words: Optional[list], matcher: _Matcher) -> Optional[str]:
    """A snippet for a hit found through a name alias: the heard word marked, the name beside it."""
    for stored in words or []:
        if len(stored) > 4 and matcher.matches(stored[4], "B"):
            at = text.find(stored[2])
            if at >= 0:
                return f"{text[:at]}**{stored[2]}** ({stored[4]}){text[at + len(stored[2]) :]}"
    return None
