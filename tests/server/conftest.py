"""Fixtures for the hub's tests: a fresh store on the fake clock, on each database.

Every test that takes ``store`` runs twice: on a SQLite file and on PostgreSQL (in a schema of
its own; skipped when ``LONEGUARD_TEST_PG_URL`` is unset).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.store.sqlite import SqliteStore, SqlStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[SqlStore]:
    s: SqlStore
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    else:
        from loneguard.server.store.postgres import PostgresStore

        s = PostgresStore(request.getfixturevalue("pg_url"), now_ms=clock.wall_ms)
    try:
        yield s
    finally:
        s.close()
