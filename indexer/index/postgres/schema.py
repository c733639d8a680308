"""The PostgreSQL backend's tables, created and migrated by the indexer itself.

``MIGRATIONS`` is an ordered list of SQL steps; ``schema_version`` records which have run. Each
process that opens the index applies the missing steps in one transaction under an advisory lock,
so several ingesting machines starting at once migrate the database exactly once.
"""

from __future__ import annotations

from ...errors import IndexUnavailableError

# One tsvector per passage holds every way a passage can be searched, told apart by weight:
#   A  the text, English stems        B  name aliases, English stems
#   C  the title, English stems       D  the text and aliases unstemmed ('simple'), for prefixes
# plus the passage's kind and source id as lexemes no text can produce ('#kind:audio',
# '#source_id:audio-1': the parser never keeps a '#'), so any query of the language, fields
# included, compiles into one tsquery that one GIN index answers.
DOCUMENT = """
    setweight(to_tsvector('english', text), 'A')
    || setweight(to_tsvector('english', aliases), 'B')
    || setweight(to_tsvector('english', title), 'C')
    || setweight(to_tsvector('simple', text || ' ' || aliases), 'D')
    || array_to_tsvector(ARRAY['#kind:' || kind, '#source_id:' || source_id])
"""

MIGRATIONS: list[tuple[int, str]] = [
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
            document tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED,
            PRIMARY KEY (source_id, seq)
        );
        CREATE INDEX passages_document ON passages USING gin (document);
        """,
    ),
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
        for version, sql in MIGRATIONS:
            if version > found:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
    return found
