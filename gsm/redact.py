"""Phone numbers kept out of logs and exception messages: masked, enough to tell two apart."""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"\+?[0-9]{7,}")


def mask_number(number: str) -> str:
    """``+447700900123`` → ``+44******123``: enough to tell numbers apart in a log, no more."""
    if len(number) <= 6:
        return "*" * max(0, len(number) - 2) + number[-2:]
    return f"{number[:3]}******{number[-3:]}"


def mask_numbers(text: str) -> str:
    """Mask every run of seven or more digits (with an optional +) in free text."""
    return _DIGIT_RUN.sub(lambda m: mask_number(m.group()), text)
