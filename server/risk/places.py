"""The same place and the same person, however they were typed: keys for matching history.

"12a High St." and "12A  high street" are one address; "+44 7700 900123" and "07700900123" one
phone number. The keys are only ever compared, never shown.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "st": "street",
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "ct": "court",
    "pl": "place",
    "sq": "square",
    "cres": "crescent",
    "gdns": "gardens",
    "flt": "flat",
}
_WORD = re.compile(r"[a-z0-9]+")
# A UK postcode written without its space ("SW1A1AA") is the same as with it ("SW1A 1AA").
_POSTCODE = re.compile(r"\b([a-z]{1,2}[0-9][a-z0-9]?) ?([0-9][a-z]{2})\b")


def address_key(address: str | None) -> str | None:
    """Lower case, punctuation gone, common abbreviations spelt out; None for no address."""
    if address is None:
        return None
    text = _POSTCODE.sub(r"\1\2", address.casefold())
    words = [_ABBREVIATIONS.get(w, w) for w in _WORD.findall(text)]
    return " ".join(words) or None


def phone_key(phone: str | None) -> str | None:
    """The digits of a number, a UK ``+44``/``0044`` prefix written as the national ``0``."""
    if phone is None:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    if phone.strip().startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits.removeprefix("00").removeprefix("44")
    return digits if len(digits) >= 6 else None


def contact_key(name: str | None, phone: str | None) -> str | None:
    """A contact by phone number when there is one, else by name."""
    by_phone = phone_key(phone)
    if by_phone is not None:
        return f"tel:{by_phone}"
    words = _WORD.findall((name or "").casefold())
    return f"name:{' '.join(words)}" if words else None
