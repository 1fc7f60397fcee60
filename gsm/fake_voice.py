"""The fake modem's voice calls, as the SIM7600 and A7670E manuals describe them.

``FakeModem`` hands every command it does not know to ``FakeVoice.execute``. A call follows the
callee's script, set by the test before it dials (``callee``): answers or not, busy, which keys
they press once the alarm has been spoken. What each modem says comes from its manual
(docs/calls.md cites the sections); where the two differ, ``model`` decides:

- both: ``ATD<n>;`` answers OK at once and ``VOICE CALL: BEGIN`` when the call is up;
  ``AT+CLCC`` lists the call (stat 2 dialling, 3 alerting, 0 active); ``AT+CHUP`` ends it
  with ``VOICE CALL: END: <hhmmss>``; ``AT+CDTAM=1`` puts speech on the call; ``AT+CTTS=2,"..."``
  speaks ASCII text and reports the end of speech with ``+CTTS: 0``.
- SIM7600: ``AT+DDET=1`` enables DTMF detection; each key pressed comes as ``+RXDTMF: <key>``;
  a busy callee is ``BUSY``.
- A7670E: the A76XX manual has no DTMF detection command (``AT+DDET`` answers ERROR, keys are
  never reported); ``AT+CTTS`` answers ``+CTTS:`` before OK and ``+CTTS:0`` after; a failed
  call, busy included, is ``NO CARRIER`` (§2.2.1 lists no BUSY).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Model = Literal["SIM7600", "A7670E"]
MODELS: tuple[Model, ...] = ("SIM7600", "A7670E")

Reply = tuple[list[str], str, list[str]]  # information lines, final result code, URCs after it


class CallRefused(Exception):
    """The command is refused: +CME ERROR ``code`` (3 not allowed, 4 not supported)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Callee:
    """What the person at a number does when rung."""

    answers: bool = False
    busy: bool = False
    keys: str = ""  # pressed after the alarm has been spoken


@dataclass
class FakeCall:
    number: str
    callee: Callee
    state: Literal["alerting", "active", "ended"] = "alerting"
    spoken: list[str] = field(default_factory=list)
    speech_path: str = "local"
    hung_up: bool = False


class FakeVoice:
    def __init__(self, model: Model = "SIM7600") -> None:
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}")
        self.model: Model = model
        self.calls: list[FakeCall] = []
        self._callees: dict[str, Callee] = {}
        self.reset()

    # -- test hooks ---------------------------------------------------------------------------

    def callee(
        self, number: str, *, answers: bool = False, busy: bool = False, keys: str = ""
    ) -> None:
        """Script what happens when ``number`` is rung (unscripted numbers ring unanswered)."""
        self._callees[number] = Callee(answers, busy, keys)

    @property
    def current(self) -> FakeCall | None:
        return next((c for c in reversed(self.calls) if c.state != "ended"), None)

    # -- the modem ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power-on defaults: DTMF detection off, speech to the local path, no call."""
        self.dtmf_detection = False
        self.remote_audio = False
        for call in self.calls:
            call.state = "ended"

    def execute(self, upper: str, command: str) -> Reply | None:
        """The reply to a voice command, or None when ``command`` is not one."""
        value = command.split("=", 1)[1] if "=" in command else ""
        if upper.startswith("ATD") and upper.endswith(";"):
            return self._dial(command[3:-1])
        if upper == "AT+CLCC":
            return self._list(), "OK", []
        if upper in ("AT+CHUP", "ATH"):
            return self._hang_up()
        if upper.startswith("AT+DDET="):
            if self.model != "SIM7600":
                raise CallRefused(4)
            self.dtmf_detection = value.split(",")[0].strip() == "1"
            return [], "OK", []
        if upper.startswith("AT+CDTAM="):
            self.remote_audio = value.strip() == "1"
            return [], "OK", []
        if upper.startswith("AT+CTTS="):
            return self._speak(value)
        return None

    def _dial(self, number: str) -> Reply:
        if self.current is not None:
            raise CallRefused(3)
        callee = self._callees.get(number, Callee())
        call = FakeCall(number, callee)
        self.calls.append(call)
        if callee.busy:
            call.state = "ended"
            return [], "OK", ["BUSY" if self.model == "SIM7600" else "NO CARRIER"]
        if callee.answers:
            call.state = "active"
            return [], "OK", ["VOICE CALL: BEGIN"]
        return [], "OK", []

    def _list(self) -> list[str]:
        stat = {"alerting": 3, "active": 0}
        lines = []
        for i, c in enumerate(self.calls, 1):
            if c.state != "ended":
                kind = 145 if c.number.startswith("+") else 129  # international or not
                lines.append(f'+CLCC: {i},0,{stat[c.state]},0,0,"{c.number}",{kind}')
        return lines

    def _hang_up(self) -> Reply:
        call = self.current
        if call is None:
            return [], "OK", []
        was_up = call.state == "active"
        call.state = "ended"
        call.hung_up = True
        return [], "OK", ["VOICE CALL: END: 000012"] if was_up else []

    def _speak(self, value: str) -> Reply:
        mode, _, text = value.partition(",")
        mode = mode.strip()
        if mode == "0":
            return [], "OK", []
        if mode != "2" or not (text.startswith('"') and text.endswith('"')):
            raise CallRefused(4)
        call = self.current
        words = text[1:-1]
        after: list[str] = ["+CTTS: 0" if self.model == "SIM7600" else "+CTTS:0"]
        if call is not None and call.state == "active":
            call.spoken.append(words)
            call.speech_path = "remote" if self.remote_audio else "local"
            if self.dtmf_detection and call.speech_path == "remote":
                after += [f"+RXDTMF: {key}" for key in call.callee.keys]
        info = ["+CTTS:"] if self.model == "A7670E" else []
        return info, "OK", after


__all__ = ["MODELS", "CallRefused", "Callee", "FakeCall", "FakeVoice", "Model"]
