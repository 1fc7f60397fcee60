"""Start-up's freed memory handed back to the system.

Loading the firmware builds and drops a great deal (dataclasses' generated methods, the TOML
parser's work, type hints read once): glibc keeps the freed pages in the process for reuse, and
a unit that then idles for weeks never reuses most of them. ``malloc_trim(0)`` returns them,
about half a megabyte of a unit's resident memory; elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import gc


def return_freed_heap() -> None:
    gc.collect()  # what start-up left in reference cycles is freed before the pages are trimmed
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)
