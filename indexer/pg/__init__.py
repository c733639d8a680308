"""The PostgreSQL index: the Whoosh index's interface over a database many machines share.

Needs the ``postgres`` extra (psycopg 3 and psycopg_pool), imported only when a
``postgresql://`` index is opened.
"""

from .postgres import PostgresIndex, is_postgres_url, redacted

__all__ = ["PostgresIndex", "is_postgres_url", "redacted"]
