"""A fake GSM modem on a pty pair, speaking the AT subset ``modem`` uses.

A thread on the master side answers like a SIMCom module in SMS text mode: echo on until ATE0,
``\\r\\n<line>\\r\\n`` framing, the ``\\r\\n> `` prompt of AT+CMGS (no line end), +CMTI
indications once AT+CNMI asks for them. In PDU mode (``AT+CMGF=0``) ``AT+CMGS=<length>`` takes
an SMS-SUBMIT in hexadecimal; ``fake_pdu`` decodes it as the network would and joins the parts of
a concatenated message, which then lands in ``sent`` whole (``sent_messages`` says in how many
parts and which alphabet). The driver opens ``path``, a symlink to the pty slave that
follows the line across ``close_line``/``reopen_line`` the way udev's /dev/serial/by-id links
follow a USB modem.

Tests steer it (``deliver_sms``, ``hang``, ``fail_next``, ``close_line``) and assert on
``transcript``, every line exchanged with its direction, instead of sleeping. ``submissions``
records when each AT+CMGS body's Ctrl-Z came in, on the ``now`` clock handed in (as gpiozero's
mock pins record their changes), and which whole message it completed: a benchmark times an
alarm's SMS to the moment its bytes reach the modem without reading logs.

The fake answers at once: it models no network or module delays, so a time taken at its end is
the sender's own path to the modem, not the network's delivery.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from loneguard.gsm.at import CTRL_Z, ESC
from loneguard.gsm.fake_models import A7670E, SIM7600, CommandRefused, FakeModel
from loneguard.gsm.fake_pdu import PduError, Reassembly, SentMessage, SubmittedPart, decode_submit
from loneguard.gsm.fake_voice import CallRefused, FakeVoice, Model

Direction = Literal["dte", "dce"]  # dte: driver → modem; dce: modem → driver
HangUntil = Literal["cfun", "power"]

# A SIM7600 fix: 31°13.33' N, 121°21.26' E, 32.9 m.
SAMPLE_GNSS = "2,06,03,00,3113.330650,N,12121.262554,E,131117,091918.0,32.9,0.0,255.0,1.1,0.8,0.7"
NO_FIX_GNSS = ",,,,,,,,,,,,,,,"
# The same place as AT+CGPSINFO reports it (lat, N/S, lon, E/W, date, UTC time, alt, speed, course).
SAMPLE_GPSINFO = "3113.330650,N,12121.262554,E,131117,091918.0,32.9,0.0,0"
NO_FIX_GPSINFO = ",,,,,,,,"

_CME_TEXT = {
    3: "operation not allowed",
    4: "operation not supported",
    10: "SIM not inserted",
    100: "unknown",
}
_CMS_TEXT = {
    302: "operation not allowed",
    304: "invalid PDU mode parameter",
    321: "invalid memory index",
    331: "no network service",
    500: "unknown error",
}


class Exchange(NamedTuple):
    direction: Direction
    line: str


@dataclass
class StoredSms:
    number: str
    text: str
    status: str = "REC UNREAD"
    scts: str = "24/11/25,10:00:00+00"


@dataclass(frozen=True)
class Submission:
    """One AT+CMGS body as the modem took it in."""

    at: float  # the modem's ``now()`` as the body's Ctrl-Z came in
    body: str  # the text (text mode) or the SMS-SUBMIT in hexadecimal (PDU mode)
    # The whole message this body completed; None for a part with more to come, or a refusal.
    completed: SentMessage | None


class _Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo or newline translation before the driver opens it
        self.name = os.ttyname(self.slave)
        self.wake_r, self.wake_w = os.pipe()
        self.thread: threading.Thread | None = None

    def close(self) -> None:
        for fd in (self.master, self.slave, self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


class FakeModem:
    """The modem end of a pty. ``with FakeModem() as fake: Modem(fake.path)``."""

    def __init__(
        self,
        *,
        rssi: int = 20,
        creg_stat: int = 1,
        gnss_info: str | None = None,
        gps_info: str | None = None,
        first_reference: int = 1,
        model: FakeModel | Model | None = None,
        powered: bool = True,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(model, str):  # a model named: its manual's defaults
            model = A7670E() if model == "A7670E" else SIM7600()
        # Voice calls, as the model's manual has them (the SIM7600's where none is named).
        self.voice = FakeVoice("A7670E" if isinstance(model, A7670E) else "SIM7600")
        self.rssi = rssi
        self.creg_stat = creg_stat
        self.sim_state = "READY"  # what AT+CPIN? reports: READY, SIM PIN, SIM PUK, ...
        self.gnss_info = gnss_info  # None: AT+CGNSSINFO answers ERROR (a modem without GNSS)
        # AT+CGPSINFO's answer once AT+CGPS=1 has switched the receiver on; None: no receiver.
        self.gps_info = gps_info
        self.inbox: dict[int, StoredSms] = {}
        self.sent: list[tuple[str, str]] = []
        self.sent_parts: list[SubmittedPart] = []  # every PDU-mode SMS, part by part
        self.sent_messages: list[SentMessage] = []  # every message sent, whole
        self.submissions: list[Submission] = []  # every AT+CMGS body, timed on ``now``
        self._now = now
        self._reassembly = Reassembly()
        self._pdu_length = 0
        # The GSM network: called with (number, text) for each message sent, e.g. to hand it to
        # another fake modem's ``deliver_sms``.
        self.on_sent: Callable[[str, str], None] | None = None
        self.transcript: list[Exchange] = []
        self.sms_sent = threading.Event()
        self.power_cycles = 0
        self.powered = powered
        # The model's own command set (gsm/fake_models.py); None: the generic SIMCom core only.
        self.model = model
        self._urcs_after_reply: list[str] = []
        self._pwrkey_down_at: float | None = None
        self._next_reference = first_reference
        self._lock = threading.RLock()
        self._command_seen = threading.Condition(self._lock)
        self._submitted = threading.Condition(self._lock)
        self._dir = tempfile.mkdtemp(prefix="fake-modem-")
        self.path = os.path.join(self._dir, "modem")
        self._line: _Pty | None = None
        self._rx = bytearray()
        self._prompt_number: str | None = None
        self._hung: HangUntil | None = None
        self._cfun_off_seen = False
        self._urcs_next_command: list[str] = []
        self._failures: dict[str, str] = {}
        self._reset()
        self.reopen_line()

    # -- test hooks ---------------------------------------------------------------------------

    def deliver_sms(self, number: str, text: str, *, during_next_command: bool = False) -> int:
        """Store a message in the first free SIM slot and announce it with +CMTI.

        With ``during_next_command`` the URC is held back and sent in the middle of the next
        command's response (after its information lines, before its final result code).
        """
        with self._lock:
            index = next(i for i in range(1, 1000) if i not in self.inbox)
            self.inbox[index] = StoredSms(number, text)
            if self._cnmi_mt == 1:
                urc = f'+CMTI: "SM",{index}'
                if during_next_command:
                    self._urcs_next_command.append(urc)
                elif self._hung is None:
                    self._emit_lines([urc])
            return index

    def hang(self, *, until: HangUntil = "cfun") -> None:
        """Stop answering: until an AT+CFUN=0 then =1 (``cfun``), or a power cycle (``power``)."""
        with self._lock:
            self._hung = until
            self._cfun_off_seen = False

    def unhang(self) -> None:
        with self._lock:
            self._hung = None

    def power_cycle(self) -> None:
        """What a PWRKEY pulse does: every setting back to its default, the SIM inbox kept."""
        with self._lock:
            self.power_cycles += 1
            self._reset()
            self._emit_lines(["RDY", "+CPIN: READY", "SMS DONE"])

    def pwrkey(self, pressed: bool, now: float) -> None:
        """The PWRKEY line as a SIMCom module reads it (``pressed``: pulled low) at time ``now``.

        Released after 2.5 s or more while on: the module switches off (and answers nothing).
        Released after 0.5 s or more while off: it boots, as ``power_cycle``. Wire it to a
        mock pin with ``pin.observers.append(lambda state, t: fake.pwrkey(bool(state), t))``.
        """
        with self._lock:
            if pressed:
                self._pwrkey_down_at = now
                return
            if self._pwrkey_down_at is None:
                return
            held, self._pwrkey_down_at = now - self._pwrkey_down_at, None
            if self.powered and held >= 2.5:
                self._emit_lines(["NORMAL POWER DOWN"])
                self.powered = False
            elif not self.powered and held >= 0.5:
                self.powered = True
                self.power_cycle()

    @property
    def radio_on(self) -> bool:
        """AT+CFUN=1 (the default) rather than 0."""
        return bool(self._cfun)

    def emit_urc_after_reply(self, line: str) -> None:
        """Send ``line`` as a URC once the current command's final result code is out."""
        self._urcs_after_reply.append(line)

    def fail_next(self, command: str, error: str) -> None:
        """Answer the next ``command`` (e.g. "AT+CMGS") with ``error`` ("+CMS ERROR: 500").

        An empty ``error`` means no answer at all. AT+CMGS still prompts and takes the text, then
        fails, as a network refusal does.
        """
        with self._lock:
            self._failures[command] = error

    def close_line(self) -> None:
        """Break the serial line: the driver's reads and writes fail with EIO."""
        with self._lock:
            line, self._line = self._line, None
        if line is None:
            return
        os.write(line.wake_w, b"x")
        if line.thread is not None:
            line.thread.join(timeout=5)
        line.close()

    def reopen_line(self) -> None:
        """Bring the line back as a new pty; ``path`` points to it."""
        self.close_line()
        line = _Pty()
        link = self.path + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink(line.name, link)
        os.replace(link, self.path)
        with self._lock:
            self._rx.clear()
            self._prompt_number = None
            self._line = line
        line.thread = threading.Thread(
            target=self._serve, args=(line,), name="fake-modem", daemon=True
        )
        line.thread.start()

    def commands(self) -> list[str]:
        """Every line the driver sent, in order."""
        with self._lock:
            return [e.line for e in self.transcript if e.direction == "dte"]

    def clear_transcript(self) -> None:
        with self._lock:
            self.transcript.clear()

    def wait_for_command(self, prefix: str, timeout: float = 5.0) -> bool:
        """Wait until the driver has sent a line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        with self._command_seen:
            while not any(c.startswith(prefix) for c in self.commands()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._command_seen.wait(left)
            return True

    def wait_for_submissions(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``submissions`` holds at least ``count`` bodies."""
        with self._submitted:
            return self._submitted.wait_for(lambda: len(self.submissions) >= count, timeout)

    def close(self) -> None:
        self.close_line()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> FakeModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the modem ------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._echo = True
        self._cmee = 0
        self._cmgf = 0
        self._cnmi_mt = 0
        self._cfun = 1
        self._gps_on = False
        self._hung = None
        self._prompt_number = None
        self.voice.reset()
        model: FakeModel | None = getattr(self, "model", None)  # None while __init__ runs
        if model is not None:
            model.reset()

    def _serve(self, line: _Pty) -> None:
        while True:
            ready, _, _ = select.select([line.master, line.wake_r], [], [])
            if line.wake_r in ready:
                return
            try:
                data = os.read(line.master, 4096)
            except OSError:
                return
            with self._lock:
                if self._line is not line:
                    return
                self._rx += data
                self._process()

    def _process(self) -> None:
        while self._rx:
            if self._prompt_number is not None:
                end = next((i for i, b in enumerate(self._rx) if b in (0x1A, 0x1B)), -1)
                if end < 0:
                    return
                arrived = self._now()
                text = self._rx[:end].decode("latin-1")
                key = chr(self._rx[end])
                del self._rx[: end + 1]
                self._record("dte", text)
                self._record("dte", key)
                number, self._prompt_number = self._prompt_number, None
                if key == CTRL_Z:
                    whole_before = len(self.sent_messages)
                    self._finish_send(number, text)
                    completed = self.sent_messages[whole_before:]
                    self.submissions.append(
                        Submission(arrived, text, completed[0] if completed else None)
                    )
                    self._submitted.notify_all()
                else:
                    self._respond([], "OK")  # ESC: sending abandoned
                continue
            end = next((i for i, b in enumerate(self._rx) if b in (0x0D, 0x0A)), -1)
            if end < 0:
                return
            command = self._rx[:end].decode("latin-1").strip()
            del self._rx[: end + 1]
            if command:
                self._record("dte", command)
                self._command_seen.notify_all()
                self._answer(command)

    def _answer(self, command: str) -> None:
        upper = command.upper()
        if not self.powered:
            return
        if self._hung is not None:
            if self._hung == "cfun" and upper == "AT+CFUN=0":
                self._cfun_off_seen = True
            if not (self._hung == "cfun" and upper == "AT+CFUN=1" and self._cfun_off_seen):
                return
            self._hung = None
        if self._echo:
            self._emit_raw(command + "\r", command)
        name = upper.split("=")[0].split("?")[0]
        failure = self._failures.pop(name, None)
        if failure is not None and name != "AT+CMGS":
            if failure:
                self._respond([], failure)
            return
        if failure is not None:
            self._failures[name] = failure  # AT+CMGS fails after the text, like the network
        try:
            info, final = self._execute(upper, command)
        except _Fail as fail:
            info, final = [], self._error(fail.code, sms=fail.sms)
        except CommandRefused as refused:
            info, final = [], self._error(refused.code, sms=False)
        if final:
            self._respond(info, final)
        after, self._urcs_after_reply = self._urcs_after_reply, []
        self._emit_lines(after)

    def _execute(self, upper: str, command: str) -> tuple[list[str], str]:
        """Return the information lines and the final result code ("" when it comes later)."""
        if upper in ("AT", "ATZ"):
            return [], "OK"
        if self.model is not None:
            answer = self.model.answer(
                self, upper, command.split("=", 1)[1] if "=" in command else ""
            )
            if answer is not None:
                return answer
        if upper in ("ATE0", "ATE1"):
            self._echo = upper == "ATE1"
            return [], "OK"
        value = command.split("=", 1)[1] if "=" in command else ""
        if upper.startswith("AT+CMEE="):
            self._cmee = _int(value, 0, 2)
            return [], "OK"
        if upper.startswith("AT+CMGF="):
            self._cmgf = _int(value, 0, 1)
            return [], "OK"
        if upper.startswith("AT+CNMI="):
            self._cnmi_mt = _int(value.split(",")[1] if "," in value else "", 0, 3)
            return [], "OK"
        if upper.startswith("AT+CSCS="):
            if value.strip('"').upper() not in ("GSM", "IRA", "UCS2", "HEX"):
                raise _Fail(4)
            return [], "OK"
        if upper.startswith("AT+CPMS="):
            n = len(self.inbox)
            return [f"+CPMS: {n},30,{n},30,{n},30"], "OK"
        if upper.startswith("AT+CFUN="):
            self._cfun = _int(value, 0, 1)
            return [], "OK"
        if upper == "AT+CSQ":
            return [f"+CSQ: {self.rssi if self._cfun else 99},99"], "OK"
        if upper == "AT+CREG?":
            return [f"+CREG: 0,{self.creg_stat if self._cfun else 0}"], "OK"
        if upper == "AT+CPIN?":  # SIM7600 / A76xx AT manuals, AT+CPIN: READY, SIM PIN, SIM PUK
            return [f"+CPIN: {self.sim_state}"], "OK"
        if upper.startswith("AT+CGPS="):
            if self.gps_info is None:
                raise _Fail(4)
            if self._gps_on and _int(value, 0, 1) == 1:
                raise _Fail(3)  # as a SIM7600 answers when the receiver is already on
            self._gps_on = _int(value, 0, 1) == 1
            return [], "OK"
        if upper == "AT+CGPSINFO":
            if self.gps_info is None:
                raise _Fail(4)
            return [f"+CGPSINFO: {self.gps_info if self._gps_on else NO_FIX_GPSINFO}"], "OK"
        if upper == "AT+CGNSSINFO":
            if self.gnss_info is None:
                raise _Fail(4)
            return [f"+CGNSSINFO: {self.gnss_info}"], "OK"
        if upper.startswith("AT+CMGS=") and self._cmgf == 0:
            self._pdu_length = _int(value, 1, 164, sms=True)
            self._prompt_number = _PDU
            self._emit_raw("\r\n> ", "> ")
            return [], ""
        if upper.startswith(("AT+CMGS=", "AT+CMGR=", "AT+CMGL=", "AT+CMGD=")):
            if self._cmgf != 1:
                raise _Fail(302, sms=True)
            return self._sms_command(upper[:7], value)
        try:
            call = self.voice.execute(upper, command)
        except CallRefused as refused:
            raise _Fail(refused.code) from None
        if call is not None:
            info, final, urcs = call
            self._urcs_after_reply.extend(urcs)
            return info, final
        raise _Fail(4)

    def _sms_command(self, name: str, value: str) -> tuple[list[str], str]:
        if name == "AT+CMGS":
            self._prompt_number = value.strip('"')
            self._emit_raw("\r\n> ", "> ")
            return [], ""
        if name == "AT+CMGR":
            index = _int(value, 0, 999, sms=True)
            if index not in self.inbox:
                raise _Fail(321, sms=True)
            sms = self.inbox[index]
            header = f'+CMGR: "{sms.status}","{sms.number}",,"{sms.scts}"'
            sms.status = "REC READ"
            return [header, sms.text], "OK"
        if name == "AT+CMGL":
            wanted = value.strip('"').upper()
            info: list[str] = []
            for index, sms in sorted(self.inbox.items()):
                if wanted in ("ALL", sms.status):
                    info += [
                        f'+CMGL: {index},"{sms.status}","{sms.number}",,"{sms.scts}"',
                        sms.text,
                    ]
                    sms.status = "REC READ"
            return info, "OK"
        index_text, _, flag = value.partition(",")
        if flag.strip() == "4":
            self.inbox.clear()
        else:
            self.inbox.pop(_int(index_text, 0, 999, sms=True), None)
        return [], "OK"

    def _finish_send(self, number: str, text: str) -> None:
        failure = self._failures.pop("AT+CMGS", None)
        if failure is not None:
            if failure:
                self._respond([], failure)
            return
        registered = self.creg_stat in (1, 5, 6, 7) or (
            self.model is not None and self.model.registered()
        )
        if not self._cfun or not registered:
            self._respond([], self._error(331, sms=True))
            return
        if number == _PDU:
            self._finish_pdu(text)
            return
        self.sent.append((number, text))
        self.sent_messages.append(SentMessage(number, text, 1, "text mode"))
        reference, self._next_reference = self._next_reference, (self._next_reference + 1) % 256
        self._respond([f"+CMGS: {reference}"], "OK")
        self.sms_sent.set()
        if self.on_sent is not None:
            self.on_sent(number, text)

    def _finish_pdu(self, hex_text: str) -> None:
        try:
            part = decode_submit(hex_text, self._pdu_length)
        except PduError:
            self._respond([], self._error(304, sms=True))
            return
        self.sent_parts.append(part)
        reference, self._next_reference = self._next_reference, (self._next_reference + 1) % 256
        self._respond([f"+CMGS: {reference}"], "OK")
        whole = self._reassembly.add(part)
        if whole is None:
            return
        self.sent_messages.append(whole)
        self.sent.append((whole.number, whole.text))
        self.sms_sent.set()
        if self.on_sent is not None:
            self.on_sent(whole.number, whole.text)

    def _error(self, code: int, *, sms: bool) -> str:
        kind = "CMS" if sms else "CME"
        if self._cmee == 0:
            return "ERROR"
        if self._cmee == 1:
            return f"+{kind} ERROR: {code}"
        return f"+{kind} ERROR: {(_CMS_TEXT if sms else _CME_TEXT).get(code, 'unknown')}"

    # -- the wire -----------------------------------------------------------------------------

    def _respond(self, info: list[str], final: str) -> None:
        """Information lines as one block (``\r\n<a>\r\n<b>\r\n``), then held URCs, then
        the final result code, each framed on its own, as V.25ter lays them out."""
        if info:
            for line in info:
                self._record("dce", line)
            self._write("\r\n" + "\r\n".join(info) + "\r\n")
        urcs, self._urcs_next_command = self._urcs_next_command, []
        self._emit_lines([*urcs, final])

    def _emit_lines(self, lines: list[str]) -> None:
        for line in lines:
            self._emit_raw(f"\r\n{line}\r\n", line)

    def _emit_raw(self, data: str, record: str) -> None:
        self._record("dce", record)
        self._write(data)

    def _write(self, data: str) -> None:
        if self._line is not None:
            with contextlib.suppress(OSError):
                os.write(self._line.master, data.encode("latin-1"))

    def _record(self, direction: Direction, line: str) -> None:
        self.transcript.append(Exchange(direction, line))


_PDU = "<pdu>"  # what AT+CMGS waits for in PDU mode, in place of a number


class _Fail(Exception):
    def __init__(self, code: int, *, sms: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.sms = sms


def _int(text: str, low: int, high: int, *, sms: bool = False) -> int:
    text = text.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise _Fail(321 if sms else 4, sms=sms)
    return int(text)


__all__ = [
    "ESC",
    "NO_FIX_GNSS",
    "NO_FIX_GPSINFO",
    "SAMPLE_GNSS",
    "SAMPLE_GPSINFO",
    "Exchange",
    "FakeModem",
    "StoredSms",
    "Submission",
]
