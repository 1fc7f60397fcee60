"""One AT-command GSM modem driver, shared by the hub and the device.

The hub sends alarm SMS through it and reads the replies (``ACK <id>``, devices' fallback lines);
the device sends its fallback line through it and reports the modem's health. Everything runs over
pyserial in SMS text mode (``AT+CMGF=1``).

An exchange is one command and its response, under one lock. While reading a response, unsolicited
result codes (``+CMTI``, ``RING``, ...) are set aside in a queue, never taken for the response;
new-message indications are read later by ``poll_incoming``. Every wait has a deadline: a silent
modem raises ``ModemTimeout``, an error reply or a broken serial line ``ModemError``. The caller
owns recovery (``recover``, ``reopen``); the driver never retries behind its back.

Phone numbers and message text never appear in exception messages or logs: numbers are masked
(``+44******123``) and text is left out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal

import serial

from loneguard.gsm.at import (
    BAUDRATE,
    CTRL_Z,
    ESC,
    FINAL_OK,
    PHONE_NUMBER,
    POLL_SECONDS,
    ModemError,
    ModemTimeout,
    Registration,
    Response,
    SerialPort,
    command_name,
    parse_fields,
    rssi_to_dbm,
    stored_messages,
)
from loneguard.gsm.gnss import GnssFix, parse_gnss
from loneguard.gsm.models import SIM7600, network_registration, start_gnss
from loneguard.gsm.pdu import submit_pdus
from loneguard.gsm.redact import mask_number
from loneguard.gsm.sms import Sms, parse_scts, sms_text
from loneguard.protocol.clock import Clock, SystemClock

log = logging.getLogger(__name__)

Health = Literal["ok", "recovering", "failed"]

# Commands that put the modem in the state every other method assumes. AT+CSCS="IRA": the modem
# converts our ASCII to and from the GSM alphabet itself. With "GSM" the bytes we write would be
# taken as GSM codes, and '_' (allowed in device ids) would arrive as '§', failing the HMAC.
INIT_COMMANDS = (
    "AT",
    "ATE0",  # echo off
    "AT+CMEE=2",  # verbose +CME ERROR text
    "AT+CMGF=1",  # SMS text mode
    'AT+CPMS="SM","SM","SM"',  # read, write and receive on the SIM, so +CMTI indexes match CMGR
    "AT+CNMI=2,1,0,0,0",  # a new SMS is stored and announced with +CMTI: "SM",<index>
    'AT+CSCS="IRA"',
)


class Modem:
    """An AT modem on a serial port. Thread-safe: one lock around each exchange.

    ``port`` is a path or pyserial URL (opened at 115200 baud), or an already open port, which
    the driver then owns and reads with a short timeout. ``clock`` only schedules the periodic
    sweep of the SIM; command deadlines are real time, because the serial line is.
    ``power_cycle`` (e.g. a PWRKEY pulse) lets ``recover`` restart a modem that AT+CFUN cannot.
    """

    def __init__(
        self,
        port: SerialPort | str,
        *,
        command_timeout: float = 5.0,
        sms_timeout: float = 60.0,
        slow_timeout: float = 15.0,
        boot_timeout: float = 30.0,
        sweep_interval: float | None = 60.0,
        power_cycle: Callable[[], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.command_timeout = command_timeout
        self.sms_timeout = sms_timeout
        self.slow_timeout = slow_timeout  # AT+CFUN and whole-SIM listings
        self.boot_timeout = boot_timeout
        self.sweep_interval = sweep_interval
        self.health: Health = "ok"
        self._power_cycle = power_cycle
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.RLock()
        self._rx = bytearray()
        self._idle = Response()  # sorts lines that arrive between commands
        self._urcs: deque[str] = deque(maxlen=256)
        self._new_indexes: list[int] = []
        self._direct: list[Sms] = []
        self._next_sweep: float | None = None
        # 23.040 §9.2.3.24.1: one reference per concatenated message, counting modulo 256. One
        # random byte from the OS, not the secrets module: that one maps OpenSSL's libcrypto.
        self._concat_reference = os.urandom(1)[0]
        self._broken = False
        # True until the first exchange on a newly opened line (see ``command``).
        self._fresh = True
        self._port: SerialPort | None = None
        if isinstance(port, str):
            self._path: str | None = port
            self.port_name = port
            try:
                self._port = self._open(port)
            except ModemError as exc:
                # A modem missing at boot must not stop the device: health says so, and
                # recover() keeps trying to open the line.
                log.error("%s", exc)
                self._broken = True
                self.health = "failed"
        else:
            self._path = None
            self.port_name = port.port or repr(port)
            port.timeout = POLL_SECONDS
            self._port = port

    # -- life cycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._close_port()

    def __enter__(self) -> Modem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_power_cycle(self, power_cycle: Callable[[], None] | None) -> None:
        """Wire (or unwire) the hook ``recover`` uses as its last step, e.g. a PWRKEY pulse."""
        with self._lock:
            self._power_cycle = power_cycle

    def reopen(self) -> None:
        """Close and open the serial line again, e.g. after a USB modem came back."""
        with self._lock:
            self._close_port()
            self._rx.clear()
            self._idle = Response()
            self._broken = True
            if self._path is not None:
                # Forget the closed port first: if opening fails, later calls must see "not
                # open" (a ModemError), not a closed pyserial object.
                self._port = None
                self._port = self._open(self._path)
            elif self._port is not None:
                try:
                    self._port.open()
                except OSError as exc:
                    raise ModemError(
                        "open", f"cannot open the serial line: {exc}", self.port_name
                    ) from None
            self._broken = False
            self._fresh = True
            log.info("modem line %s reopened", self.port_name)

    def _open(self, path: str) -> SerialPort:
        try:
            return serial.serial_for_url(path, baudrate=BAUDRATE, timeout=POLL_SECONDS)
        except (OSError, ValueError) as exc:
            raise ModemError("open", f"cannot open the serial line: {exc}", path) from None

    def _close_port(self) -> None:
        if self._port is not None:
            with contextlib.suppress(OSError):
                self._port.close()

    def _line(self, name: str) -> SerialPort:
        if self._port is None:
            raise ModemError(
                name, "serial line not open; call reopen() or recover()", self.port_name
            )
        return self._port

    # -- operations ---------------------------------------------------------------------------

    def initialise(self) -> None:
        """Echo off, verbose errors, text mode, SIM storage, +CMTI indications, ASCII."""
        with self._lock:
            for command in INIT_COMMANDS:
                self.command(command)
            self.health = "ok"
            # Whatever reached the SIM while the modem was unreachable was announced to nobody
            # (a +CMTI on a closed line is lost): the next poll sweeps instead of up to a whole
            # sweep_interval later.
            self._next_sweep = None

    def signal(self) -> int | None:
        """Received signal strength in dBm, None when the modem does not know."""
        for line in self.command("AT+CSQ", expect="+CSQ:"):
            if line.startswith("+CSQ:"):
                rssi = parse_fields(line[5:])[0]
                return rssi_to_dbm(int(rssi)) if rssi.isdigit() else None
        raise ModemError("AT+CSQ", "no +CSQ in the reply", self.port_name)

    def registration(self) -> Registration:
        """Registered on LTE (AT+CEREG?) or circuit switched (AT+CREG?), SMS-only included.

        See ``gsm.models.network_registration``.
        """
        return network_registration(self)

    def sim_status(self) -> str:
        """The SIM's state from AT+CPIN? (3GPP TS 27.007, 8.3): READY, or what it waits for
        (SIM PIN, SIM PUK, ...)."""
        for line in self.command("AT+CPIN?", expect="+CPIN:"):
            if line.startswith("+CPIN:"):
                return line[6:].strip()
        raise ModemError("AT+CPIN", "no +CPIN in the reply", self.port_name)

    def send_sms(self, number: str, text: str) -> int:
        """Send one SMS; returns the network's message reference.

        The text is made sendable by ``sms_text`` (typography to ASCII, other characters '?').
        """
        if not PHONE_NUMBER.fullmatch(number):
            raise ValueError("number must be 3-20 digits with an optional leading +")
        body = sms_text(text)
        with self._lock:
            reference = self._cmgs(f'AT+CMGS="{number}"', body)
        log.info("SMS sent to %s (mr %s)", mask_number(number), reference)
        return reference

    def send_long_sms(self, number: str, text: str, *, max_parts: int = 3) -> list[int]:
        """Send ``text`` whole, as one concatenated SMS in PDU mode; the parts' references.

        GSM 7-bit where every character has a code, else UCS-2 (``gsm.pdu``), in at most
        ``max_parts`` parts (ValueError beyond). The modem goes back to text mode afterwards;
        if it cannot, ``recover`` sets it again. A part refused midway raises, and a retry sends
        the whole message again under a new concatenation reference.
        """
        if not PHONE_NUMBER.fullmatch(number):
            raise ValueError("number must be 3-20 digits with an optional leading +")
        with self._lock:
            self._concat_reference = (self._concat_reference + 1) % 256
            pdus = submit_pdus(number, text, self._concat_reference)
            if len(pdus) > max_parts:
                raise ValueError(f"the text needs {len(pdus)} SMS parts, more than {max_parts}")
            self.command("AT+CMGF=0")  # PDU mode: text mode cannot concatenate
            try:
                references = [self._cmgs(f"AT+CMGS={pdu.length}", pdu.hex) for pdu in pdus]
            finally:
                with contextlib.suppress(ModemError):
                    self.command("AT+CMGF=1")
        log.info("SMS sent to %s in %d parts", mask_number(number), len(references))
        return references

    def _cmgs(self, command: str, body: str) -> int:
        """AT+CMGS: the command, the ``> `` prompt, the body and Ctrl-Z; the reference."""
        name = "AT+CMGS"
        self._drain(name)
        self._write(command + "\r", name)
        response = Response(echo=command, expect="+CMGS:")
        if not self._read_until_prompt(response, name):
            self._raise_for(response, name)
            raise ModemError(name, "the modem did not prompt for the text", self.port_name)
        self._write(body + CTRL_Z, name)
        response = Response(expect="+CMGS:")
        self._read_response(response, name, self.sms_timeout)
        for line in response.info:
            if line.startswith("+CMGS:"):
                reference = parse_fields(line[6:])[0]
                if reference.isdigit():
                    return int(reference)
        raise ModemError(name, "no message reference in the reply", self.port_name)

    def read_sms(self, index: int) -> Sms | None:
        """The message in SIM slot ``index``, or None if the slot is empty."""
        lines = self.command(f"AT+CMGR={int(index)}", messages="+CMGR:")
        for header, text in stored_messages(lines, "+CMGR:"):
            f = parse_fields(header)  # "<stat>","<oa>",[<alpha>],"<scts>"
            sent_at = parse_scts(f[3]) if len(f) > 3 else None
            return Sms(index, f[0], f[1] if len(f) > 1 else "", text, sent_at)
        return None

    def list_sms(self, status: str = "REC UNREAD") -> list[Sms]:
        """AT+CMGL: stored messages with ``status`` ("REC UNREAD", "REC READ", "ALL", ...)."""
        if not re.fullmatch(r"[A-Z ]{3,16}", status):
            raise ValueError("status must be a +CMGL status such as 'REC UNREAD' or 'ALL'")
        lines = self.command(f'AT+CMGL="{status}"', messages="+CMGL:", timeout=self.slow_timeout)
        found: list[Sms] = []
        for header, text in stored_messages(lines, "+CMGL:"):
            f = parse_fields(header)  # <index>,"<stat>","<oa>",[<alpha>],["<scts>"]
            if len(f) >= 3 and f[0].isdigit():
                sent_at = parse_scts(f[4]) if len(f) > 4 else None
                found.append(Sms(int(f[0]), f[1], f[2], text, sent_at))
        return found

    def delete_sms(self, index: int) -> None:
        self.command(f"AT+CMGD={int(index)}", timeout=self.slow_timeout)

    def poll_incoming(self, timeout: float = 0.0) -> list[Sms]:
        """New messages: those announced by +CMTI since the last poll, plus a periodic sweep.

        Waits up to ``timeout`` seconds for an announcement when none is pending, releasing the
        lock between reads. Messages stay on the SIM until the caller, having handled one,
        calls ``delete_sms(sms.index)``; until then the sweep (every ``sweep_interval``, and on
        the first poll) returns them again, so a message is never lost to a crash. A full SIM
        refuses new messages, so delete promptly.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                self._drain("poll")
                if self._new_indexes or self._direct or time.monotonic() >= deadline:
                    return self._collect_incoming()
                port = self._line("poll")
            self._wait_for_input(port, min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _wait_for_input(self, port: SerialPort, seconds: float) -> None:
        """Wait for bytes on the line WITHOUT the lock, so an alarm's SMS or a call is never
        held up by a gateway listening for replies; the next ``_drain`` takes the bytes.

        A line with no file descriptor (a ``loop://`` URL, say) is read under the lock instead,
        a slice of at most POLL_SECONDS at a time, as before."""
        fileno = getattr(port, "fileno", None)
        try:
            fd = fileno() if callable(fileno) else None
        except (OSError, ValueError):
            fd = None
        if not isinstance(fd, int):
            with self._lock:
                self._read_some("poll")
            return
        try:
            select.select([fd], [], [], seconds)
        except (OSError, ValueError):
            # Closed or reopened by another thread meanwhile: the next round, under the lock,
            # sees the line as it is now and names what is wrong.
            return

    def gnss_fix(self) -> GnssFix | None:
        """SIM7600 GNSS position (AT+CGNSSINFO); None without a fix or on modems without GNSS."""
        return self._position("AT+CGNSSINFO")

    def start_gps(self) -> bool:
        """Switch the GNSS receiver on with the SIM7600 commands (``AT+CGPS=1``); False on
        modems without them. ``gsm.models.start_gnss`` picks the command by model."""
        return start_gnss(self, SIM7600)

    def gps_fix(self) -> GnssFix | None:
        """The receiver's position (``AT+CGPSINFO``); None without a fix or without GNSS."""
        return self._position("AT+CGPSINFO")

    def _position(self, command: str) -> GnssFix | None:
        prefix = command.removeprefix("AT") + ":"
        try:
            lines = self.command(command, expect=prefix)
        except ModemTimeout:
            raise
        except ModemError:
            return None
        for line in lines:
            if line.startswith(prefix):
                return parse_gnss(line[len(prefix) :])
        return None

    def set_functionality(self, level: Literal[0, 1]) -> None:
        """AT+CFUN: 0 switches the radio off, 1 back on (the soft reset ``recover`` uses)."""
        if level not in (0, 1):
            raise ValueError("functionality level must be 0 or 1")
        self.command(f"AT+CFUN={level}", timeout=self.slow_timeout)

    def take_unsolicited(self) -> list[str]:
        """Every URC other than +CMTI/+CMT seen since the last call (RING, +CREG, RDY, ...)."""
        with self._lock:
            self._drain("poll")
            urcs = list(self._urcs)
            self._urcs.clear()
            return urcs

    def command(
        self,
        command: str,
        *,
        timeout: float | None = None,
        expect: str = "",
        messages: str = "",
    ) -> list[str]:
        """Run one AT command; returns its information lines (no echo, URCs or final code).

        ``expect`` is the prefix of the response lines when it is also a URC prefix (+CREG:).
        """
        name = command_name(command)
        with self._lock:
            fresh, self._fresh = self._fresh, False
            try:
                return self._exchange(command, name, timeout, expect, messages)
            except ModemTimeout:
                raise  # no answer at all: a hung modem, for recover() to handle
            except ModemError:
                if not fresh or self._broken:
                    raise
                # The first bytes on a just-opened UART can arrive garbled (the Pi's UART
                # while it settles; seen on the emulated Pi): the modem answered a junk line
                # with an error. End that line and try once more.
                log.info("modem %s: first command garbled on the line; resyncing", self.port_name)
                self._write("\r", name)
                return self._exchange(command, name, timeout, expect, messages)

    def _exchange(
        self, command: str, name: str, timeout: float | None, expect: str, messages: str
    ) -> list[str]:
        self._drain(name)
        self._write(command + "\r", name)
        response = Response(echo=command, expect=expect, messages=messages)
        self._read_response(response, name, timeout or self.command_timeout)
        return response.info

    # -- recovery -----------------------------------------------------------------------------

    def recover(self) -> bool:
        """Bring a hung modem back: reopen a broken line, AT, AT+CFUN=0/1, power cycle.

        Re-initialises after the first step that gets an answer; True if the modem answers.
        """
        with self._lock:
            self.health = "recovering"
            log.warning("modem %s: recovering", self.port_name)
            steps: list[tuple[str, Callable[[], bool]]] = [
                ("AT", self._probe),
                ("AT+CFUN toggle", self._toggle_functionality),
                ("power cycle", self._power_cycle_and_wait),
            ]
            for label, step in steps:
                if step() and self._try_initialise():
                    log.warning("modem %s: recovered by %s", self.port_name, label)
                    self.health = "ok"
                    return True
            log.error("modem %s: recovery failed", self.port_name)
            self.health = "failed"
            return False

    def _probe(self, attempts: int = 3) -> bool:
        for _ in range(attempts):
            try:
                if self._broken:
                    self.reopen()
                self.command("AT")
                return True
            except ModemError:
                continue
        return False

    def _toggle_functionality(self) -> bool:
        for level in (0, 1):
            # A hung modem may ignore CFUN=0 yet come back on CFUN=1.
            with contextlib.suppress(ModemError):
                self.command(f"AT+CFUN={level}", timeout=self.slow_timeout)
        return self._probe()

    def _power_cycle_and_wait(self) -> bool:
        if self._power_cycle is None:
            return False
        try:
            self._power_cycle()
        except Exception:
            log.exception("modem %s: power cycle hook failed", self.port_name)
            return False
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            if self._probe(attempts=1):
                return True
            threading.Event().wait(POLL_SECONDS)  # a booting modem: give its USB or UART a moment
        return False

    def _try_initialise(self) -> bool:
        # Straight after a restart the SIM may still be busy (+CMS ERROR: SIM busy): retry.
        deadline = time.monotonic() + self.boot_timeout
        while True:
            try:
                self.initialise()
                return True
            except ModemError as exc:
                if isinstance(exc, ModemTimeout) or time.monotonic() >= deadline:
                    return False
                threading.Event().wait(0.5)

    # -- the serial line --------------------------------------------------------------------------

    def _write(self, text: str, name: str) -> None:
        try:
            self._line(name).write(text.encode("latin-1"))
        except OSError as exc:
            self._line_broke(name, exc)

    def _read_some(self, name: str) -> None:
        port = self._line(name)
        try:
            waiting = port.in_waiting
            self._rx += port.read(waiting if waiting > 0 else 1)
        except OSError as exc:
            self._line_broke(name, exc)

    def _line_broke(self, name: str, exc: OSError) -> None:
        self._broken = True
        if self.health != "recovering":
            self.health = "failed"
        log.error("modem %s: serial line broken during %s", self.port_name, name)
        raise ModemError(name, f"serial line broken: {exc}", self.port_name) from None

    def _take_line(self) -> str | None:
        end = self._rx.find(b"\n")
        if end < 0:
            return None
        raw = bytes(self._rx[:end]).strip(b"\r")
        del self._rx[: end + 1]
        return raw.decode("latin-1")

    def _drain(self, name: str) -> None:
        """Sort whatever arrived between commands: URCs are kept, stray lines dropped."""
        port = self._line(name)
        try:
            waiting = port.in_waiting
            if waiting:
                self._rx += port.read(waiting)
        except OSError as exc:
            self._line_broke(name, exc)
        while (line := self._take_line()) is not None:
            self._idle.feed(line)
            if self._idle.info or self._idle.final:
                log.debug("modem %s: dropped a stray line between commands", self.port_name)
                self._idle.info.clear()
                self._idle.final = ""
        self._file_urcs(self._idle)

    def _read_response(self, response: Response, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            while True:
                line = self._take_line()
                if line is None:
                    self._check_deadline(deadline, name)
                    self._read_some(name)
                elif response.feed(line):
                    break
        finally:
            self._file_urcs(response)
        self._raise_for(response, name)

    def _read_until_prompt(self, response: Response, name: str) -> bool:
        """Read until the ``> `` prompt (which has no line end); False if a final code came."""
        deadline = time.monotonic() + self.command_timeout
        try:
            while True:
                line = self._take_line()
                if line is not None:
                    if response.feed(line):
                        return False
                    continue
                if self._rx.lstrip(b"\r\n").startswith(b">"):
                    self._rx.clear()
                    return True
                if time.monotonic() >= deadline:
                    self._write(ESC, name)  # leave text-entry mode if the prompt came late
                self._check_deadline(deadline, name)
                self._read_some(name)
        finally:
            self._file_urcs(response)

    def _check_deadline(self, deadline: float, name: str) -> None:
        if time.monotonic() >= deadline:
            if self.health != "recovering":
                self.health = "failed"
            log.warning("modem %s: %s timed out", self.port_name, name)
            raise ModemTimeout(name, "no final result code in time", self.port_name)

    def _raise_for(self, response: Response, name: str) -> None:
        if response.final and response.final != FINAL_OK:
            raise ModemError(name, response.final, self.port_name)

    def _file_urcs(self, response: Response) -> None:
        # A +CMT whose text line has not arrived yet waits for it among the idle lines.
        pending = response.take_unfinished_urc()
        for urc in response.urcs:
            if urc.startswith("+CMTI:"):
                index = parse_fields(urc[6:])[-1]
                if index.isdigit() and int(index) not in self._new_indexes:
                    self._new_indexes.append(int(index))
            elif urc.startswith("+CMT:") and "\n" in urc:
                header, text = urc.split("\n", 1)
                f = parse_fields(header[5:])  # "<oa>",[<alpha>],"<scts>"
                sent_at = parse_scts(f[2]) if len(f) > 2 else None
                self._direct.append(Sms(None, "REC UNREAD", f[0], text, sent_at))
            else:
                self._urcs.append(urc)
        response.urcs.clear()
        if pending is not None:
            self._idle.continue_urc(pending)

    def _collect_incoming(self) -> list[Sms]:
        found: dict[int, Sms] = {}
        direct, self._direct = self._direct, []
        indexes, self._new_indexes = self._new_indexes, []
        for index in indexes:
            try:
                sms = self.read_sms(index)
            except ModemTimeout:
                self._new_indexes[:0] = [i for i in indexes if i not in found]
                raise
            except ModemError as exc:
                log.warning("modem %s: +CMTI slot %d unreadable: %s", self.port_name, index, exc)
                continue
            if sms is not None:
                found[index] = sms
        now = self._clock.monotonic()
        if self.sweep_interval is not None and (
            self._next_sweep is None or now >= self._next_sweep
        ):
            self._next_sweep = now + self.sweep_interval
            for sms in self.list_sms("ALL"):
                if sms.index is not None and sms.status.startswith("REC"):
                    found.setdefault(sms.index, sms)
        return direct + [found[i] for i in sorted(found)]
