"""The battery level for the heartbeat, where a battery board is fitted (PiSugar 3 on I2C1).

The PiSugar 3's microcontroller answers at I2C address 0x57: register 0x00 holds its model (3),
register 0x2A the charge in percent. ``I2cBus`` reads a register with the kernel's SMBus ioctl
on ``/dev/i2c-N``, standard library only (the device installs no compiled packages); tests hand
``PiSugar3`` a fake bus, as they hand the app mock pins.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import threading
from typing import Protocol

log = logging.getLogger(__name__)

PISUGAR3_ADDRESS = 0x57
PISUGAR3_MODEL_REGISTER = 0x00
PISUGAR3_MODEL = 3
PISUGAR3_LEVEL_REGISTER = 0x2A

# linux/i2c-dev.h and linux/i2c.h
_I2C_SLAVE = 0x0703
_I2C_SMBUS = 0x0720
_I2C_SMBUS_READ = 1
_I2C_SMBUS_BYTE_DATA = 2


class RegisterReader(Protocol):
    def read_byte_data(self, address: int, register: int) -> int: ...

    def close(self) -> None: ...


class _SmbusData(ctypes.Union):
    _fields_ = [("byte", ctypes.c_uint8), ("word", ctypes.c_uint16), ("block", ctypes.c_uint8 * 34)]


class _SmbusIoctl(ctypes.Structure):
    _fields_ = [
        ("read_write", ctypes.c_uint8),
        ("command", ctypes.c_uint8),
        ("size", ctypes.c_uint32),
        ("data", ctypes.POINTER(_SmbusData)),
    ]


class I2cBus:
    """``/dev/i2c-<number>``, opened on first use; raises OSError when the bus or chip is absent."""

    def __init__(self, number: int = 1) -> None:
        self.path = f"/dev/i2c-{number}"
        self._fd: int | None = None
        self._lock = threading.Lock()

    def read_byte_data(self, address: int, register: int) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR)
            data = _SmbusData()
            request = _SmbusIoctl(
                _I2C_SMBUS_READ, register, _I2C_SMBUS_BYTE_DATA, ctypes.pointer(data)
            )
            fcntl.ioctl(self._fd, _I2C_SLAVE, address)
            fcntl.ioctl(self._fd, _I2C_SMBUS, request)
            return int(data.byte)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None


class PiSugar3:
    """The PiSugar 3's charge; ``percent()`` is None when the board does not answer sensibly."""

    def __init__(self, bus: RegisterReader) -> None:
        self._bus = bus
        self._warned = False

    def close(self) -> None:
        self._bus.close()

    def percent(self) -> int | None:
        try:
            model = self._bus.read_byte_data(PISUGAR3_ADDRESS, PISUGAR3_MODEL_REGISTER)
            level = self._bus.read_byte_data(PISUGAR3_ADDRESS, PISUGAR3_LEVEL_REGISTER)
        except OSError as exc:
            self._warn(f"battery board not readable: {exc}")
            return None
        if model != PISUGAR3_MODEL or not 0 <= level <= 100:
            self._warn(f"no PiSugar 3 at 0x{PISUGAR3_ADDRESS:02x} (model {model}, level {level})")
            return None
        self._warned = False
        return level

    def _warn(self, message: str) -> None:
        if not self._warned:  # once per outage, not every heartbeat
            log.warning("%s", message)
            self._warned = True
