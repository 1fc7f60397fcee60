"""Fixtures shared by every test package: a private Mosquitto, the injected clock, and a
PostgreSQL schema of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.devtools.private_broker import Mosquitto
from tests.pg import fresh_schema


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private mosquitto on a free port from a temporary config; terminate + wait at the end."""
    broker = Mosquitto(workdir=tmp_path_factory.mktemp("mosquitto"), persistent=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL into a schema of this test's own (skips without LONEGUARD_TEST_PG_URL)."""
    with fresh_schema() as url:
        yield url
