"""SMS in text mode: what one message can carry, and the parts of a received one.

GSM 03.38: one SMS carries 160 septets of the GSM 7-bit alphabet; the escape-extended characters
(``^{}\\[]~|``) take two. Text mode (``AT+CMGF=1``) cannot concatenate, so a longer text is refused
rather than cut; alarm messages go whole as concatenated PDUs instead (``pdu``). Timestamps are
the service centre's (``+CMGR``/``+CMGL``/``+CMT`` ``<scts>``, 3GPP TS 27.005 §3.1:
``yy/MM/dd,hh:mm:ss±zz``, the zone in quarter hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from loneguard.gsm.redact import mask_number

MAX_SMS_SEPTETS = 160  # one SMS of the GSM 7-bit alphabet; text mode cannot concatenate

_SCTS = re.compile(r"(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d\d?)?")

# ASCII a GSM 7-bit SMS can carry: the basic set plus the escape-extended characters.
_GSM_EXTENDED = frozenset("^{}\\[]~|")
_SENDABLE = frozenset(chr(c) for c in range(0x20, 0x7F) if chr(c) != "`") | {"\n", "\r"}

# Typography people and editors bring in, as the GSM alphabet writes it.
TYPOGRAPHY = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00a0": " ",
        "\t": " ",
        "`": "'",
    }
)


@dataclass(frozen=True)
class Sms:
    """A received message. ``index`` is its SIM slot, or None if delivered directly (+CMT)."""

    index: int | None
    status: str
    sender: str = field(repr=False)
    text: str = field(repr=False)
    sent_at: datetime | None

    @property
    def masked_sender(self) -> str:
        return mask_number(self.sender)


def sms_text(text: str) -> str:
    """The text as the modem can send it in one SMS: common typography made ASCII, the rest '?'.

    Raises ValueError when it does not fit in one SMS (160 GSM septets).
    """
    plain = text.translate(TYPOGRAPHY)
    safe = "".join(c if c in _SENDABLE else "?" for c in plain)
    septets = len(safe) + sum(1 for c in safe if c in _GSM_EXTENDED)
    if septets > MAX_SMS_SEPTETS:
        raise ValueError(f"SMS text is {septets} GSM characters; one SMS holds {MAX_SMS_SEPTETS}")
    return safe


def parse_scts(text: str) -> datetime | None:
    """``24/11/25,10:00:00+00`` (the zone in quarter hours) → an aware datetime, or None."""
    match = _SCTS.fullmatch(text.strip())
    if not match:
        return None
    yy, mo, dd, hh, mi, ss, zone = match.groups()
    try:
        tz = timezone(timedelta(minutes=15 * int(zone))) if zone else UTC
        return datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=tz)
    except ValueError:
        return None
