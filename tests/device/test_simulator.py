from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from gpiozero import LED, PWMLED, Button
from gpiozero.pins.mock import MockPin, MockPWMPin

from loneguard.device.config import Config
from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import (
    ClockedMockFactory,
    ClockedMockPin,
    ClockedMockPWMPin,
    ControlServer,
)
from loneguard.protocol.clock import FakeClock
from tests.device.helpers import FakeLink, led_states, make_config


def test_pins_record_times_from_the_injected_clock(
    factory: ClockedMockFactory, clock: FakeClock
) -> None:
    led = LED(5, pin_factory=factory)
    pin = factory.pin(5)
    assert isinstance(pin, ClockedMockPin)
    pin.clear_states()
    clock.advance(2.5)
    led.on()
    clock.advance(0.25)
    led.off()
    pin.assert_states_and_times([(0.0, False), (2.5, True), (0.25, False)])
    assert led_states(pin) == [(0.0, 0), (2.5, 1), (0.25, 0)]
    assert [t for t, _ in pin.history] == [1000.0, 1002.5, 1002.75]
    assert factory.ticks() == clock.monotonic()


def test_pwm_pins_on_request(clock: FakeClock) -> None:
    factory = ClockedMockFactory(clock, pwm=True)
    led = PWMLED(6, pin_factory=factory)
    pin = factory.pin(6)
    assert isinstance(pin, ClockedMockPWMPin)
    pin.clear_states()
    clock.advance(1.0)
    led.value = 0.5
    assert led_states(pin) == [(0.0, 0), (1.0, 0.5)]
    plain = ClockedMockFactory(clock)
    assert isinstance(plain.pin(7, pin_class=MockPWMPin), ClockedMockPWMPin)
    assert isinstance(plain.pin(8, pin_class=MockPin), ClockedMockPin)


def test_button_events_carry_clock_ticks(factory: ClockedMockFactory, clock: FakeClock) -> None:
    button = Button(17, pin_factory=factory)
    factory.pin(17).drive_low()
    clock.advance(1.5)
    assert button.active_time == 1.5


def test_max_states_keeps_the_newest(clock: FakeClock) -> None:
    factory = ClockedMockFactory(clock, max_states=3)
    led = LED(5, pin_factory=factory)
    for _ in range(5):
        clock.advance(1.0)
        led.toggle()
    assert [s.state for s in factory.pin(5).states] == [True, False, True]


# -- the control endpoint, over real HTTP ------------------------------------------------------


@pytest.fixture
def control(
    config: Config, factory: ClockedMockFactory, clock: FakeClock
) -> Iterator[ControlServer]:
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink())
    app.start()
    clock.advance(1.0)  # past the "starting" flash
    server = ControlServer(app, "127.0.0.1", 0, wait=clock.advance).start()
    yield server
    server.stop()
    app.stop("test over")


def call(server: ControlServer, method: str, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path, method=method, data=b"" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_press_checkin_makes_one_event(control: ControlServer) -> None:
    status, body = call(control, "POST", "/buttons/checkin/press")
    assert status == 200
    (event_id,) = body["events"]
    status, state = call(control, "GET", "/state")
    assert status == 200
    assert state["device_id"] == "unit-01"
    assert state["queued"] == 1
    assert state["pattern"] == "waiting"
    assert state["connected"] is True
    assert [(e["id"], e["kind"], e["acked"]) for e in state["events"]] == [
        (event_id, "checkin", False)
    ]
    assert state["led"] == 1
    assert state["led_history"][-1][1] == 1
    assert all(isinstance(t, int) for t, _ in state["led_history"])


def test_hold_panic_makes_one_panic(control: ControlServer, clock: FakeClock) -> None:
    start = clock.monotonic()
    status, body = call(control, "POST", "/buttons/panic/hold")
    assert status == 200 and len(body["events"]) == 1
    assert clock.monotonic() == pytest.approx(start + 3.25)  # hold_time + 0.2, then settle
    state = call(control, "GET", "/state")[1]
    assert state["events"][0]["kind"] == "panic"


def test_short_hold_and_press_of_panic_make_nothing(control: ControlServer) -> None:
    assert call(control, "POST", "/buttons/panic/hold?seconds=2.5") == (200, {"events": []})
    assert call(control, "POST", "/buttons/panic/press") == (200, {"events": []})


def test_down_and_up(control: ControlServer, clock: FakeClock) -> None:
    assert call(control, "POST", "/buttons/checkin/down") == (200, {"events": []})
    status, body = call(control, "POST", "/buttons/checkin/up")
    assert status == 200 and len(body["events"]) == 1
    assert call(control, "POST", "/buttons/panic/down")[1] == {"events": []}
    clock.advance(3.0)  # the panic fires on the clock, between the two calls
    assert call(control, "POST", "/buttons/panic/up")[1] == {"events": []}
    assert call(control, "GET", "/state")[1]["queued"] == 2


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/buttons/doorbell/press", 404),
        ("POST", "/buttons/checkin/jump", 404),
        ("POST", "/nothing", 404),
        ("GET", "/nothing", 404),
        ("POST", "/buttons/panic/hold?seconds=abc", 400),
        ("POST", "/buttons/panic/hold?seconds=-1", 400),
        ("POST", "/buttons/panic/hold?seconds=1000", 400),
    ],
)
def test_errors_are_json(control: ControlServer, method: str, path: str, status: int) -> None:
    code, body = call(control, method, path)
    assert code == status
    assert "error" in body
    assert call(control, "GET", "/state")[1]["events"] == []


def test_duress_action_plays_the_chord_and_makes_one_duress(
    control: ControlServer, clock: FakeClock
) -> None:
    start = clock.monotonic()
    status, body = call(control, "POST", "/buttons/checkin/duress")
    assert status == 200 and len(body["events"]) == 1
    # panic down, check-in at +0.3 for 0.1 s, settle, panic up, settle: well short of a panic
    assert clock.monotonic() == pytest.approx(start + 0.5)
    assert [e["kind"] for e in call(control, "GET", "/state")[1]["events"]] == ["duress"]
    clock.advance(10.0)
    assert [e["kind"] for e in call(control, "GET", "/state")[1]["events"]] == ["duress"]


def test_signal_action_makes_one_signal_report(control: ControlServer, clock: FakeClock) -> None:
    status, body = call(control, "POST", "/buttons/panic/signal")
    assert status == 200 and len(body["events"]) == 1
    assert [e["kind"] for e in call(control, "GET", "/state")[1]["events"]] == ["signal_report"]


def test_checkin_hold_starts_a_session(control: ControlServer, clock: FakeClock) -> None:
    status, body = call(control, "POST", "/buttons/checkin/hold?seconds=2.2")
    assert status == 200 and len(body["events"]) == 1
    assert call(control, "GET", "/state")[1]["events"][0]["kind"] == "session_start"


# -- the web page for people -------------------------------------------------------------------


class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.buttons: list[str] = []
        self.actions: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if found.get("data-button"):
            self.buttons.append(str(found["data-button"]))
        if found.get("data-action"):
            self.actions.append(str(found["data-action"]))
        if tag in ("script", "link", "img") and (found.get("src") or found.get("href")):
            self.external.append(tag)


def get_page(server: ControlServer) -> tuple[str, str]:
    with urllib.request.urlopen(server.url + "/", timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def test_the_page_shows_the_unit_with_its_buttons_led_and_buzzer(control: ControlServer) -> None:
    content_type, html = get_page(control)
    assert content_type == "text/html; charset=utf-8"
    controls = _Controls()
    controls.feed(html)
    assert {"led", "buzzer", "pattern", "events"} <= controls.ids
    assert controls.buttons == ["checkin", "panic"]
    assert controls.external == [] and "http://" not in html and "https://" not in html
    # What the page's own script calls: the edges of a held button, and the state it polls.
    for path in ("/buttons/${name}/down", "/buttons/${name}/up", 'fetch("/state")'):
        assert path in html
    # Each shortcut the page offers is a route that works.
    made = []
    for action in controls.actions:
        status, body = call(control, "POST", action)
        assert status == 200, action
        made += body["events"]
    kinds = [e["kind"] for e in call(control, "GET", "/state")[1]["events"]]
    assert kinds == ["checkin", "duress", "session_start", "panic", "signal_report"]
    assert len(made) == 5


def test_the_state_the_page_polls_follows_a_press_and_the_ack(
    control: ControlServer, clock: FakeClock
) -> None:
    before = call(control, "GET", "/state")[1]
    assert before["events"] == [] and before["pattern"] == "online"
    assert before["buzzer"] == 0

    # What the page sends while a person holds check-in down and lets go.
    call(control, "POST", "/buttons/checkin/down")
    (event_id,) = call(control, "POST", "/buttons/checkin/up")[1]["events"]
    after = call(control, "GET", "/state")[1]
    assert [e["id"] for e in after["events"]] == [event_id]
    assert after["pattern"] == "waiting" and after["led"] == 1
    assert after["led_history"][-1][0] > before["led_history"][-1][0]

    link = control.app.link
    assert isinstance(link, FakeLink)
    link.ack(event_id)
    acked = call(control, "GET", "/state")[1]
    assert acked["events"][0]["acked"] is True
    assert (acked["pattern"], acked["led"], acked["buzzer"]) == ("acknowledged", 1, 1)
    assert acked["buzzer_history"][-1][1] == 1
    clock.advance(2.0)
    assert call(control, "GET", "/state")[1]["buzzer"] == 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_a_real_browser_runs_the_page_script_and_shows_the_state(
    control: ControlServer, tmp_path: Path
) -> None:
    (event_id,) = call(control, "POST", "/buttons/checkin/press")[1]["events"]
    shown = dump_dom(control.url + "/", tmp_path / "profile")
    assert '<span id="device-id">unit-01</span>' in shown
    assert '<dd id="pattern">waiting</dd>' in shown
    assert '<dd id="queued">1</dd>' in shown
    assert re.search(r'<div id="led"[^>]*class="on"', shown)  # the fake clock holds it lit
    assert re.search(r"<tbody id=\"events\"><tr><td>checkin</td><td>0</td>", shown)
    assert event_id not in shown  # ids are for machines; the page shows kind, seq and time


def dump_dom(url: str, profile: Path) -> str:
    """The page after its script has polled /state, as headless Chromium renders it."""
    return subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_in_desk_mode_the_page_shows_signed_in_or_out_with_desk_hints(
    tmp_path: Path, factory: ClockedMockFactory, clock: FakeClock
) -> None:
    config = make_config(tmp_path / "data", device={"mode": "desk"})
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink())
    app.start()
    server = ControlServer(app, "127.0.0.1", 0, wait=clock.advance).start()
    try:
        out = dump_dom(server.url + "/", tmp_path / "p1")
        assert "Signed out: hold check-in 2 s to sign in" in out
        assert re.search(r'<p class="hint" id="desk-hint">', out)  # shown, no hidden attribute
        assert re.search(r'<p class="hint" id="pocket-hint" hidden', out)
        assert ">sign in (hold)<" in out
        call(server, "POST", "/buttons/checkin/hold?seconds=2.2")
        out = dump_dom(server.url + "/", tmp_path / "p2")
        assert "Signed in: you are recorded as working here alone" in out
        assert ">sign out (hold)<" in out
    finally:
        server.stop()
        app.stop("done")
