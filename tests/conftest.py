"""Fixtures shared by every test package: a private Mosquitto and the injected clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from protocol.clock import FakeClock
from server.broker import Mosquitto


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
