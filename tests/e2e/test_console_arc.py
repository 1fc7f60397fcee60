"""The ARC console alarm in a real Chromium: when the ARC link goes down, an open board turns
red without a reload (pushed through the console stream), every page carries the banner while
the link is down, and it goes when the link comes back.

The link here is the stand-in (``FakeArcSink``) wired to the console exactly as the hub wires
the real one (``services.publish_arc_link_changes``); the real link against pysiaalarm is
tested in tests/server/arc/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.arc.events import ArcLinkState
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.hub import bind, http_server_config
from loneguard.server.services import publish_arc_link_changes
from loneguard.server.store import Role
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.chromium import PASSWORD, artifacts, needs_chromium, screenshot
from tests.server.fake_arc_sink import FakeArcSink

pytestmark = needs_chromium

PHONE = "+44 20 7946 0000"
UP = ArcLinkState(configured=True, up=True, last_ack_ms=1_000, last_ack_receiver="primary")


@dataclass
class Console:
    url: str
    arc: FakeArcSink


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    create_user(store, "ada", Role.ADMIN, PASSWORD, clock.wall_ms())
    arc = FakeArcSink()
    arc.change(UP)
    broadcaster = Broadcaster()
    publish_arc_link_changes(arc, broadcaster)
    hooks = ApiHooks(broadcaster=broadcaster, arc_state=arc.state, arc_phone=PHONE)
    app = create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings())
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(http_server_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # uvicorn has no event for "listening"
            if server.started:
                break
            threading.Event().wait(0.01)
        yield Console(f"http://127.0.0.1:{sock.getsockname()[1]}", arc)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


def test_the_board_turns_red_live_when_the_arc_link_fails_and_clears_when_it_is_back(
    page: Page, console: Console
) -> None:
    banner_fetches: list[str] = []
    page.on("response", lambda r: banner_fetches.append(r.url) if "/banner" in r.url else None)
    page.goto(f"{console.url}/console")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{console.url}/console")
    expect(page.locator("#live")).to_have_text("live")  # the stream is open
    # The banner is fetched at load and again when the stream opens: both done, only the
    # stream's arc_link event can bring the change before the banner's 30 s poll.
    for _ in range(250):  # Playwright hands over its events while it waits
        if len(banner_fetches) >= 2:
            break
        page.wait_for_timeout(20)
    assert len(banner_fetches) >= 2
    expect(page.locator("#arc-down")).to_have_count(0)
    page.evaluate("window.noReloadMarker = 'still here'")

    went_down = time.monotonic()
    console.arc.change(
        ArcLinkState(
            configured=True,
            up=False,
            last_ack_ms=1_000,
            last_ack_receiver="primary",
            down_since_ms=601_000,
            failures=6,
            last_failure="backup: connection refused",
        )
    )
    banner = page.locator("#arc-down")
    expect(banner).to_be_visible(timeout=5000)  # sooner than the banner's 30 s poll
    seen_after = time.monotonic() - went_down
    expect(banner).to_contain_text(f"Alarms are NOT reaching the ARC: ring them on {PHONE}")
    expect(banner).to_contain_text("backup: connection refused")
    assert page.evaluate("window.noReloadMarker") == "still here"  # no reload happened
    colour = banner.evaluate("el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(192, 0, 26)"  # the console's alarm red
    screenshot(page, "console-arc-down.png")
    folder = artifacts()
    if folder is not None:
        (folder / "console-arc-banner-latency.txt").write_text(f"{seen_after * 1000:.0f} ms\n")

    page.click("nav a[href='/console/people']")  # every page carries it
    expect(page).to_have_url(f"{console.url}/console/people")
    expect(page.locator("#arc-down")).to_be_visible()
    page.click("#arc-down a[href='/console/arc']")
    expect(page.locator("#arc-status")).to_contain_text("down")

    console.arc.change(UP)
    expect(page.locator("#arc-down")).to_have_count(0, timeout=5000)
