"""Device fixtures: clocked mock pins and a config in a temporary data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from loneguard.device.config import Config
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from tests.device.helpers import make_config


@pytest.fixture
def factory(clock: FakeClock) -> ClockedMockFactory:
    return ClockedMockFactory(clock)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")
