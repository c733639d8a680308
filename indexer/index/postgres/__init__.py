"""The PostgreSQL backend of the index, for many writers on many machines and many searchers.

Needs the ``postgres`` extra (psycopg 3 and psycopg_pool), imported only when a ``postgresql://``
index is opened.
"""

from .backend import PostgresBackend, redacted

__all__ = ["PostgresBackend", "redacted"]
