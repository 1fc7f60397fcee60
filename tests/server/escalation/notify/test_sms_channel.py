"""The SMS channel against the fake modem on a pty, and the one-SMS framing of alarm text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.gsm.sms import sms_text
from loneguard.server.escalation.notify.notification import Notification, Recipient
from loneguard.server.escalation.notify.sms_channel import SmsChannel, alarm_sms

NUMBER = "+447700900123"
ANN = Recipient("Ann", "line_manager", phone=NUMBER)


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


@pytest.fixture
def modem(fake: FakeModem) -> Iterator[Modem]:
    with Modem(fake.path, command_timeout=0.5, slow_timeout=0.5, sweep_interval=None) as modem:
        modem.initialise()
        fake.clear_transcript()
        yield modem


def note(text: str = "Bob is overdue at 12 Elm St", recipient: Recipient = ANN) -> Notification:
    return Notification("a12/s1/r0/line_manager/sms", 12, "sms", recipient, text)


def test_alarm_sms_frames_and_fits_one_sms() -> None:
    assert alarm_sms(12, "Bob is overdue") == (
        "loneguard alarm 12: Bob is overdue Reply ACK 12 to take charge"
    )
    long = alarm_sms(12345, "Bob \u2014 overdue " + "x{" * 200)
    assert long.startswith("loneguard alarm 12345: Bob - overdue x{")
    assert long.endswith("... Reply ACK 12345 to take charge")
    assert sms_text(long) == long  # sendable as is, within 160 septets
    assert len(long) + long.count("{") in (159, 160)
    # Text the ladder already framed is not framed twice.
    framed = "loneguard alarm 3: panic. Reply ACK 3"
    assert alarm_sms(3, framed) == framed


def test_sends_through_the_modem(fake: FakeModem, modem: Modem) -> None:
    result = asyncio.run(SmsChannel(modem).send(note()))
    assert result.ok and "mr" in result.detail
    assert fake.sent == [(NUMBER, alarm_sms(12, "Bob is overdue at 12 Elm St"))]


def test_no_phone_is_a_final_failure(fake: FakeModem, modem: Modem) -> None:
    result = asyncio.run(SmsChannel(modem).send(note(recipient=Recipient("Cy", "contact"))))
    assert (result.ok, result.detail, result.retryable) == (
        False,
        "no phone number for contact",
        False,
    )
    bad = asyncio.run(SmsChannel(modem).send(note(recipient=Recipient("D", "home", phone="abc"))))
    assert (bad.ok, bad.retryable) == (False, False)
    assert fake.sent == []


def test_modem_error_is_retryable_and_recovers_first(
    fake: FakeModem, modem: Modem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("AT+CMGS", "+CMS ERROR: 500")
    result = asyncio.run(SmsChannel(modem).send(note()))
    assert not result.ok and result.retryable
    assert "AT+CMGS" in result.detail and "modem recovered" in result.detail
    assert "900123" not in result.detail
    after_send = fake.commands()[fake.commands().index("\x1a") + 1 :]
    assert after_send[0] == "AT" and "AT+CMGF=1" in after_send  # recovered, re-initialised
    assert "900123" not in caplog.text and "Elm St" not in caplog.text
    assert modem.health == "ok"


def test_a_silent_modem_times_out_retryably(fake: FakeModem, modem: Modem) -> None:
    modem.sms_timeout = 0.3
    fake.fail_next("AT+CMGS", "")  # takes the text, never answers
    result = asyncio.run(SmsChannel(modem).send(note()))
    assert not result.ok and result.retryable and "AT+CMGS" in result.detail
