"""What the network makes of an SMS-SUBMIT PDU, for the fake modem: decode it, join the parts.

Read from 3GPP TS 23.040 §9.2.2.2 (the SMS-SUBMIT fields, every validity-period format),
§9.2.3.24 (the user data header, 8- and 16-bit concatenation references, IEI 0x00 and 0x08) and
TS 23.038 (§4 the data coding scheme's alphabet bits, §6.2.1 the 7-bit default alphabet and its
extension table), written apart from ``gsm.pdu``, the encoder it checks: a phone would decode
what the driver sends the same way, so a mistake in the encoder does not cancel out here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# 23.038 §6.2.1, by code; 0x1B is the escape to the extension table.
_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENDED = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~"}
_EXTENDED |= {0x3E: "]", 0x40: "|", 0x65: "€"}


class PduError(ValueError):
    """A PDU the network would refuse (27.005 +CMS ERROR 304, invalid PDU mode parameter)."""


@dataclass(frozen=True)
class SubmittedPart:
    number: str
    text: str
    alphabet: str  # "gsm7", "8bit" or "ucs2"
    reference: int | None  # the concatenation reference; None for a single SMS
    total: int
    seq: int


@dataclass(frozen=True)
class SentMessage:
    """A whole message as the recipient's phone shows it, and how many parts carried it."""

    number: str
    text: str
    parts: int
    alphabet: str


def decode_submit(hex_text: str, length: int) -> SubmittedPart:
    """One SMS-SUBMIT written after ``AT+CMGS=<length>``, its service-centre octets first."""
    try:
        data = bytes.fromhex(hex_text.strip())
    except ValueError:
        raise PduError("not hexadecimal") from None
    if not data:
        raise PduError("empty")
    sca = data[0]
    tpdu = data[1 + sca :]
    if len(tpdu) != length:
        raise PduError(f"AT+CMGS said {length} octets, the TPDU has {len(tpdu)}")
    try:
        return _decode(tpdu)
    except IndexError:
        raise PduError("truncated") from None


def _decode(tpdu: bytes) -> SubmittedPart:
    first = tpdu[0]
    if first & 0x03 != 0x01:
        raise PduError("not an SMS-SUBMIT")
    udhi = bool(first & 0x40)
    vpf = (first >> 3) & 0x03
    digits = tpdu[2]
    toa = tpdu[3]
    octets = (digits + 1) // 2
    semi = tpdu[4 : 4 + octets].hex()
    number = "".join(semi[i + 1] + semi[i] for i in range(0, len(semi), 2))[:digits]
    if toa & 0x70 == 0x10:
        number = "+" + number
    at = 4 + octets + 1  # past TP-PID
    dcs = tpdu[at]
    at += 1
    at += {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    udl = tpdu[at]
    ud = tpdu[at + 1 :]
    alphabet = _alphabet(dcs)
    header = b""
    if udhi:
        header = ud[: ud[0] + 1]
    reference, total, seq = _concatenation(header)
    if alphabet == "gsm7":
        skip = (len(header) * 8 + 6) // 7  # septets the header and its fill bits take
        text = _unpack(ud, udl)[skip:]
        if len(ud) != (udl * 7 + 7) // 8:
            raise PduError("TP-UDL does not match the 7-bit user data")
    else:
        body = ud[len(header) : udl]
        if len(ud) != udl:
            raise PduError("TP-UDL does not match the user data")
        text = body.decode("utf-16-be") if alphabet == "ucs2" else body.decode("latin-1")
    return SubmittedPart(number, text, alphabet, reference, total, seq)


def _alphabet(dcs: int) -> str:
    if dcs & 0xC0 == 0x00 or dcs & 0xF0 == 0xF0:  # general coding group, or message class
        bits = (dcs >> 2) & 0x03
        return {0: "gsm7", 1: "8bit", 2: "ucs2"}.get(bits, "reserved")
    raise PduError(f"data coding scheme {dcs:#04x} is not one a phone shows as text")


def _concatenation(header: bytes) -> tuple[int | None, int, int]:
    i = 1
    while i < len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if iei == 0x00 and size == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and size == 4:
            return value[0] << 8 | value[1], value[2], value[3]
        i += 2 + size
    return None, 1, 1


def _unpack(ud: bytes, count: int) -> str:
    septets = []
    for n in range(count):
        bit = n * 7
        pair = ud[bit // 8] | (ud[bit // 8 + 1] << 8 if bit // 8 + 1 < len(ud) else 0)
        septets.append((pair >> (bit % 8)) & 0x7F)
    out = []
    escaped = False
    for s in septets:
        if escaped:
            out.append(_EXTENDED.get(s, " "))
            escaped = False
        elif s == 0x1B:
            escaped = True
        else:
            out.append(_DEFAULT[s])
    return "".join(out)


@dataclass
class Reassembly:
    """Parts as they arrive; a message comes out when its last missing part does."""

    _waiting: dict[tuple[str, int, int], dict[int, SubmittedPart]] = field(default_factory=dict)

    def add(self, part: SubmittedPart) -> SentMessage | None:
        if part.reference is None or part.total == 1:
            return SentMessage(part.number, part.text, 1, part.alphabet)
        key = (part.number, part.reference, part.total)
        parts = self._waiting.setdefault(key, {})
        parts[part.seq] = part
        if len(parts) < part.total:
            return None
        del self._waiting[key]
        ordered = [parts[i] for i in sorted(parts)]
        text = "".join(p.text for p in ordered)
        return SentMessage(part.number, text, part.total, part.alphabet)

    @property
    def incomplete(self) -> int:
        return len(self._waiting)


__all__ = ["PduError", "Reassembly", "SentMessage", "SubmittedPart", "decode_submit"]
