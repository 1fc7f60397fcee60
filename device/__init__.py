"""The loneguard device firmware: a Raspberry Pi with a check-in button, a panic button, an LED.

This package must stay importable without gpiozero: the hub imports ``device.modem``. Only
``device.app``, ``device.simulator`` and ``device.cli`` touch gpiozero.
"""
