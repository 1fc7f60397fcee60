"""The GPIO back-end (gpiozero pin factory) named by ``gpio.factory``, or an error naming the fix.

- ``lgpio`` (the default): gpiozero's ``LGPIOFactory`` on the kernel's GPIO character device
  (``/dev/gpiochip*``), the one Raspberry Pi OS bookworm ships (``python3-lgpio``) and the only
  one that works on a Pi 5.
- ``rpigpio``: ``RPiGPIOFactory`` over ``RPi.GPIO`` (on bookworm the ``rpi-lgpio`` shim).
- ``native``: gpiozero's ``NativeFactory``, pure Python on ``/dev/gpiomem``; no edge timing.
- ``mock``: mock pins (gpiozero's ``MockFactory``, on the injected clock), for a unit on a desk
  with no buttons wired, and for tests.

Every Pi factory reads the board's revision (``/proc/device-tree/system/linux,revision`` or
``/proc/cpuinfo``) when it starts; a service that cannot read them (``ProcSubset=pid`` hides
both) cannot start one. Whatever fails (a library that is not installed, a revision that cannot
be read, a GPIO chip that cannot be opened), ``PinFactoryError`` says which factory and what to
do, and ``loneguard-device`` exits with status 2 (a configuration problem, not a crash).
"""

from __future__ import annotations

import importlib
from typing import Any

from loneguard.protocol.clock import Clock

FACTORIES = ("lgpio", "rpigpio", "native", "mock")

_CLASSES = {
    "lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory", "python3-lgpio (apt) or lgpio (pip)"),
    "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory", "python3-rpi-lgpio (apt) or rpi-lgpio"),
    "native": ("gpiozero.pins.native", "NativeFactory", "nothing more (pure Python)"),
}


class PinFactoryError(RuntimeError):
    """The configured GPIO back-end cannot start; the message names it and the fix."""


def make_pin_factory(name: str, clock: Clock) -> Any:
    """A started pin factory for ``gpio.factory`` = ``name``."""
    if name == "mock":
        from loneguard.device.simulator import ClockedMockFactory

        return ClockedMockFactory(clock, max_states=10_000)
    if name not in _CLASSES:
        raise PinFactoryError(f"gpio.factory: must be one of {', '.join(FACTORIES)}, got {name!r}")
    module_name, class_name, package = _CLASSES[name]
    try:
        factory_class = getattr(importlib.import_module(module_name), class_name)
        factory = factory_class()
        factory.board_info  # noqa: B018 - reads the board revision now, not at the first pin
    except Exception as exc:
        raise PinFactoryError(
            f"the GPIO pin factory gpio.factory = {name!r} cannot start "
            f"({type(exc).__name__}: {exc}). Install "
            f"{package}; make sure the service can read /proc/device-tree and /proc/cpuinfo "
            f"(no ProcSubset=pid in its unit) and open the GPIO device; or set gpio.factory to "
            f"one of {', '.join(f for f in FACTORIES if f != name)}"
        ) from exc
    return factory
