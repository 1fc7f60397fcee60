"""Voice calls through the modem: ring a number, speak to whoever answers, read the keys pressed.

One call is: ``ATD<number>;`` (the modem answers OK at once and the call goes on in the
background), the call's progress from unsolicited result codes (``VOICE CALL: BEGIN``/``END``,
``BUSY``, ``NO ANSWER``, ``NO CARRIER``) and from ``AT+CLCC`` (the list of current calls), the
alarm spoken into the call (``AT+CDTAM=1``, the remote audio path, then ``AT+CTTS=2,"<text>"``),
the keys the person presses (``+RXDTMF: <key>`` once ``AT+DDET=1`` has enabled DTMF detection),
and ``AT+CHUP`` to end it. docs/calls.md cites each from the SIM7600 and A76XX manuals.

Nothing here holds the modem for the whole call: every exchange is one short command under the
driver's lock, so SMS go out between them. Every wait is bounded: ``ring_time`` for an answer,
``listen_time`` for a key. Deadlines are on the injected clock (tests drive it); the serial
line itself is polled every ``poll_interval`` seconds of real time.

"Answered" is what the modem reports: some networks report a call up while it is still ringing
(an early traffic channel), so only a key pressed proves a person is there. The number never
appears in logs or exception messages.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from loneguard.gsm.at import NO_CARRIER, PHONE_NUMBER, ModemError, ModemTimeout, parse_fields
from loneguard.gsm.modem import Modem
from loneguard.gsm.redact import mask_number
from loneguard.gsm.sms import sms_text
from loneguard.protocol.clock import Clock, SystemClock

log = logging.getLogger(__name__)

TAKE_CHARGE_KEY = "1"
# AT+CTTS <text> in ASCII: at most 512 bytes with its quotes (A76XX manual §20.2.1).
MAX_SPEECH = 500

# +CLCC <stat> (3GPP TS 27.007 §7.18): 0 active, 1 held, 2 dialling, 3 alerting, 6 disconnect.
_ACTIVE = "0"
_ENDED = "6"
_VOICE_CALL = re.compile(r"VOICE CALL:\s*([A-Z]+)")


class CallOutcome(StrEnum):
    TOOK_CHARGE = "took charge"  # answered and pressed 1
    ANSWERED = "answered"  # the modem reported the call up; nobody pressed 1
    NO_ANSWER = "no answer"
    BUSY = "busy"
    FAILED = "failed"  # the network refused or dropped the call before it was up
    STOPPED = "stopped"  # hung up early because the caller asked (``ring``'s ``stop``)


_NOT_UP = {
    "BUSY": CallOutcome.BUSY,
    "NO ANSWER": CallOutcome.NO_ANSWER,
    NO_CARRIER: CallOutcome.FAILED,
}


@dataclass(frozen=True)
class CallResult:
    """How one call went. ``detail`` is safe to log and store: no number, no speech."""

    outcome: CallOutcome
    spoken: bool = False  # the modem took the speech for the call
    keys: str = ""  # keys pressed, in order
    keys_readable: bool = False  # whether this modem reports keys at all
    detail: str = ""


@dataclass
class _Call:
    up: bool = False  # the modem reported the call connected
    ended: str = ""  # why the call ended, "" while it lasts
    spoken: bool = False  # the modem reported the end of the speech (+CTTS: 0)
    stopped: bool = False  # the caller's ``stop`` said to hang up
    keys: list[str] = field(default_factory=list)


Speech = Callable[[bool], str]  # given whether keys can be read: what to say


class VoiceCalls:
    """Voice calls on one ``Modem``; one call at a time (``ring`` refuses a second at once)."""

    def __init__(
        self,
        modem: Modem,
        *,
        clock: Clock | None = None,
        poll_interval: float = 0.2,
        command_timeout: float = 10.0,
    ) -> None:
        self._modem = modem
        self._clock: Clock = clock if clock is not None else SystemClock()
        self.poll_interval = poll_interval
        self.command_timeout = command_timeout
        self._busy = threading.Lock()
        self._keys_readable: bool | None = None  # learnt on the first call

    @property
    def in_call(self) -> bool:
        return self._busy.locked()

    def ring(
        self,
        number: str,
        speech: Speech,
        *,
        ring_time: float,
        listen_time: float,
        stop: Callable[[], bool] | None = None,
    ) -> CallResult:
        """Ring ``number``; speak ``speech(keys_readable)`` once it is answered; listen for 1.

        Returns after the call has ended (hung up by us at the latest after ``ring_time``
        unanswered, or ``listen_time`` after the speech, or as soon as ``stop()`` is true, asked
        between polls: e.g. someone else took charge). Raises ``ValueError`` for a number
        that is not 3-20 digits, ``RuntimeError`` when a call is already under way, and
        ``ModemTimeout`` when the modem stops answering.
        """
        if not PHONE_NUMBER.fullmatch(number):
            raise ValueError("number must be 3-20 digits with an optional leading +")
        if not self._busy.acquire(blocking=False):
            raise RuntimeError("a call is already under way on this modem")
        try:
            return self._ring(number, speech, ring_time, listen_time, stop or (lambda: False))
        finally:
            self._busy.release()

    # -- one call -----------------------------------------------------------------------------

    def _ring(
        self,
        number: str,
        speech: Speech,
        ring_time: float,
        listen_time: float,
        stop: Callable[[], bool],
    ) -> CallResult:
        keys_readable = self._enable_keys()
        self._modem.take_unsolicited()  # what came before this call is not about it
        who = mask_number(number)
        try:
            self._modem.command(f"ATD{number};", timeout=self.command_timeout)
        except ModemTimeout:
            raise
        except ModemError as exc:
            outcome = CallOutcome.BUSY if exc.reason == "BUSY" else CallOutcome.FAILED
            log.info("call to %s: %s at dialling", who, outcome)
            return CallResult(outcome, keys_readable=keys_readable, detail=f"dial: {exc.reason}")
        log.info("call to %s: dialled", who)
        call = _Call()
        try:
            self._wait(call, ring_time, until=lambda: call.up, stop=stop)
            if call.stopped:
                log.info("call to %s: stopped", who)
                return CallResult(
                    CallOutcome.STOPPED, keys_readable=keys_readable, detail="stopped"
                )
            if not call.up:
                # Ended before it was up: busy, not answered in the network's time, refused or
                # dropped (NO CARRIER), or still ringing when the ring time ran out ("").
                outcome = _NOT_UP.get(call.ended, CallOutcome.NO_ANSWER)
                detail = f"rang {ring_time:g} s, no answer" if not call.ended else call.ended
                log.info("call to %s: %s", who, outcome)
                return CallResult(outcome, keys_readable=keys_readable, detail=detail)
            spoken = self._speak(speech(keys_readable))
            # Without key reports there is nothing to listen for: the speech ends the call.
            heard = (
                (lambda: TAKE_CHARGE_KEY in call.keys) if keys_readable else (lambda: call.spoken)
            )
            self._wait(call, listen_time if spoken else 0, until=heard, stop=stop)
        finally:
            if not call.ended:
                self._hang_up()
        keys = "".join(call.keys)
        if TAKE_CHARGE_KEY in call.keys:
            outcome, detail = CallOutcome.TOOK_CHARGE, f"answered, pressed {TAKE_CHARGE_KEY}"
        else:
            outcome = CallOutcome.ANSWERED
            detail = "answered, no key pressed" if keys_readable else "answered"
        if not spoken:
            detail += "; the modem could not speak the alarm"
        log.info("call to %s: %s", who, outcome)
        return CallResult(outcome, spoken, keys, keys_readable, detail)

    def _wait(
        self,
        call: _Call,
        seconds: float,
        *,
        until: Callable[[], bool],
        stop: Callable[[], bool],
    ) -> None:
        """Follow the call until ``until()``, its end, ``stop()``, or ``seconds`` (injected
        clock)."""
        deadline = self._clock.monotonic() + seconds
        while not call.ended and not until():
            self._follow(call)
            if call.ended or until() or self._clock.monotonic() >= deadline:
                return
            if stop():
                call.stopped = True
                return
            threading.Event().wait(self.poll_interval)

    def _follow(self, call: _Call) -> None:
        self._take_urcs(call)
        if call.ended or call.up:
            return
        # No URC said so yet: the list of current calls may (some firmware reports no BEGIN).
        states = self._call_states()
        self._take_urcs(call)  # a BUSY or BEGIN that came during AT+CLCC says more than a list
        if call.ended or call.up or states is None:
            return
        if _ACTIVE in states:
            call.up = True
        elif all(s == _ENDED for s in states):
            call.ended = NO_CARRIER  # gone from the list, and no result code said why

    def _take_urcs(self, call: _Call) -> None:
        for urc in self._modem.take_unsolicited():
            begun = _VOICE_CALL.match(urc)
            if begun is not None:
                if begun.group(1) == "BEGIN":
                    call.up = True
                elif begun.group(1) == "END":
                    call.ended = "VOICE CALL: END"
            elif urc in ("BUSY", "NO ANSWER", NO_CARRIER):
                call.ended = urc
            elif urc.startswith("+CTTS:") and urc[len("+CTTS:") :].strip() == "0":
                call.spoken = True
            elif urc.startswith("+RXDTMF:"):
                key = urc[len("+RXDTMF:") :].strip()[:1]
                if key:
                    call.keys.append(key)

    def _call_states(self) -> list[str] | None:
        """The <stat> of each current call (AT+CLCC); None if the modem would not say."""
        try:
            lines = self._modem.command("AT+CLCC", expect="+CLCC:")
        except ModemTimeout:
            raise
        except ModemError:
            return None
        found = [parse_fields(line[6:]) for line in lines if line.startswith("+CLCC:")]
        return [f[2] for f in found if len(f) > 2]

    def _speak(self, text: str) -> bool:
        """Put the speech on the call's audio (remote path); False if the modem cannot."""
        words = _speakable(text)
        try:
            self._modem.command("AT+CDTAM=1", timeout=self.command_timeout)
            self._modem.command(
                f'AT+CTTS=2,"{words}"', timeout=self.command_timeout, expect="+CTTS:"
            )
        except ModemTimeout:
            raise
        except ModemError as exc:
            log.warning("call: the modem did not speak: %s", exc.reason)
            return False
        return True

    def _hang_up(self) -> None:
        try:
            self._modem.command("AT+CHUP", timeout=self.command_timeout)
        except ModemError as exc:
            log.warning("call: hanging up failed: %s", exc.reason)

    def _enable_keys(self) -> bool:
        """``AT+DDET=1`` once: whether this modem reports the keys pressed during a call."""
        if self._keys_readable is None:
            try:
                self._modem.command("AT+DDET=1", timeout=self.command_timeout)
                self._keys_readable = True
            except ModemTimeout:
                raise
            except ModemError:
                self._keys_readable = False
                log.info(
                    "modem %s reports no DTMF keys: calls cannot take charge", self._modem.port_name
                )
        return self._keys_readable


def _speakable(text: str) -> str:
    """ASCII for AT+CTTS mode 2: typography made plain, no quotes, one line, bounded."""
    plain = "".join(sms_text(text[i : i + 50]) for i in range(0, len(text), 50))
    plain = " ".join(plain.replace('"', "'").split())
    if len(plain) > MAX_SPEECH:
        plain = plain[: MAX_SPEECH - 3].rstrip() + "..."
    return plain


__all__ = ["MAX_SPEECH", "TAKE_CHARGE_KEY", "CallOutcome", "CallResult", "Speech", "VoiceCalls"]
