"""The fake modem itself: the behaviours the driver's tests rely on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from loneguard.gsm.at import ModemError
from loneguard.gsm.fake import Exchange, FakeModem
from loneguard.gsm.modem import Modem


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


@pytest.fixture
def modem(fake: FakeModem) -> Iterator[Modem]:
    with Modem(fake.path, command_timeout=0.3, sweep_interval=None) as modem:
        yield modem


def test_modules_import_without_gpiozero() -> None:
    code = (
        "import sys, loneguard.gsm.modem, loneguard.gsm.fake; assert 'gpiozero' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sms_commands_need_text_mode_and_errors_follow_cmee(fake: FakeModem, modem: Modem) -> None:
    with pytest.raises(ModemError, match=r": ERROR$"):
        modem.command("AT+CMGR=1")
    modem.command("AT+CMEE=1")
    with pytest.raises(ModemError, match=r": \+CMS ERROR: 302$"):
        modem.command("AT+CMGR=1")
    modem.command("AT+CMEE=2")
    with pytest.raises(ModemError, match=r": \+CME ERROR: operation not supported$"):
        modem.command("AT+NOPE")


def test_no_announcement_before_cnmi(fake: FakeModem, modem: Modem) -> None:
    modem.command("ATE0")
    fake.clear_transcript()
    fake.deliver_sms("+447700900123", "quiet")
    assert fake.transcript == []
    assert 1 in fake.inbox


def test_cmgd_delete_all_and_echo(fake: FakeModem, modem: Modem) -> None:
    fake.deliver_sms("+447700900123", "a")
    fake.deliver_sms("+447700900123", "b")
    modem.command("AT+CMGF=1")
    modem.command("AT+CMGD=1,4")
    assert fake.inbox == {}
    assert fake.transcript[-3:] == [
        Exchange("dte", "AT+CMGD=1,4"),
        Exchange("dce", "AT+CMGD=1,4"),  # still echoing: no ATE0 yet
        Exchange("dce", "OK"),
    ]


def test_hung_until_cfun_ignores_everything_but_the_toggle(fake: FakeModem, modem: Modem) -> None:
    fake.hang(until="cfun")
    fake.clear_transcript()
    with pytest.raises(ModemError):
        modem.command("AT")
    with pytest.raises(ModemError):
        modem.command("AT+CFUN=0")
    modem.command("AT+CFUN=1")
    assert fake.transcript == [
        Exchange("dte", "AT"),
        Exchange("dte", "AT+CFUN=0"),
        Exchange("dte", "AT+CFUN=1"),
        Exchange("dce", "AT+CFUN=1"),
        Exchange("dce", "OK"),
    ]


def test_wait_for_command(fake: FakeModem, modem: Modem) -> None:
    assert fake.wait_for_command("AT+CSQ", timeout=0.01) is False
    modem.command("AT+CSQ")
    assert fake.wait_for_command("AT+CSQ", timeout=0.01) is True


def test_submissions_are_timed_on_the_clock_handed_in_and_name_the_whole_message() -> None:
    ticks = iter(float(t) for t in range(100, 200))
    with (
        FakeModem(now=lambda: next(ticks)) as fake,
        Modem(fake.path, command_timeout=0.3, sweep_interval=None) as modem,
    ):
        modem.initialise()
        modem.send_sms("+447700900123", "short one")
        modem.send_long_sms("+447700900123", "x" * 200)  # two PDU-mode parts
        assert fake.wait_for_submissions(3, timeout=1)
        short, first_part, last_part = fake.submissions
    assert short.body == "short one" and short.completed is not None
    assert short.completed.text == "short one"
    assert first_part.completed is None  # the message is not whole until its last part
    assert last_part.completed is not None and last_part.completed.parts == 2
    assert last_part.completed.text == "x" * 200
    assert short.at < first_part.at < last_part.at  # times from ``now``, in arrival order
    assert {short.at, first_part.at, last_part.at} <= set(map(float, range(100, 200)))


def test_a_refused_send_is_a_submission_without_a_message(fake: FakeModem, modem: Modem) -> None:
    modem.initialise()
    fake.fail_next("AT+CMGS", "+CMS ERROR: 500")
    with pytest.raises(ModemError):
        modem.send_sms("+447700900123", "refused")
    assert fake.wait_for_submissions(1, timeout=1)
    (refused,) = fake.submissions
    assert refused.body == "refused" and refused.completed is None
