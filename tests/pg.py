"""PostgreSQL for tests: a schema of its own per test on the server ``LONEGUARD_TEST_PG_URL``
names, dropped afterwards. Tests that need it skip when the variable is unset."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

PG_URL_ENV = "LONEGUARD_TEST_PG_URL"


def server_url() -> str:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: no PostgreSQL to test against")
    return url


def in_schema(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema`` (libpq's options)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-c search_path={schema}')}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new empty schema; yields the URL that works in it; drops it (and all in it) at the end."""
    import psycopg

    url = server_url()
    schema = f"lg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield in_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
