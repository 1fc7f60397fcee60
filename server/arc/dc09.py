"""SIA DC-09 frames as an Alarm Receiving Centre's receiver reads them: pure, no I/O.

A message (SIA DC-09-2013 clause 5.5; docs/arc.md cites the clauses) is one line::

    LF <crc> <0LLL> "<token>" <seq> [R<rcvr>] L<line> #<acct> [ <data> ] [<x-data>...] _<time> CR

- ``crc``: four hex digits, the CRC-16 (polynomial 0x8005, reflected as 0xA001, initial value
  0) of the characters from the token's first quote to the end of the timestamp;
- ``0LLL``: the count of those characters, four hex digits;
- ``token``: ``ADM-CID`` (a Contact ID event, ``contact_id.ContactIdEvent``) or ``NULL`` (the
  link test, no data); ``*`` before the token when the message is encrypted;
- ``seq``: ``0001``-``9999``, the same on every resend of one message;
- ``R``/``L``: the receiver and line numbers agreed with the ARC (hex), ``#``: the account;
- the data ``#<acct>|QEEE GG CCC]``, extended data (``[X<longitude>][Y<latitude>]``) and the
  timestamp ``_HH:MM:SS,MM-DD-YYYY`` in UTC.

Encrypted (AES-CBC, the account's 128-, 192- or 256-bit key, an all-zero IV), everything after
``[`` is replaced by the hex of the cipher text of ``<pad>|<data>]<x-data>_<time>``: random pad
characters (never ``|``, ``[`` or ``]``) that fill the plain text to a multiple of 16 bytes,
then ``|``. The timestamp is mandatory then: it is what stops a recorded message being replayed.

The receiver answers ``"ACK"`` (or ``"*ACK"`` with an encrypted timestamp), ``"NAK"`` (sequence
``0000``, with the receiver's time: ours is out of its window or it could not read the message)
or ``"DUH"`` (it read the message but does not handle it). ``parse_answer`` reads them and
``Dc09Answer.check_for`` checks an answer belongs to the message it answers; every malformed
input is a ``Dc09Error`` that says what is wrong (and never echoes a key).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

from Crypto.Cipher import AES

from loneguard.server.arc import contact_id
from loneguard.server.arc.contact_id import ContactIdEvent


class Dc09Error(ValueError):
    """A DC-09 value, frame or answer that is not what the standard allows; the message says
    what is wrong and is safe to log (no key, no personal data)."""


Token = Literal["ADM-CID", "NULL"]
AnswerKind = Literal["ACK", "NAK", "DUH"]

LF: Final = b"\n"
CR: Final = b"\r"
# Zero IV: DC-09-2013 5.5.1.8 (the key and the all-zero initialisation vector).
_IV: Final = bytes(16)
_BLOCK: Final = 16
_HEX: Final = frozenset("0123456789ABCDEF")
# Pad characters: printable, never the separators a receiver looks for in the plain text.
_PAD_CHARACTERS: Final = string.ascii_letters + string.digits
_TIMESTAMP_FORMAT: Final = "%H:%M:%S,%m-%d-%Y"


def crc16(text: bytes) -> int:
    """The DC-09 CRC: CRC-16 with polynomial 0x8005 (0xA001 reflected), initial value 0."""
    crc = 0
    for byte in text:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _is_hex(text: str) -> bool:
    return bool(text) and set(text.upper()) <= _HEX


@dataclass(frozen=True)
class ArcKey:
    """The account's AES key. ``repr`` shows its size only: a key never reaches a log."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) not in (16, 24, 32):
            raise Dc09Error(
                f"an AES key is 16, 24 or 32 bytes (128, 192 or 256 bits), "
                f"not {len(self.secret)} bytes"
            )

    @classmethod
    def from_hex(cls, text: str, *, setting: str = "arc.key") -> ArcKey:
        """The key from its hex digits (32, 48 or 64). The error names ``setting`` and says
        what is wrong with the text without repeating any of it."""
        digits = text.strip()
        if len(digits) not in (32, 48, 64):
            raise Dc09Error(
                f"{setting} must be 32, 48 or 64 hex digits (a 128-, 192- or 256-bit AES key); "
                f"it has {len(digits)} characters"
            )
        if not _is_hex(digits):
            raise Dc09Error(f"{setting} must be hex digits only (0-9, A-F)")
        return cls(bytes.fromhex(digits))

    @classmethod
    def from_characters(cls, text: str, *, setting: str = "arc.key") -> ArcKey:
        """A key an ARC gives as 16, 24 or 32 characters whose ASCII codes are the key bytes (as
        pysiaalarm and some receivers take it); ``arc.key`` is then ``key.hex_digits()``."""
        if not text.isascii() or len(text) not in (16, 24, 32):
            raise Dc09Error(f"{setting}: a key given as characters is 16, 24 or 32 ASCII ones")
        return cls(text.encode("ascii"))

    @property
    def bits(self) -> int:
        return len(self.secret) * 8

    def hex_digits(self) -> str:
        """The key as ``arc.key`` holds it."""
        return self.secret.hex().upper()

    def encrypt(self, plain: bytes) -> bytes:
        return bytes(AES.new(self.secret, AES.MODE_CBC, iv=_IV).encrypt(plain))

    def decrypt(self, cipher: bytes) -> bytes:
        if len(cipher) % _BLOCK:
            raise Dc09Error(
                f"encrypted part is {len(cipher)} bytes, not a multiple of the AES block (16)"
            )
        return bytes(AES.new(self.secret, AES.MODE_CBC, iv=_IV).decrypt(cipher))


@dataclass(frozen=True)
class Account:
    """The account number the ARC knows the organisation (or device) by: 3-16 hex digits."""

    digits: str

    def __post_init__(self) -> None:
        if not 3 <= len(self.digits) <= 16 or not _is_hex(self.digits):
            raise Dc09Error(f"an account is 3-16 hex digits (0-9, A-F), got {self.digits!r}")
        object.__setattr__(self, "digits", self.digits.upper())

    @classmethod
    def parse(cls, text: str, *, setting: str = "arc.account") -> Account:
        try:
            return cls(text.strip())
        except Dc09Error as exc:
            raise Dc09Error(f"{setting}: {exc}") from None


def _check_prefix(name: str, value: str) -> str:
    if not 1 <= len(value) <= 6 or not _is_hex(value):
        raise Dc09Error(f"the {name} number is 1-6 hex digits, got {value!r}")
    return value.upper()


def timestamp_text(wall_ms: int) -> str:
    """``HH:MM:SS,MM-DD-YYYY`` in UTC (no leading underscore)."""
    return datetime.fromtimestamp(wall_ms / 1000, UTC).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch from ``HH:MM:SS,MM-DD-YYYY`` (UTC)."""
    try:
        moment = datetime.strptime(text, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise Dc09Error(f"timestamp {text!r} is not HH:MM:SS,MM-DD-YYYY") from None
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Location:
    """A GNSS fix as DC-09 extended data: ``[X<longitude>][Y<latitude>]``, decimal degrees
    (WGS 84), six decimals (about 0.1 m; pysiaalarm allows 12 characters per field)."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude <= 90.0:
            raise Dc09Error(f"latitude must be -90..90 degrees, got {self.latitude}")
        if not -180.0 <= self.longitude <= 180.0:
            raise Dc09Error(f"longitude must be -180..180 degrees, got {self.longitude}")

    def x_data(self) -> str:
        return f"[X{self.longitude:.6f}][Y{self.latitude:.6f}]"


def random_pad(count: int) -> str:
    """``count`` pad characters for the encrypted block (DC-09: random, never ``|[]``)."""
    return "".join(secrets.choice(_PAD_CHARACTERS) for _ in range(count))


@dataclass(frozen=True)
class Dc09Frame:
    """One DC-09 message before it gets its timestamp. ``event`` is None for a ``NULL`` frame.

    ``encode`` makes the bytes for one attempt: a resend calls it again with the time of the
    resend (a receiver NAKs a timestamp outside its window) and keeps the sequence number.
    """

    token: Token
    sequence: int
    account: Account
    event: ContactIdEvent | None = None
    line: str = "0"
    receiver: str | None = None
    location: Location | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.sequence <= 9999:
            raise Dc09Error(f"sequence number must be 1-9999, got {self.sequence}")
        if self.token == "ADM-CID" and self.event is None:
            raise Dc09Error("an ADM-CID frame carries a Contact ID event")
        if self.token == "NULL" and (self.event is not None or self.location is not None):
            raise Dc09Error("a NULL frame carries no event and no location")
        if self.token not in ("ADM-CID", "NULL"):
            raise Dc09Error(f"token must be ADM-CID or NULL, got {self.token!r}")
        object.__setattr__(self, "line", _check_prefix("line", self.line))
        if self.receiver is not None:
            object.__setattr__(self, "receiver", _check_prefix("receiver", self.receiver))

    @property
    def is_link_test(self) -> bool:
        """A supervision message (a NULL frame or a 602), not an alarm."""
        return self.event is None or self.event.code == contact_id.PERIODIC_TEST

    @classmethod
    def adm_cid(
        cls,
        sequence: int,
        account: Account,
        event: ContactIdEvent,
        *,
        line: str = "0",
        receiver: str | None = None,
        location: Location | None = None,
    ) -> Dc09Frame:
        return cls("ADM-CID", sequence, account, event, line, receiver, location)

    @classmethod
    def null(
        cls, sequence: int, account: Account, *, line: str = "0", receiver: str | None = None
    ) -> Dc09Frame:
        return cls("NULL", sequence, account, None, line, receiver)

    def data(self) -> str:
        """The data field without its opening ``[``: ``#ACCT|1120 01 015]`` or ``]``."""
        if self.event is None:
            return "]"
        return f"#{self.account.digits}|{self.event.text()}]"

    def _header(self, encrypted: bool) -> str:
        receiver = f"R{self.receiver}" if self.receiver is not None else ""
        star = "*" if encrypted else ""
        return (
            f'"{star}{self.token}"{self.sequence:04d}{receiver}L{self.line}#{self.account.digits}['
        )

    def encode(
        self,
        *,
        wall_ms: int,
        key: ArcKey | None,
        pad: Callable[[int], str] = random_pad,
    ) -> bytes:
        """The message as sent at ``wall_ms``: LF, CRC, length, body, CR."""
        content = self.data()
        if self.location is not None:
            content += self.location.x_data()
        content += f"_{timestamp_text(wall_ms)}"
        if key is None:
            body = self._header(False) + content
        else:
            pad_count = _BLOCK - (len(content) + 1) % _BLOCK
            plain = pad(pad_count) + "|" + content
            if len(plain) % _BLOCK or any(c in "|[]" for c in plain[:pad_count]):
                raise Dc09Error("pad characters must fill the block and hold no | [ ]")
            body = self._header(True) + key.encrypt(plain.encode("ascii")).hex().upper()
        return wrap(body)


def wrap(body: str) -> bytes:
    """LF, CRC, length, ``body``, CR: the frame around a message or an answer."""
    raw = body.encode("ascii")
    if len(raw) > 0xFFF:
        raise Dc09Error(f"a DC-09 body is at most 4095 characters, this one is {len(raw)}")
    return LF + f"{crc16(raw):04X}{len(raw):04X}".encode("ascii") + raw + CR


def unwrap(raw: bytes) -> str:
    """The body of one frame, once its CRC and length are checked."""
    line = raw.strip(b"\r\n")
    if not raw.startswith(LF) or not raw.endswith(CR):
        raise Dc09Error("a DC-09 frame starts with LF and ends with CR")
    if len(line) < 8:
        raise Dc09Error(f"a DC-09 frame is at least 8 characters before its body, got {len(line)}")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise Dc09Error("a DC-09 frame is ASCII only") from None
    crc_text, length_text, body = text[:4], text[4:8], text[8:]
    if not _is_hex(crc_text) or not _is_hex(length_text):
        raise Dc09Error(f"CRC and length must be hex digits, got {crc_text!r} {length_text!r}")
    if int(length_text, 16) != len(body):
        raise Dc09Error(
            f"length field says {int(length_text, 16)} characters, body has {len(body)}"
        )
    if int(crc_text, 16) != crc16(body.encode("ascii")):
        raise Dc09Error(f"CRC {crc_text} does not match the body's {crc16(body.encode()):04X}")
    return body


_ANSWER = re.compile(
    r'^"(?P<star>\*)?(?P<kind>ACK|NAK|DUH|RSP)"(?P<seq>\d{4})'
    # pysiaalarm answers "None" for the receiver number when the message had none (3.2.2).
    r"(?P<fields>(?:R[0-9A-Fa-f]{1,6}|L[0-9A-Fa-f]{1,6}|A[0-9A-Fa-f]{1,6}|#[0-9A-Fa-f]{3,16}|None)*)"
    r"\[(?P<rest>.*)$"
)
_ANSWER_KINDS: Final[dict[str, AnswerKind]] = {"ACK": "ACK", "NAK": "NAK", "DUH": "DUH"}
_FIELD = re.compile(r"([RLA#])([0-9A-Fa-f]+)")
_PLAIN_REST = re.compile(r"^[^\[\]|]*\|?[^\[\]|]*\](?P<xdata>(?:\[[^\[\]]*\])*)(?:_(?P<time>.+))?$")
_ENCRYPTED_REST = re.compile(r"^[^\[\]]*?(?P<hex>(?:[0-9A-Fa-f]{32})+)$")


@dataclass(frozen=True)
class Dc09Answer:
    """A receiver's answer. ``receiver_time_ms`` is the receiver's clock where the answer
    carries it (a NAK, an encrypted ACK): a NAK for our timestamp says how far off we are."""

    kind: AnswerKind
    sequence: int
    encrypted: bool = False
    account: str | None = None
    receiver: str | None = None
    line: str | None = None
    receiver_time_ms: int | None = None

    def check_for(self, frame: Dc09Frame) -> Dc09Answer:
        """This answer, once it is shown to answer ``frame``: an ACK or DUH names the frame's
        sequence number and account (a NAK is sent with sequence 0000 and no account)."""
        if self.kind == "NAK":
            return self
        if self.sequence != frame.sequence:
            raise Dc09Error(
                f"{self.kind} for sequence {self.sequence:04d}, sent {frame.sequence:04d}"
            )
        if self.account is not None and self.account != frame.account.digits:
            raise Dc09Error(f"{self.kind} for another account than the one sent")
        return self


def parse_answer(raw: bytes, *, key: ArcKey | None) -> Dc09Answer:
    """Read one answer frame (LF ... CR). ``key`` decrypts a ``"*ACK"``."""
    body = unwrap(raw)
    match = _ANSWER.match(body)
    if match is None:
        raise Dc09Error(f"not a DC-09 answer: {body[:40]!r}")
    kind_text = match["kind"]
    if kind_text == "RSP":
        raise Dc09Error("RSP answers (a receiver's request, e.g. a key exchange) are not handled")
    kind = _ANSWER_KINDS[kind_text]
    fields: dict[str, str] = {}
    for name, value in _FIELD.findall(match["fields"]):
        fields[name] = value.upper()
    encrypted = match["star"] is not None
    rest = match["rest"]
    if encrypted:
        if key is None:
            raise Dc09Error(f"an encrypted {kind} arrived but no arc.key is set")
        found = _ENCRYPTED_REST.match(rest)
        if found is None:
            raise Dc09Error(f"encrypted {kind}: the part after [ is not hex AES blocks")
        try:
            rest = key.decrypt(bytes.fromhex(found["hex"])).decode("ascii")
        except UnicodeDecodeError:
            raise Dc09Error(f"encrypted {kind} does not decrypt with arc.key") from None
    content = _PLAIN_REST.match(rest)
    if content is None:
        what = "decrypted " if encrypted else ""
        raise Dc09Error(f"{what}{kind} content is not [<data>]<x-data>_<timestamp>")
    time_text = content["time"]
    if encrypted and time_text is None:
        raise Dc09Error(f"encrypted {kind} without its timestamp")
    return Dc09Answer(
        kind=kind,
        sequence=int(match["seq"]),
        encrypted=encrypted,
        account=fields.get("#"),
        receiver=fields.get("R"),
        line=fields.get("L"),
        receiver_time_ms=parse_timestamp(time_text) if time_text is not None else None,
    )


__all__ = [
    "Account",
    "AnswerKind",
    "ArcKey",
    "Dc09Answer",
    "Dc09Error",
    "Dc09Frame",
    "Location",
    "Token",
    "crc16",
    "parse_answer",
    "parse_timestamp",
    "random_pad",
    "timestamp_text",
    "unwrap",
    "wrap",
]
