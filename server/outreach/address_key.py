"""One key per visit address, so the same place written twice is counted once.

Pure. The key folds case, accents written as compatibility characters, punctuation and spacing,
spells out a few street-type abbreviations, and writes a UK postcode at the end without its
space: "12 Elm Rd., SW1A 1AA" and "12 elm road sw1a1aa" are the same place.
"""

from __future__ import annotations

import re
import unicodedata

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_OUTWARD = re.compile(r"^[a-z]{1,2}\d[a-z\d]?$")
_INWARD = re.compile(r"^\d[a-z]{2}$")
_WORDS = {
    "rd": "road",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "cl": "close",
    "ct": "court",
    "cres": "crescent",
    "gdns": "gardens",
    "pl": "place",
    "sq": "square",
}


def address_key(address: str) -> str:
    """The normalised form of ``address``; empty for an address of punctuation only."""
    text = unicodedata.normalize("NFKC", address).casefold()
    words = _PUNCTUATION.sub(" ", text).split()
    words = [_WORDS.get(w, w) for w in words]
    if len(words) >= 2 and _OUTWARD.match(words[-2]) and _INWARD.match(words[-1]):
        words[-2:] = [words[-2] + words[-1]]
    return " ".join(words)
