"""Long SMS through the driver in PDU mode, reassembled by the fake modem's network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loneguard.gsm.at import ModemError
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock


@pytest.fixture
def pair() -> Iterator[tuple[FakeModem, Modem]]:
    with FakeModem() as fake:
        modem = Modem(fake.path, command_timeout=1.0, slow_timeout=1.0, clock=FakeClock())
        modem.initialise()
        yield fake, modem
        modem.close()


def test_a_long_text_arrives_whole_in_three_parts_and_text_mode_is_back(
    pair: tuple[FakeModem, Modem],
) -> None:
    fake, modem = pair
    text = "Ana Lopez is overdue from 14 Elm Road [flat 2] since 13:05. " * 6
    references = modem.send_long_sms("+447700900123", text, max_parts=3)
    assert len(references) == 3
    [message] = fake.sent_messages
    assert (message.number, message.text, message.parts, message.alphabet) == (
        "+447700900123",
        text,
        3,
        "gsm7",
    )
    sms_commands = [c for c in fake.commands() if c.startswith("AT+CMG")]
    # 153 = the TPDU of a full 7-bit part: 13 octets of fields (with a 12-digit number) and 140
    # of user data (160 septets: the header's 7 and 153 of text); the last part is shorter.
    assert sms_commands[-5:-1] == ["AT+CMGF=0", "AT+CMGS=153", "AT+CMGS=153", "AT+CMGS=77"]
    assert sms_commands[-1] == "AT+CMGF=1"
    # Text mode again: a reply still goes out as before.
    modem.send_sms("+447700900123", "ACK 3 taken")
    assert fake.sent[-1] == ("+447700900123", "ACK 3 taken")


def test_a_name_outside_the_gsm_alphabet_goes_as_ucs2(pair: tuple[FakeModem, Modem]) -> None:
    fake, modem = pair
    modem.send_long_sms("+447700900123", "Łucja Nowak is overdue. Reply ACK 7.")
    [message] = fake.sent_messages
    assert (message.text, message.parts, message.alphabet) == (
        "Łucja Nowak is overdue. Reply ACK 7.",
        1,
        "ucs2",
    )


def test_more_parts_than_allowed_is_refused_before_anything_is_sent(
    pair: tuple[FakeModem, Modem],
) -> None:
    fake, modem = pair
    with pytest.raises(ValueError, match="4 SMS parts, more than 3"):
        modem.send_long_sms("+447700900123", "x" * 500, max_parts=3)
    assert fake.sent_parts == []


def test_a_network_refusal_midway_raises_and_the_modem_is_in_text_mode(
    pair: tuple[FakeModem, Modem],
) -> None:
    fake, modem = pair
    fake.creg_stat = 0  # not registered: the network refuses (+CMS ERROR 331)
    with pytest.raises(ModemError):
        modem.send_long_sms("+447700900123", "y" * 200)
    assert fake.commands()[-1] == "AT+CMGF=1"
