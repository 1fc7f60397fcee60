"""End-to-end fixtures: a real hub on a real broker, and an in-process device on mock pins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.config import HubConfig, load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store.records import Role
from tests.device.helpers import make_config, wait_until
from tests.e2e.chromium import CHROMIUM

__all__ = ["wait_until"]


def e2e_hub_config(mosquitto: Mosquitto, tmp_path: Path) -> HubConfig:
    """A hub on the test's broker, with its database in ``tmp_path`` and any free port."""
    return load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )


@pytest.fixture
def hub(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[HubThread]:
    with HubThread(e2e_hub_config(mosquitto, tmp_path)) as running:
        yield running


@pytest.fixture
def api(hub: HubThread) -> Iterator[httpx.Client]:
    token = new_token()
    hub.store.create_token("e2e", Role.ADMIN, hash_token(token), 0).result(timeout=5)
    with httpx.Client(
        base_url=hub.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        yield client


@pytest.fixture
def device_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def factory(device_clock: FakeClock) -> ClockedMockFactory:
    return ClockedMockFactory(device_clock)


@pytest.fixture
def device(
    mosquitto: Mosquitto,
    hub: HubThread,
    tmp_path: Path,
    factory: ClockedMockFactory,
    device_clock: FakeClock,
) -> Iterator[DeviceApp]:
    config = make_config(tmp_path / "device", mqtt={"url": mosquitto.url})
    app = DeviceApp(config, pin_factory=factory, clock=device_clock)
    app.start()
    wait_until(lambda: app.snapshot()["connected"])
    device_clock.advance(1.0)  # past the "starting" flash
    try:
        yield app
    finally:
        app.stop("test over")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
        # --disable-dev-shm-usage: containers often have a tiny /dev/shm.
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()
