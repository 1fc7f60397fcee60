"""A device without hardware: mock pins timed by the injected clock, and a local control endpoint.

``ClockedMockFactory(clock)`` is gpiozero's ``MockFactory`` whose pins record each state change
with the injected clock's time, so ``pin.assert_states_and_times([...])`` is exact under a
``FakeClock``. Get a pin with ``factory.pin(number)``; ``pin.states`` holds gpiozero's
``PinState(seconds since the previous change, state)`` list and ``pin.history`` the last
changes with absolute monotonic times.

The control endpoint (``ControlServer``) lets a person, a script or the demo press the buttons of
a simulated device over HTTP on loopback. Every response is JSON.

``GET /``
    A web page showing the unit for a person: its two buttons to press and hold with the mouse
    (or a finger), shortcuts for timed gestures, the LED and buzzer replaying their changes at
    their own timing, and the events with their acks. Plain HTML and script from this package
    (``device/simulator.html``); it polls ``/state`` every 100 ms.
``GET /state``
    ``{"device_id", "boot", "led": 0|1, "buzzer": 0|1|null, "pattern": name on show,
    "connected": bool, "hub_online": bool|null, "queued": events awaiting ack, "events": [{"id",
    "kind", "ts", "seq", "acked"}, ...] (the last 50 made, oldest first), "led_history": [[t_ms,
    0|1], ...], "buzzer_history": [...]}`` where ``t_ms`` is the wall-clock time (ms since the
    epoch) of each of the last 50 changes of that output (the buzzer's is empty when none).
``POST /buttons/{checkin|panic}/press``
    Press and release at once; ``{"events": [ids of the events this action made]}``. The answer
    waits out the 50 ms a release takes to settle (shorter releases are contact bounce), so a
    check-in's event is in it.
``POST /buttons/checkin/duress``
    The covert duress gesture: panic pressed, check-in pressed and released
    ``timing.duress_lead`` + 50 ms later, then panic released (well short of the panic hold).
``POST /buttons/panic/signal``
    The "poor signal here" gesture: three taps of panic, 0.3 s apart.
``POST /buttons/{name}/hold?seconds=S``
    Press, wait ``S`` seconds (default: the configured hold time + 0.2), release;
    ``{"events": [...]}``. Holding panic this way raises a panic; holding check-in (at least
    ``timing.long_hold``) starts a session (desk mode: signs in or out), and the answer waits
    out ``timing.step_window`` for the session start.
``POST /buttons/{name}/down``, ``POST /buttons/{name}/up``
    One edge each, for gestures of your own timing; ``{"events": [...]}`` (``up`` on check-in
    waits like ``press``).

An unknown button or route answers 404, a bad ``seconds`` 400, each with ``{"error": "..."}``.
Events made by a concurrent action can show in either action's list.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin, PinState

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName, GestureTiming
from loneguard.protocol.clock import Clock

log = logging.getLogger(__name__)

HISTORY_LENGTH = 50
PAGE_RESOURCE = "simulator.html"
MAX_HOLD_SECONDS = 60.0
SETTLE_SECONDS = 0.5


class ClockedMockPin(MockPin):  # type: ignore[misc]
    """A ``MockPin`` whose recorded state changes carry the injected clock's time.

    ``observers`` are called with ``(state, monotonic time)`` after each change: what the pin is
    wired to (a fake modem's PWRKEY, the simulator's page) can follow it.
    """

    history: deque[tuple[float, Any]]
    states: list[PinState]
    _state: Any
    _last_change: float

    def __init__(self, factory: Any, info: Any) -> None:
        self.observers: list[Callable[[Any, float], None]] = []
        super().__init__(factory, info)

    def _clock_now(self) -> float:
        now: float = self.factory.clock.monotonic()
        return now

    def _change_state(self, value: Any) -> bool:
        if self._state == value:
            return False
        now = self._clock_now()
        self._state = value
        self.states.append(PinState(now - self._last_change, value))
        self._last_change = now
        self.history.append((now, value))
        limit: int | None = self.factory.max_states
        if limit is not None and len(self.states) > limit:
            del self.states[: len(self.states) - limit]
        for observer in list(self.observers):
            try:
                observer(value, now)
            except Exception:  # whatever listens must not break the pin
                log.exception("pin observer failed")
        return True

    def clear_states(self) -> None:
        now = self._clock_now()
        self._last_change = now
        self.states = [PinState(0.0, self._state)]
        self.history = deque([(now, self._state)], maxlen=HISTORY_LENGTH)


class ClockedMockPWMPin(ClockedMockPin, MockPWMPin):  # type: ignore[misc]
    """The PWM variant, for PWM LEDs and tonal buzzers."""


class ClockedMockFactory(MockFactory):  # type: ignore[misc]
    """gpiozero's ``MockFactory`` on the injected clock.

    ``max_states`` caps each pin's ``states`` list for long simulator runs (oldest dropped);
    tests leave it at None so the whole record is kept.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        pwm: bool = False,
        revision: str | None = None,
        max_states: int | None = None,
    ) -> None:
        self.clock = clock
        self.max_states = max_states
        super().__init__(revision=revision, pin_class=ClockedMockPWMPin if pwm else ClockedMockPin)

    def pin(self, name: Any, pin_class: Any = None, **kwargs: Any) -> Any:
        # Callers asking for gpiozero's own mock classes get the clocked ones.
        if pin_class is MockPWMPin:
            pin_class = ClockedMockPWMPin
        elif pin_class is MockPin:
            pin_class = ClockedMockPin
        return super().pin(name, pin_class=pin_class, **kwargs)

    def ticks(self) -> float:  # gpiozero's event times, on the same clock
        now: float = self.clock.monotonic()
        return now


class ControlServer:
    """The HTTP control endpoint of one simulated device (see the module docstring)."""

    def __init__(
        self,
        app: DeviceApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app
        self._wait = wait  # a FakeClock's advance in tests, real sleep otherwise
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="control-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- actions -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        snapshot = self.app.snapshot()
        snapshot["led_history"] = self._history(self.app.led)
        snapshot["buzzer_history"] = self._history(self.app.buzzer)
        return snapshot

    def act(self, button: ButtonName, action: str, seconds: float | None = None) -> list[str]:
        """Do one button action and return the ids of the events it made."""
        pins = {name: b.pin for name, b in self.app.buttons.items()}
        pin = pins[button]
        config = self.app.config
        before = self.app.events_made
        settle = GestureTiming().settle
        if action == "duress":
            if button is not ButtonName.CHECKIN:
                raise ValueError("the duress gesture ends on the check-in button")
            # The chord: panic down, then check-in pressed and released while panic is held.
            pins[ButtonName.PANIC].drive_low()
            self._wait(config.timing.duress_lead + 0.05)
            pin.drive_low()
            self._wait(0.1)
            pin.drive_high()
            self._wait(settle)
            pins[ButtonName.PANIC].drive_high()
            self._wait(settle)
            self._settle(before)
            return self._made_since(before)
        if action == "signal":
            if button is not ButtonName.PANIC:
                raise ValueError("the signal report is three taps of panic")
            for _ in range(3):
                pin.drive_low()
                self._wait(0.1)
                pin.drive_high()
                self._wait(0.2)
            self._settle(before)
            return self._made_since(before)
        held = config.timing.hold_time + 0.2 if seconds is None else seconds
        if action in ("press", "hold", "down"):
            pin.drive_low()  # the buttons pull up: pressed is low
        if action == "hold":
            self._wait(held)
        if action in ("press", "hold", "up"):
            pin.drive_high()
            self._wait(settle)
            if button is ButtonName.CHECKIN:
                long_hold = action == "hold" and held >= config.timing.long_hold
                if long_hold and not config.device.desk:
                    self._wait(config.timing.step_window)
                self._settle(before)
        return self._made_since(before)

    def _made_since(self, before: int) -> list[str]:
        return [record.id for record in self.app.events_since(before)]

    def _settle(self, before: int) -> None:
        """Give the clock's timer thread a moment to recognise the gesture that just became due.

        Under a real clock the sleep can end a hair before the gesture timer runs; a fake clock
        has already run it, so this returns at once.
        """
        deadline = time.monotonic() + SETTLE_SECONDS
        while self.app.events_made == before and time.monotonic() < deadline:
            time.sleep(0.005)

    def _history(self, output: Any) -> list[list[float | int]]:
        history = getattr(output.pin, "history", None) if output is not None else None
        if history is None:
            return []
        clock = self.app.clock
        now_ms, now = clock.wall_ms(), clock.monotonic()
        return [[round(now_ms - (now - t) * 1000), 1 if state else 0] for t, state in history]


@functools.cache
def page() -> bytes:
    """The simulator's web page (``device/simulator.html``): the unit to click and watch."""
    return resources.files("loneguard.device").joinpath(PAGE_RESOURCE).read_bytes()


def _handler_class(control: ControlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "loneguard-device"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/state":
                self._reply(200, control.state())
            elif path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", page())
            else:
                self._reply(404, {"error": "no such route; try GET / or GET /state"})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "buttons":
                self._reply(404, {"error": "no such route; try POST /buttons/{name}/press"})
                return
            _, name, action = parts
            if name not in {b.value for b in ButtonName}:
                known = ", ".join(b.value for b in ButtonName)
                self._reply(404, {"error": f"unknown button {name[:40]!r} (known: {known})"})
                return
            if action not in ("press", "hold", "down", "up", "duress", "signal"):
                self._reply(404, {"error": f"unknown action {action[:40]!r}"})
                return
            seconds = None
            query = parse_qs(url.query)
            if "seconds" in query:
                try:
                    seconds = float(query["seconds"][0])
                except ValueError:
                    seconds = -1.0
                if not 0 < seconds <= MAX_HOLD_SECONDS:
                    problem = f"seconds: must be a number in (0, {MAX_HOLD_SECONDS:g}]"
                    self._reply(400, {"error": problem})
                    return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            try:
                events = control.act(ButtonName(name), action, seconds)
            except Exception as exc:
                log.exception("control action failed")
                self._reply(500, {"error": str(exc)})
                return
            self._reply(200, {"events": events})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(body).encode())

        def _send(self, status: int, content_type: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("control: " + format, *args)

    return Handler
