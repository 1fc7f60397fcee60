"""The AT layer (3GPP TS 27.007): serial framing, final result codes, unsolicited result codes.

One command's response is sorted line by line (``Response``): its echo, its information lines, any
URC that arrived meanwhile (set aside for later, never taken for the response), and the final
result code that ends it. Errors name the command (never its arguments: they may hold a number)
and the port.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple, Protocol

from loneguard.gsm.redact import mask_numbers

BAUDRATE = 115200

CTRL_Z = "\x1a"

ESC = "\x1b"

# How long one read of the serial port may block: the granularity of every deadline.
POLL_SECONDS = 0.05

FINAL_OK = "OK"

FINAL_ERRORS = ("ERROR", "+CME ERROR:", "+CMS ERROR:", "NO CARRIER")

# Lines a modem may send at any time. A URC whose prefix is the response the current command
# expects (AT+CREG? answers "+CREG: ...") is taken as the response instead.
URC_PREFIXES = (
    "+CMTI:",
    "+CMT:",
    "+CDSI:",
    "+CDS:",
    "+CBM:",
    "RING",
    "+CRING:",
    "+CLIP:",
    "+CREG:",
    "+CGREG:",
    "+CEREG:",
    "+CPIN:",
    "+CGNSSPWR:",  # A76xx: "+CGNSSPWR: READY!" once the receiver is up
    "+CFUN:",
    "+CUSD:",
    "+CGEV:",
    "+CTZV:",
    "*PSUTTZ:",
    "DST:",
    "+CIEV:",
    "RDY",
    "SMS DONE",
    "PB DONE",
    "NORMAL POWER DOWN",
    "UNDER-VOLTAGE",
    "OVER-VOLTAGE",
    # A voice call's progress (gsm/voice.py; docs/calls.md cites the manuals): the dialled
    # number busy, or not answered within the network's time; the call up or ended (SIMCom);
    # a key the person on the call pressed (SIMCom DTMF detection); text-to-speech and audio
    # playback finished (SIM7600/A76XX AT+CTTS, A76XX AT+CCMXPLAY).
    "BUSY",
    "NO ANSWER",
    "VOICE CALL:",
    "MISSED_CALL:",
    "+RXDTMF:",
    "+CTTS:",
    "+AUDIOSTATE:",
)

# Only these commands end with NO CARRIER (V.25ter §6.3.1, §6.3.5: the call failed). Anywhere else
# a NO CARRIER is the network ending a voice call, and is kept as a URC: it must not end an
# AT+CMGS sent while a call is up, nor be dropped between commands.
DIAL_COMMANDS = ("ATD", "ATA", "ATO")
NO_CARRIER = "NO CARRIER"
# V.25ter §6.3.1: a dial may also end with these; after SIMCom's early OK they come as URCs.
DIAL_FINALS = ("BUSY", "NO ANSWER", "NO DIALTONE")

# These URCs carry one more line: the message itself.
TWO_LINE_URCS = ("+CMT:", "+CDS:", "+CBM:")

PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")

_COMMAND_NAME = re.compile(r"AT(?:[+&*^$#][A-Z0-9]+|[A-Z][0-9]?)?", re.IGNORECASE)


class ModemError(Exception):
    """The modem answered with an error, or the serial line broke. Names the command and port."""

    def __init__(self, command: str, reason: str, port: str = "") -> None:
        self.command = command
        self.reason = mask_numbers(reason)
        self.port = port
        where = f" on {port}" if port else ""
        super().__init__(f"{command}{where}: {self.reason}")


class ModemTimeout(ModemError):
    """No final result code (OK, ERROR, +CME ERROR, +CMS ERROR) arrived in time."""


class SerialPort(Protocol):
    """What the driver needs of a port; ``serial.Serial`` is one."""

    @property
    def port(self) -> str | None: ...

    @property
    def timeout(self) -> float | None: ...

    @timeout.setter
    def timeout(self, timeout: float | None) -> None: ...

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, b: bytes, /) -> int | None: ...

    def open(self) -> None: ...

    def close(self) -> None: ...


class Registration(NamedTuple):
    stat: int  # 0 not searching, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
    registered: bool


def command_name(command: str) -> str:
    """``AT+CMGS="+4477..."`` → ``AT+CMGS``: what exceptions and logs may say about a command."""
    match = _COMMAND_NAME.match(command.strip())
    return match.group().upper() if match else "AT"


def rssi_to_dbm(rssi: int) -> int | None:
    """Map an ``AT+CSQ`` rssi to dBm (27.007 §8.5; 100-191 are TD-SCDMA on SIM7600)."""
    if 0 <= rssi <= 31:
        return -113 + 2 * rssi
    if 100 <= rssi <= 191:
        return -116 + (rssi - 100)
    return None  # 99, 199: not known or not detectable


def parse_fields(text: str) -> list[str]:
    """Split an AT response's parameters on commas outside quotes, unquoting each."""
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for c in text:
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(c)
    fields.append("".join(current).strip())
    return fields


def is_final(line: str) -> bool:
    return line == FINAL_OK or line.startswith(FINAL_ERRORS)


class Response:
    """Sorts the lines of one command's response: echo, information, URCs, final result code.

    ``messages`` names the header of stored messages (``+CMGR:``/``+CMGL:``): the line after a
    header is always its text, whatever it says, so a message reading "OK" or "RING" cannot end
    the response or pose as a URC. Further text lines join it until a blank line is followed by
    a final result code, the next header or a URC.
    """

    def __init__(self, echo: str = "", expect: str = "", messages: str = "") -> None:
        self.echo = echo
        self._dials = echo.strip().upper().startswith(DIAL_COMMANDS)
        self.expect = expect or messages
        self.messages = messages
        self.info: list[str] = []
        self.urcs: list[str] = []
        self.final = ""
        self._after: Literal["", "header", "text"] = ""
        self._blanks = 0
        self._urc_text_pending = False

    def feed(self, line: str) -> bool:
        """Take one line; True once the final result code has arrived."""
        if line == "":
            self._blanks += 1
            return False
        blanks, self._blanks = self._blanks, 0
        if self._urc_text_pending:
            self._urc_text_pending = False
            self.urcs[-1] += "\n" + line
            return False
        if self._after == "header":
            if blanks == 0:
                self.info.append(line)
                self._after = "text"
                return False
            self.info.append("")  # an empty message
            self._after = ""
        elif self._after == "text":
            header = bool(self.messages) and line.startswith(self.messages)
            ends = is_final(line) or is_urc(line, self.expect)
            if not header and not (blanks and ends):
                self.info[-1] += "\n" * (blanks + 1) + line
                return False
            self._after = ""
        if self.echo and line == self.echo and not self.info:
            self.echo = ""
            return False
        if line == NO_CARRIER and not self._dials:
            self.urcs.append(line)
            return False
        if self._dials and line in DIAL_FINALS:
            self.final = line
            return True
        if is_final(line):
            self.final = line
            return True
        if is_urc(line, self.expect):
            self.urcs.append(line)
            self._urc_text_pending = line.startswith(TWO_LINE_URCS)
            return False
        self.info.append(line)
        if self.messages and line.startswith(self.messages):
            self._after = "header"
        return False

    def take_unfinished_urc(self) -> str | None:
        """The last URC, removed, if its text line has not arrived yet (for another Response to
        finish with ``continue_urc``); None otherwise."""
        if not self._urc_text_pending:
            return None
        self._urc_text_pending = False
        return self.urcs.pop()

    def continue_urc(self, urc: str) -> None:
        """Take a URC from ``take_unfinished_urc``: the next line fed is its text."""
        self.urcs.append(urc)
        self._urc_text_pending = True


def stored_messages(lines: list[str], prefix: str) -> list[tuple[str, str]]:
    """(header parameters, text) pairs from a response sorted with ``messages=prefix``."""
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith(prefix):
            pairs.append((lines[i][len(prefix) :], lines[i + 1] if i + 1 < len(lines) else ""))
            i += 2  # the text may itself start with the prefix
        else:
            i += 1
    return pairs


def is_urc(line: str, expect: str) -> bool:
    return line.startswith(URC_PREFIXES) and not (expect and line.startswith(expect))
