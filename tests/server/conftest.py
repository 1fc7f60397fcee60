"""Fixtures for the hub's tests: a fresh SQLite store on the fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.clock import FakeClock
from server.store.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    try:
        yield s
    finally:
        s.close()
