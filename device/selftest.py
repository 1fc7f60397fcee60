"""``loneguard-device selftest``: the last step of assembling a unit.

Blinks the LED, beeps the buzzer (where fitted), asks for each button in turn (each must be
pressed within ``button_timeout`` seconds; ``--no-buttons`` skips them), checks the modem
(``AT``, the SIM with ``AT+CPIN?``, ``AT+CSQ``, ``AT+CREG?``) and the SMS fallback's settings
(``sms.hub_number``), with ``--sms`` sends a test SMS to the hub (a signed ``LG1 … TEST …``
line the hub records as a test, never as an alarm), reads the battery board where one is
configured, and connects to the broker (the configured URL, TLS and credentials), then prints a
table with one row per check. A unit with no modem configured FAILS: without one, panic and
duress have no way out when MQTT fails; ``--no-modem`` is for a unit built without one.
Any FAIL makes the exit status 1. The LED and buzzer rows say what was done: whether the light
and the sound came, the person assembling the unit sees and hears.

Run it with the service stopped (``systemctl stop loneguard-device``): the pins are then free.
Its MQTT connection uses its own client id with a clean session, so it never takes over the
device's persistent session or its queued acks.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TextIO

import paho.mqtt.client as mqtt
from gpiozero import LED, Button, Buzzer

from loneguard.device.battery import PiSugar3
from loneguard.device.config import Config
from loneguard.device.gestures import ButtonName
from loneguard.device.link import new_client
from loneguard.gsm.at import ModemError
from loneguard.gsm.modem import Modem
from loneguard.gsm.redact import mask_number
from loneguard.protocol.sms import TEST_KIND, FallbackLine

log = logging.getLogger(__name__)

Result = Literal["PASS", "FAIL", "SKIP"]

BLINKS = 3
BLINK_SECONDS = 0.25
BEEP_SECONDS = 0.2
BROKER_TIMEOUT = 10.0
_CREG_MEANING = {
    0: "not registered, not searching",
    1: "registered (home)",
    2: "searching",
    3: "registration denied",
    4: "unknown",
    5: "registered (roaming)",
}


@dataclass(frozen=True)
class Check:
    name: str
    result: Result
    detail: str = ""


class SelfTest:
    """The checks, run in order by ``run``. Hardware is handed in, as to the app."""

    def __init__(
        self,
        config: Config,
        *,
        pin_factory: Any,
        modem: Modem | None,
        out: TextIO,
        button_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        on_prompt: Callable[[ButtonName], None] | None = None,
        battery: PiSugar3 | None = None,
        buttons: bool = True,
        no_modem: bool = False,
        send_sms: bool = False,
    ) -> None:
        self.config = config
        self._factory = pin_factory
        self._modem = modem
        self._out = out
        self.button_timeout = button_timeout
        self._sleep = sleep
        self._on_prompt = on_prompt  # tests press the mock pin here
        self._battery = battery
        self.buttons = buttons
        self.no_modem = no_modem
        self.send_sms = send_sms

    def run(self) -> list[Check]:
        checks = [self.led(), self.buzzer()]
        for name in (ButtonName.CHECKIN, ButtonName.PANIC):
            checks.append(
                self.button(name)
                if self.buttons
                else Check(f"{name.value} button", "SKIP", "--no-buttons")
            )
        checks += self.modem()
        checks.append(self.battery())
        checks.append(self.broker())
        return checks

    def battery(self) -> Check:
        if self._battery is None:
            return Check(
                "battery", "SKIP", f"none read (battery.board = {self.config.battery.board})"
            )
        level = self._battery.percent()
        if level is None:
            return Check("battery", "FAIL", "the battery board does not answer on I2C")
        return Check("battery", "PASS", f"{level} % charged")

    # -- outputs -------------------------------------------------------------------------------

    def led(self) -> Check:
        pin = self.config.pins.led
        self._say(f"LED on GPIO{pin}: watch it blink {BLINKS} times")
        try:
            with LED(pin, pin_factory=self._factory) as led:
                self._pulse(led.on, led.off, BLINKS, BLINK_SECONDS)
        except Exception as exc:
            return Check("LED", "FAIL", f"GPIO{pin}: {exc}")
        return Check("LED", "PASS", f"blinked {BLINKS} times on GPIO{pin}")

    def buzzer(self) -> Check:
        pin = self.config.pins.buzzer
        if pin is None:
            return Check("buzzer", "SKIP", "none fitted (pins.buzzer = 0)")
        self._say(f"buzzer on GPIO{pin}: listen for two beeps")
        try:
            with Buzzer(pin, pin_factory=self._factory) as buzzer:
                self._pulse(buzzer.on, buzzer.off, 2, BEEP_SECONDS)
        except Exception as exc:
            return Check("buzzer", "FAIL", f"GPIO{pin}: {exc}")
        return Check("buzzer", "PASS", f"beeped twice on GPIO{pin}")

    def _pulse(self, on: Callable[[], None], off: Callable[[], None], times: int, s: float) -> None:
        for _ in range(times):
            on()
            self._sleep(s)
            off()
            self._sleep(s)

    # -- inputs --------------------------------------------------------------------------------

    def button(self, name: ButtonName) -> Check:
        label = f"{name.value} button"
        pin = self.config.pins.checkin if name is ButtonName.CHECKIN else self.config.pins.panic
        pressed = threading.Event()
        try:
            button = Button(pin, pull_up=True, pin_factory=self._factory)
        except Exception as exc:
            return Check(label, "FAIL", f"GPIO{pin}: {exc}")
        with button:
            button.when_pressed = pressed.set
            if button.is_pressed:
                return Check(label, "FAIL", f"GPIO{pin} reads pressed before any press: a short?")
            self._say(
                f"press the {name.value.upper()} button (GPIO{pin}) within "
                f"{self.button_timeout:g} s"
            )
            if self._on_prompt is not None:
                self._on_prompt(name)
            if not pressed.wait(self.button_timeout):
                return Check(label, "FAIL", f"no press on GPIO{pin} in {self.button_timeout:g} s")
        return Check(label, "PASS", f"pressed (GPIO{pin})")

    # -- the modem -----------------------------------------------------------------------------

    def modem(self) -> list[Check]:
        modem = self._modem
        if self.no_modem:
            return [Check("modem", "SKIP", "--no-modem: this unit has no SMS fallback")]
        if modem is None:
            return [
                Check(
                    "modem",
                    "FAIL",
                    "none configured (modem.port; the BOM's HAT is on /dev/serial0): panic "
                    "and duress have no SMS fallback; --no-modem for a unit without one",
                )
            ]
        hub = self.config.sms.hub_number
        checks = [
            Check("SMS fallback", "PASS", f"to the hub at {mask_number(hub)}")
            if hub
            else Check(
                "SMS fallback", "FAIL", "no sms.hub_number: panic and duress cannot go by SMS"
            )
        ]
        self._say(f"modem on {modem.port_name}")
        try:
            modem.command("AT")
        except ModemError as exc:
            return [*checks, Check("modem AT", "FAIL", str(exc))]
        checks.append(Check("modem AT", "PASS", "answers OK"))
        checks.append(self._sim(modem))
        try:
            dbm = modem.signal()
            checks.append(
                Check("modem signal", "PASS", f"{dbm} dBm")
                if dbm is not None
                else Check("modem signal", "FAIL", "no signal (AT+CSQ: 99)")
            )
        except ModemError as exc:
            checks.append(Check("modem signal", "FAIL", str(exc)))
        try:
            stat, registered = modem.registration()
            meaning = _CREG_MEANING.get(stat, f"stat {stat}")
            checks.append(Check("modem network", "PASS" if registered else "FAIL", meaning))
        except ModemError as exc:
            checks.append(Check("modem network", "FAIL", str(exc)))
        if self.send_sms:
            checks.append(self._test_sms(modem))
        return checks

    def _sim(self, modem: Modem) -> Check:
        try:
            state = modem.sim_status()
        except ModemError as exc:
            return Check("modem SIM", "FAIL", str(exc))
        if state == "READY":
            return Check("modem SIM", "PASS", "ready (no PIN wanted)")
        return Check(
            "modem SIM", "FAIL", f"the SIM waits for {state}: remove its PIN in a phone first"
        )

    def _test_sms(self, modem: Modem) -> Check:
        hub, secret = self.config.sms.hub_number, self.config.sms.secret
        if not hub or not secret:
            return Check("test SMS", "FAIL", "not sent: needs sms.hub_number and sms.secret")
        line = FallbackLine(
            self.config.device.id, TEST_KIND, str(uuid.uuid4()), int(time.time() * 1000)
        )
        self._say(f"sending a test SMS to the hub at {mask_number(hub)}")
        try:
            modem.initialise()  # text mode, as the firmware sends its fallback line
            reference = modem.send_sms(hub, line.encode(secret.encode()))
        except ModemError as exc:
            return Check("test SMS", "FAIL", str(exc))
        return Check(
            "test SMS",
            "PASS",
            f"sent to {mask_number(hub)} (reference {reference}); the hub records it as a test",
        )

    # -- the broker ----------------------------------------------------------------------------

    def broker(self) -> Check:
        settings = self.config.mqtt
        self._say(f"broker at {settings.url}")
        answered = threading.Event()
        outcome: list[str] = []

        def on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
            outcome.append("" if not reason.is_failure else str(reason))
            answered.set()

        who = f" as {settings.username}" if settings.username else ""
        try:
            client_id = f"loneguard-{self.config.device.id}-selftest"
            client = new_client(settings, client_id, clean_session=True)
            client.on_connect = on_connect
            client.connect(settings.host, settings.port, keepalive=30)
            client.loop_start()
            try:
                if not answered.wait(BROKER_TIMEOUT):
                    return Check("broker", "FAIL", f"no answer from {settings.url}")
            finally:
                client.disconnect()
                client.loop_stop()
        except (OSError, ValueError) as exc:
            return Check("broker", "FAIL", f"{settings.url}: {exc}")
        if outcome[0]:
            return Check("broker", "FAIL", f"{settings.url} refused{who}: {outcome[0]}")
        return Check("broker", "PASS", f"connected to {settings.url}{who}")

    def _say(self, line: str) -> None:
        print(line, file=self._out, flush=True)


def render(checks: list[Check]) -> str:
    """The pass/fail table."""
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  result  detail"]
    lines += [f"{c.name.ljust(width)}  {c.result.ljust(6)}  {c.detail}".rstrip() for c in checks]
    failed = sum(c.result == "FAIL" for c in checks)
    lines.append(f"{failed} failed" if failed else "all passed")
    return "\n".join(lines)


def exit_status(checks: list[Check]) -> int:
    return 1 if any(c.result == "FAIL" for c in checks) else 0
