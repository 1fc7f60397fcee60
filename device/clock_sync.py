"""Whether the system clock is synchronised, so an event's ``ts`` can be trusted.

A Pi has no battery-backed clock: until NTP (systemd-timesyncd on Raspberry Pi OS) has set it,
the time is whatever ``fake-hwclock`` saved at the last shutdown, possibly days old. Two signs,
either enough:

- ``/run/systemd/timesync/synchronized`` exists: systemd-timesyncd touches it at each
  successful synchronisation (systemd-timesyncd.service(8), "Files").
- the kernel's NTP state (``adjtimex(2)``, read-only) gives a maximum error under 16 s: the test
  systemd itself makes for ``timedatectl``'s ``NTPSynchronized`` (``ntp_synced()`` in systemd's
  ``src/basic/time-util.c``); chrony or ntpd keep it too.

Standard library only (ctypes for ``adjtimex``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
MAX_ERROR_US = 16_000_000  # the kernel's maxerror ceiling: at it, the clock is not disciplined


class _Timex(ctypes.Structure):
    # The head of struct timex (<sys/timex.h>); the rest is room for the fields the kernel fills.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 512),
    )


def kernel_max_error_us() -> int | None:
    """``adjtimex``'s maxerror in microseconds; None where it cannot be read."""
    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library would run
        # ldconfig in a child process at every event and load 1 MB of modules to do it.
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()  # modes = 0: read only
        if libc.adjtimex(ctypes.byref(timex)) < 0:
            return None
    except (OSError, AttributeError):
        return None
    return int(timex.maxerror)


def clock_synchronised(flag: Path = TIMESYNC_FLAG) -> bool:
    if flag.exists():
        return True
    max_error = kernel_max_error_us()
    return max_error is not None and max_error < MAX_ERROR_US
