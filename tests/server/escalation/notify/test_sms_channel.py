"""The SMS channel against the fake modem on a pty: whole messages in concatenated parts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.server.escalation.notify.notification import Notification, Recipient
from loneguard.server.escalation.notify.sms_channel import SmsChannel

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


def test_sends_the_rendered_text_whole_through_the_modem(fake: FakeModem, modem: Modem) -> None:
    text = "OVERDUE: Bob was due back at 13:00. At 12 Elm St. Reply ACK 12 to take charge. " * 3
    result = asyncio.run(SmsChannel(modem).send(note(text)))
    assert result.ok and result.detail.startswith("SMS sent in 2 parts (mr ")
    assert fake.sent == [(NUMBER, text)]
    assert fake.sent_messages[0].parts == 2


def test_a_text_over_the_part_bound_is_a_final_failure(fake: FakeModem, modem: Modem) -> None:
    result = asyncio.run(SmsChannel(modem, max_parts=1).send(note("x" * 200)))
    assert (result.ok, result.retryable) == (False, False)
    assert fake.sent == []


def test_gap_names_a_recipient_without_a_number() -> None:
    channel = SmsChannel.__new__(SmsChannel)  # gap needs no modem
    assert channel.gap(Recipient("Cy", "visit_contact")) == "no phone number for visit_contact"
    assert channel.gap(Recipient("D", "worker_home", phone="ring reception")) == (
        "the number stored for worker_home is not a phone number"
    )
    assert channel.gap(ANN) is None


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
    # Back to text mode at once, then recovered and re-initialised.
    assert after_send[:2] == ["AT+CMGF=1", "AT"] and "AT+CMGF=1" in after_send[2:]
    assert "900123" not in caplog.text and "Elm St" not in caplog.text
    assert modem.health == "ok"


def test_a_silent_modem_times_out_retryably(fake: FakeModem, modem: Modem) -> None:
    modem.sms_timeout = 0.3
    fake.fail_next("AT+CMGS", "")  # takes the text, never answers
    result = asyncio.run(SmsChannel(modem).send(note()))
    assert not result.ok and result.retryable and "AT+CMGS" in result.detail
