"""The PostgreSQL backend's tables, created and migrated by the indexer itself.

``MIGRATIONS`` is an ordered list of steps (SQL, or a function of the connection for what SQL cannot
compute); ``schema_version`` records which have run. Each process that opens the index for writing
applies the missing steps in one transaction under an advisory lock, so several ingesting machines
starting at once migrate the database exactly once; a reader of an older schema is told to ingest once.
"""

from __future__ import annotations

import logging
from typing import Callable, Union

from ... import soundalike
from ...errors import IndexUnavailableError
from ..backend import StoredWord
from ..marks import corrected_text
from . import forms

logger = logging.getLogger("indexer")

# One tsvector per passage holds every way a passage can be searched, told apart by weight:
#   A  the text, English stems
#   B  ``norm``: the text's and a segment's article-spelled words in normal forms, and ``sounds``:
#      its heard words and pairs as '~word' lexemes (both made in Python, see forms.py)
#   C  the title, English stems       D  the text and aliases unstemmed ('simple'), for prefixes
# plus the passage's kind and source id as lexemes no text can produce ('#kind:audio',
# '#source_id:audio-1': the parser never keeps a '#'), so any query of the language, fields
# included, compiles into one tsquery that one GIN index answers.
DOCUMENT = """
    setweight(to_tsvector('english', text), 'A')
    || setweight(norm, 'B')
    || setweight(to_tsvector('english', title), 'C')
    || setweight(to_tsvector('simple', text || ' ' || aliases), 'D')
    || setweight(sounds, 'B')
    || array_to_tsvector(ARRAY['#kind:' || kind, '#source_id:' || source_id])
"""

# Version 1's document: name aliases English-stemmed under B; no normal forms, no heard terms.
_DOCUMENT_1 = """
    setweight(to_tsvector('english', text), 'A')
    || setweight(to_tsvector('english', aliases), 'B')
    || setweight(to_tsvector('english', title), 'C')
    || setweight(to_tsvector('simple', text || ' ' || aliases), 'D')
    || array_to_tsvector(ARRAY['#kind:' || kind, '#source_id:' || source_id])
"""

BACKFILL_BATCH = 2000


def _to_version_2(conn) -> None:
    """Normal forms, heard terms and heard_at: columns added, filled for the passages already stored."""
    conn.execute(
        """
        -- The document is made again from the new columns; without it (and its index) until then,
        -- filling them in costs no index updates.
        ALTER TABLE passages DROP COLUMN document;
        ALTER TABLE passages ADD COLUMN norm tsvector NOT NULL DEFAULT '',
                             ADD COLUMN sounds tsvector NOT NULL DEFAULT '',
                             ADD COLUMN heard_at jsonb;
        -- Heard words and adjacent pairs joined, with their Metaphone codes: what the sound-alike
        -- fallback tests a query word against. It only grows: a term whose passages are gone
        -- finds nothing when searched.
        CREATE TABLE heard_terms (
            term text NOT NULL,
            pair boolean NOT NULL,
            code text NOT NULL,
            PRIMARY KEY (term, pair)
        );
        CREATE INDEX heard_terms_code ON heard_terms (code);
        """
    )
    count = 0
    with conn.cursor(name="indexer_backfill") as rows:
        rows.itersize = BACKFILL_BATCH
        rows.execute("SELECT source_id, seq, kind, text, words FROM passages")
        while batch := rows.fetchmany(BACKFILL_BATCH):
            updates, terms = [], set()
            for source_id, seq, kind, text, words in batch:
                stored = [StoredWord.load(w) for w in words or []]
                aliased = any(w.alias is not None for w in stored)
                sounds, heard = forms.heard(stored) if kind == "audio" else ("", set())
                updates.append((forms.norm_vector(text, corrected_text(stored) if aliased else ""), sounds, source_id, seq))
                terms |= heard
            with conn.cursor() as cursor:
                cursor.executemany("UPDATE passages SET norm = %s, sounds = %s WHERE source_id = %s AND seq = %s", updates)
            add_heard_terms(conn, terms)
            count += len(batch)
    if count:
        logger.info("index schema 2: normal forms and heard terms of %d stored passages", count)
    conn.execute(
        f"""
        ALTER TABLE passages ADD COLUMN document tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED;
        CREATE INDEX passages_document ON passages USING gin (document);
        """
    )


def _to_version_3(conn) -> None:
    """The lexicon keyed by what a lookup asks (heard word or pair, code), so a lookup reads the index
    alone; pairs that are dictionary words, never matched (soundalike.pair_kept), left out."""
    conn.execute(
        "ALTER TABLE heard_terms DROP CONSTRAINT heard_terms_pkey, ADD PRIMARY KEY (pair, code, term);"
        " DROP INDEX heard_terms_code"
    )
    dropped = 0
    with conn.cursor(name="indexer_pairs") as rows:
        rows.itersize = BACKFILL_BATCH * 10
        rows.execute("SELECT code, term FROM heard_terms WHERE pair")
        while batch := rows.fetchmany(BACKFILL_BATCH * 10):
            never = [(code, term) for code, term in batch if not soundalike.pair_kept(term)]
            if never:
                conn.execute(
                    "DELETE FROM heard_terms h USING unnest(%s::text[], %s::text[]) AS d (code, term)"
                    " WHERE h.pair AND h.code = d.code AND h.term = d.term",
                    ([c for c, _ in never], [t for _, t in never]),
                )
                dropped += len(never)
    if dropped:
        logger.info("index schema 3: %d heard pairs that are dictionary words dropped from the lexicon", dropped)


# A query word's candidates: heard words of the codes near its own, pairs of its own code.
HEARD_LOOKUP = (
    "SELECT term, false FROM heard_terms WHERE NOT pair AND code = ANY(%s)"
    " UNION ALL SELECT term, true FROM heard_terms WHERE pair AND code = %s"
)


def add_heard_terms(conn, terms: set[forms.HeardTerm]) -> None:
    """Add terms to the lexicon, in one order: two writers adding the same new terms never deadlock."""
    if not terms:
        return
    ordered = sorted(terms, key=lambda t: (t.pair, t.code, t.term))  # the key's order
    conn.execute(
        "INSERT INTO heard_terms (term, pair, code)"
        " SELECT * FROM unnest(%s::text[], %s::boolean[], %s::text[]) ON CONFLICT DO NOTHING",
        ([t.term for t in ordered], [t.pair for t in ordered], [t.code for t in ordered]),
    )


MIGRATIONS: list[tuple[int, Union[str, Callable]]] = [
    (
        1,
        f"""
        CREATE TABLE sources (
            id text PRIMARY KEY,
            kind text NOT NULL CHECK (kind IN ('audio', 'article')),
            record jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        -- Transcript segments (kind 'audio') and article paragraphs (kind 'article'): one table, so
        -- one ranked scan of one GIN index answers a search over both.
        CREATE TABLE passages (
            source_id text NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
            seq integer NOT NULL,
            kind text NOT NULL CHECK (kind IN ('audio', 'article')),
            title text NOT NULL DEFAULT '',
            text text NOT NULL,
            start_s double precision,
            end_s double precision,
            words jsonb,
            aliases text NOT NULL DEFAULT '',
            document tsvector GENERATED ALWAYS AS ({_DOCUMENT_1}) STORED,
            PRIMARY KEY (source_id, seq)
        );
        CREATE INDEX passages_document ON passages USING gin (document);
        """,
    ),
    (2, _to_version_2),
    (3, _to_version_3),
]

LATEST = MIGRATIONS[-1][0]
_LOCK_KEY = 0x1D3E_0017  # pg_advisory_xact_lock key: one migration at a time per database


def version(conn) -> int:
    """The schema version the database holds; 0 when the indexer has never written there."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(conn) -> int:
    """Bring the schema up to :data:`LATEST` in one transaction; returns the version it found."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if found > LATEST:
            raise IndexUnavailableError(
                f"the index's schema is version {found}, newer than this indexer knows ({LATEST}): upgrade indexer"
            )
        for version, step in MIGRATIONS:
            if version > found:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return found
