"""SMS-SUBMIT PDUs: long texts as concatenated SMS, GSM 7-bit where it can, UCS-2 where not.

The facts, and where they come from:

- 3GPP TS 23.038 §6.2.1: the GSM 7-bit default alphabet (``_BASIC``) and its extension table
  reached by the escape 0x1B (``_EXTENSION``: ``^{}\\[]~|€`` and form feed), each of those two
  septets; §6.1.2.1.1: septets packed least significant bit first into octets; §4: data coding
  scheme 0x00 (GSM 7-bit) and 0x08 (UCS-2, big-endian 16-bit units).
- 3GPP TS 23.040 §9.2.2.2: the SMS-SUBMIT layout: first octet (TP-MTI = 01, TP-UDHI = bit 6, no
  validity period), TP-MR (0: the modem fills it in), TP-DA (§9.1.2.5: length in digits, type of
  address 0x91 international / 0x81 unknown, semi-octets swapped, F-padded), TP-PID, TP-DCS,
  TP-UDL (septets for 7-bit data, header included; octets for UCS-2), TP-UD.
- 3GPP TS 23.040 §9.2.3.24 and §9.2.3.24.1: the user data header, and its concatenation element
  (IEI 0x00, length 3: reference, total parts, this part's number from 1). A 6-octet header
  takes 7 septets with its fill bit, so a 7-bit part carries 153 characters, a UCS-2 part 67
  (140 octets less 6); one unconcatenated SMS 160 and 70 (§9.2.3.16 and §9.2.3.24).
- 3GPP TS 27.005 §3.2.3 (+CMGF) and §4.3 (+CMGS in PDU mode), and the SIMCom manuals
  (SIM7500_SIM7600 Series AT Command Manual, AT+CMGF and AT+CMGS; A76XX Series AT Command
  Manual, the same commands): in PDU mode
  (``AT+CMGF=0``) ``AT+CMGS=<length>`` counts the TPDU's octets without the service centre
  address, and the PDU is written as hexadecimal after the ``> `` prompt, ended by Ctrl-Z. A
  leading ``00`` (no service centre address) makes the modem use the SIM's (+CSCA).

Nothing here touches a modem: ``modem.Modem.send_pdus`` writes what ``submit_pdus`` makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from loneguard.gsm.sms import TYPOGRAPHY

Encoding = Literal["gsm7", "ucs2"]

# 3GPP TS 23.038 §6.2.1, the default alphabet in code order (0x1B, the escape, as a space-holder).
_BASIC: Final = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# §6.2.1.1, the default extension table: character → its code after the escape.
_EXTENSION: Final = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_CODE: Final = {c: i for i, c in enumerate(_BASIC) if c != "\x1b"}
ESCAPE: Final = 0x1B

SINGLE_SEPTETS: Final = 160
PART_SEPTETS: Final = 153
SINGLE_UNITS: Final = 70  # UCS-2 16-bit units
PART_UNITS: Final = 67
MAX_PARTS: Final = 255  # the concatenation element counts parts in one octet


@dataclass(frozen=True)
class Pdu:
    """One SMS-SUBMIT as ``AT+CMGS`` takes it: ``length`` octets of TPDU, ``hex`` with the
    leading ``00`` service-centre octet."""

    length: int
    hex: str


def plain(text: str) -> str:
    """Text as an SMS carries it: typography made GSM, other control characters spaces."""
    text = text.translate(TYPOGRAPHY)  # so a curly quote does not make it UCS-2
    return "".join(c if c == "\n" or c.isprintable() else " " for c in text)


def encoding_for(text: str) -> Encoding:
    """GSM 7-bit when every character has a code in the default alphabet, else UCS-2."""
    return "gsm7" if all(c in _CODE or c in _EXTENSION for c in text) else "ucs2"


def split_parts(text: str) -> tuple[Encoding, list[str]]:
    """``text`` (already ``plain``) cut into the parts of one concatenated SMS.

    An escaped character is never cut in two, nor a UTF-16 surrogate pair.
    """
    encoding = encoding_for(text)
    sizes = [_size(c, encoding) for c in text]
    single, part = (
        (SINGLE_SEPTETS, PART_SEPTETS) if encoding == "gsm7" else (SINGLE_UNITS, PART_UNITS)
    )
    if sum(sizes) <= single:
        return encoding, [text]
    parts: list[str] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        if used + size > part:
            parts.append(text[start:i])
            start, used = i, 0
        used += size
    parts.append(text[start:])
    return encoding, parts


def count_parts(text: str) -> int:
    """How many SMS ``text`` (already ``plain``) takes."""
    return len(split_parts(text)[1])


def submit_pdus(number: str, text: str, reference: int) -> list[Pdu]:
    """The SMS-SUBMIT PDUs of ``text`` to ``number``; ``reference`` (0-255) ties the parts."""
    if not 0 <= reference <= 255:
        raise ValueError("the concatenation reference is one octet, 0 to 255")
    encoding, parts = split_parts(plain(text))
    if len(parts) > MAX_PARTS:
        raise ValueError(f"the text needs {len(parts)} parts; one message has at most 255")
    address = _address(number)
    pdus = []
    for seq, part in enumerate(parts, start=1):
        header = b"" if len(parts) == 1 else bytes([0x05, 0x00, 0x03, reference, len(parts), seq])
        if encoding == "gsm7":
            udl, ud = _gsm7_user_data(part, header)
            dcs = 0x00
        else:
            body = part.encode("utf-16-be")
            ud = header + body
            udl, dcs = len(ud), 0x08
        first = 0x01 | (0x40 if header else 0)  # SMS-SUBMIT, no validity period, UDHI
        tpdu = bytes([first, 0x00]) + address + bytes([0x00, dcs, udl]) + ud
        pdus.append(Pdu(len(tpdu), "00" + tpdu.hex().upper()))
    return pdus


def _size(c: str, encoding: Encoding) -> int:
    if encoding == "gsm7":
        return 2 if c in _EXTENSION else 1
    return 2 if ord(c) > 0xFFFF else 1  # a surrogate pair: two 16-bit units


def _address(number: str) -> bytes:
    """TP-DA (23.040 §9.1.2.5): digit count, type of address, swapped semi-octets."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits.isdigit() or not 1 <= len(digits) <= 20:
        raise ValueError("a destination is 1 to 20 digits with an optional leading +")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), 0x91 if international else 0x81]) + bytes.fromhex(swapped)


def _gsm7_user_data(text: str, header: bytes) -> tuple[int, bytes]:
    """TP-UDL (septets, header and fill included) and TP-UD, packed LSB first."""
    septets: list[int] = []
    for c in text:
        if c in _EXTENSION:
            septets += [ESCAPE, _EXTENSION[c]]
        else:
            septets.append(_CODE[c])
    header_bits = len(header) * 8
    fill = (7 - header_bits % 7) % 7
    bits = 0
    width = 0
    for octet in header:
        bits |= octet << width
        width += 8
    width += fill
    for septet in septets:
        bits |= septet << width
        width += 7
    udl = (header_bits + fill) // 7 + len(septets)
    return udl, bits.to_bytes((width + 7) // 8, "little")


__all__ = [
    "MAX_PARTS",
    "PART_SEPTETS",
    "PART_UNITS",
    "SINGLE_SEPTETS",
    "SINGLE_UNITS",
    "Encoding",
    "Pdu",
    "count_parts",
    "encoding_for",
    "plain",
    "split_parts",
    "submit_pdus",
]
