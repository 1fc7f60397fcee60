"""The first bytes on a just-opened UART can arrive garbled (seen on the emulated Pi's
mini-UART): the driver ends the junk line and repeats its first command, once."""

from __future__ import annotations

import os

import pytest

from loneguard.gsm.at import ModemError
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem

NOISE = b"\x00\xf0\x8c"  # what a UART settling after open can put on the line


def with_noise_first(fake: FakeModem) -> None:
    """Noise on the line before the driver's first command, as the Pi's UART sends it."""
    fd = os.open(fake.path, os.O_WRONLY | os.O_NOCTTY)
    try:
        os.write(fd, NOISE)
    finally:
        os.close(fd)


def test_a_garbled_first_command_is_repeated_once() -> None:
    with FakeModem() as fake, Modem(fake.path, sweep_interval=None) as modem:
        with_noise_first(fake)
        assert modem.command("AT+CSQ", expect="+CSQ:") == ["+CSQ: 20,99"]
        commands = fake.commands()
        assert commands[0].endswith("AT+CSQ") and commands[0] != "AT+CSQ"  # the junk line
        assert commands[1:] == ["AT+CSQ"]


def test_later_errors_are_not_repeated() -> None:
    with FakeModem() as fake, Modem(fake.path, sweep_interval=None) as modem:
        modem.command("AT")
        fake.fail_next("AT+CSQ", "ERROR")
        with pytest.raises(ModemError):
            modem.command("AT+CSQ", expect="+CSQ:")
        assert fake.commands() == ["AT", "AT+CSQ"]
