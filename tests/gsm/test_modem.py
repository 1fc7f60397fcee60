"""The AT driver against the fake modem on a pty: exchanges asserted line by line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from loneguard.gsm.at import (
    CTRL_Z,
    ModemError,
    ModemTimeout,
    command_name,
    parse_fields,
    rssi_to_dbm,
)
from loneguard.gsm.fake import NO_FIX_GNSS, SAMPLE_GNSS, Exchange, FakeModem
from loneguard.gsm.gnss import parse_gnss
from loneguard.gsm.modem import INIT_COMMANDS, Modem
from loneguard.gsm.redact import mask_number, mask_numbers
from loneguard.gsm.sms import parse_scts, sms_text
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind
from loneguard.protocol.sms import FallbackLine

NUMBER = "+447700900123"
MASKED = "+44******123"


def dte(line: str) -> Exchange:
    return Exchange("dte", line)


def dce(line: str) -> Exchange:
    return Exchange("dce", line)


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


def make_modem(fake: FakeModem, **kwargs: object) -> Modem:
    options: dict[str, object] = {
        "command_timeout": 0.5,
        "slow_timeout": 0.5,
        "boot_timeout": 2.0,
        "sweep_interval": None,
    }
    options.update(kwargs)
    return Modem(fake.path, **options)  # type: ignore[arg-type]


@pytest.fixture
def modem(fake: FakeModem) -> Iterator[Modem]:
    with make_modem(fake) as modem:
        modem.initialise()
        fake.clear_transcript()
        yield modem


# -- initialise ---------------------------------------------------------------------------------


def test_initialise_turns_echo_off_and_sets_text_mode(fake: FakeModem) -> None:
    with make_modem(fake) as modem:
        modem.initialise()
    assert fake.transcript == [
        dte("AT"),
        dce("AT"),  # the modem echoes until ATE0
        dce("OK"),
        dte("ATE0"),
        dce("ATE0"),
        dce("OK"),
        dte("AT+CMEE=2"),
        dce("OK"),
        dte("AT+CMGF=1"),
        dce("OK"),
        dte('AT+CPMS="SM","SM","SM"'),
        dce("+CPMS: 0,30,0,30,0,30"),
        dce("OK"),
        dte("AT+CNMI=2,1,0,0,0"),
        dce("OK"),
        dte('AT+CSCS="IRA"'),
        dce("OK"),
    ]
    assert fake.commands() == list(INIT_COMMANDS)
    assert modem.health == "ok"


# -- sending ------------------------------------------------------------------------------------


def test_send_sms_exchange(fake: FakeModem, modem: Modem) -> None:
    reference = modem.send_sms(NUMBER, "PANIC hall_1 ACK 42")
    assert reference == 1
    assert fake.transcript == [
        dte(f'AT+CMGS="{NUMBER}"'),
        dce("> "),
        dte("PANIC hall_1 ACK 42"),
        dte(CTRL_Z),
        dce("+CMGS: 1"),
        dce("OK"),
    ]
    assert fake.sent == [(NUMBER, "PANIC hall_1 ACK 42")]
    assert modem.send_sms(NUMBER, "again") == 2


def test_send_sms_carries_a_fallback_line_unchanged(fake: FakeModem, modem: Modem) -> None:
    line = FallbackLine("hall_1", EventKind.PANIC, "01JD0Z7Q6Y3ZK8C2V9T4N5B6M7", 1_767_225_600_000)
    text = line.encode(b"secret")
    modem.send_sms(NUMBER, text)
    assert fake.sent == [(NUMBER, text)]
    parsed, mac = FallbackLine.parse_unverified(fake.sent[0][1])
    parsed.verify(mac, b"secret")


def test_sms_text_makes_typography_sendable_and_refuses_two_messages() -> None:
    assert sms_text("Jane \u2014 \u201cBay 3\u201d \u2026 ok") == 'Jane - "Bay 3" ... ok'
    assert sms_text("caf\u00e9 `x` \U0001f6a8") == "caf? 'x' ?"
    assert sms_text("a_b@c$d[e]") == "a_b@c$d[e]"
    assert len(sms_text("x" * 160)) == 160
    with pytest.raises(ValueError, match="one SMS holds 160"):
        sms_text("x" * 161)
    with pytest.raises(ValueError):
        sms_text("[" * 81)  # extension characters take two septets each


def test_send_sms_refuses_a_bad_number_without_echoing_it(modem: Modem) -> None:
    with pytest.raises(ValueError) as caught:
        modem.send_sms("+4477 0090; 0123", "x")
    assert "0090" not in str(caught.value)


def test_concurrent_sends_do_not_interleave(fake: FakeModem, modem: Modem) -> None:
    threads = [
        threading.Thread(target=modem.send_sms, args=(f"+4477009001{i:02d}", f"message {i}"))
        for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fake.sent) == [(f"+4477009001{i:02d}", f"message {i}") for i in range(6)]
    lines = fake.transcript
    for i, entry in enumerate(lines):
        if entry.line.startswith("AT+CMGS="):
            number = entry.line.split('"')[1]
            assert lines[i + 1 : i + 4] == [
                dce("> "),
                dte(f"message {int(number[-2:])}"),
                dte(CTRL_Z),
            ]
            assert lines[i + 4].line.startswith("+CMGS: ") and lines[i + 5] == dce("OK")


# -- unsolicited result codes --------------------------------------------------------------------


def test_urc_inside_a_response_is_kept_not_taken_for_the_response(
    fake: FakeModem, modem: Modem
) -> None:
    fake.deliver_sms(NUMBER, "ACK 42", during_next_command=True)
    assert modem.signal() == -73
    assert fake.transcript == [
        dte("AT+CSQ"),
        dce("+CSQ: 20,99"),
        dce('+CMTI: "SM",1'),
        dce("OK"),
    ]
    [sms] = modem.poll_incoming()
    assert (sms.index, sms.sender, sms.text) == (1, NUMBER, "ACK 42")


def test_urc_during_send_is_kept(fake: FakeModem, modem: Modem) -> None:
    fake.deliver_sms("+447700900999", "ACK 7", during_next_command=True)
    assert modem.send_sms(NUMBER, "alarm") == 1
    assert fake.transcript[-3:] == [dce("+CMGS: 1"), dce('+CMTI: "SM",1'), dce("OK")]
    assert [s.text for s in modem.poll_incoming()] == ["ACK 7"]


def test_urc_between_commands_is_kept(fake: FakeModem, modem: Modem) -> None:
    fake.power_cycle()  # RDY, +CPIN: READY, SMS DONE arrive unasked
    modem.command("ATE0")  # the reset modem echoes again: the echo is not an answer
    assert modem.take_unsolicited() == ["RDY", "+CPIN: READY", "SMS DONE"]
    assert modem.take_unsolicited() == []


# -- receiving ----------------------------------------------------------------------------------


def test_incoming_sms_is_announced_read_and_deleted(fake: FakeModem, modem: Modem) -> None:
    assert modem.poll_incoming() == []
    fake.deliver_sms(NUMBER, "ACK 42")
    [sms] = modem.poll_incoming(timeout=5.0)  # returns as soon as +CMTI arrives
    assert (sms.index, sms.status, sms.sender, sms.text) == (1, "REC UNREAD", NUMBER, "ACK 42")
    assert sms.sent_at == datetime(2024, 11, 25, 10, 0, tzinfo=UTC)
    assert sms.masked_sender == MASKED
    assert NUMBER not in repr(sms) and "ACK 42" not in repr(sms)
    modem.delete_sms(1)
    assert fake.inbox == {}
    assert fake.transcript == [
        dce('+CMTI: "SM",1'),
        dte("AT+CMGR=1"),
        dce(f'+CMGR: "REC UNREAD","{NUMBER}",,"24/11/25,10:00:00+00"'),
        dce("ACK 42"),
        dce("OK"),
        dte("AT+CMGD=1"),
        dce("OK"),
    ]
    assert modem.poll_incoming() == []


@pytest.mark.parametrize(
    "text",
    ["OK", "ERROR", "RING", '+CMTI: "SM",9', "+CMGR: x", "two\nlines", "gap\n\nhere", ""],
)
def test_message_text_that_looks_like_a_response_is_text(
    fake: FakeModem, modem: Modem, text: str
) -> None:
    index = fake.deliver_sms(NUMBER, text)
    sms = modem.read_sms(index)
    assert sms is not None and sms.text == text
    assert modem.take_unsolicited() == []
    assert [s.text for s in modem.poll_incoming()] == [text]  # only the real +CMTI


def test_list_sms_reads_every_message(fake: FakeModem, modem: Modem) -> None:
    fake.deliver_sms(NUMBER, "first")
    fake.deliver_sms("+447700900999", "OK")
    fake.deliver_sms(NUMBER, "")
    listed = modem.list_sms("ALL")
    assert [(s.index, s.sender, s.text) for s in listed] == [
        (1, NUMBER, "first"),
        (2, "+447700900999", "OK"),
        (3, NUMBER, ""),
    ]
    assert modem.list_sms() == []  # listing marked them read


def test_sweep_finds_messages_whose_announcement_was_missed(fake: FakeModem) -> None:
    clock = FakeClock()
    fake.deliver_sms(NUMBER, "before init")  # no AT+CNMI yet: stored, never announced
    with make_modem(fake, sweep_interval=60.0, clock=clock) as modem:
        modem.initialise()
        assert [s.text for s in modem.poll_incoming()] == ["before init"]  # first poll sweeps
        fake.close_line()
        fake.deliver_sms(NUMBER, "line was down")  # the +CMTI goes nowhere
        fake.reopen_line()
        modem.reopen()
        fake.clear_transcript()
        assert [s.text for s in modem.poll_incoming()] == []  # next sweep not due
        clock.advance(60.0)
        assert [s.text for s in modem.poll_incoming()] == ["before init", "line was down"]
        assert fake.commands() == ['AT+CMGL="ALL"']


def test_a_listening_gateway_leaves_the_line_free_for_an_alarm(
    fake: FakeModem, modem: Modem
) -> None:
    """poll_incoming waits for the line's bytes without holding the modem: an alarm's SMS sent
    meanwhile takes the modem at once. (Holding it through each read slice made a 200-character
    alarm SMS wait up to 1.4 s behind the hub's SMS gateway listening for replies.)"""
    polling = threading.Thread(target=modem.poll_incoming, kwargs={"timeout": 30.0}, daemon=True)
    polling.start()
    line = modem._lock  # noqa: SLF001 -- what is asserted is who holds the line, and when
    free = 0
    for _ in range(20):
        time.sleep(0.01)  # probes spaced through the poll's wait, not a timer being waited out
        if line.acquire(blocking=False):
            free += 1
            line.release()
    modem.send_sms(NUMBER, "alarm")  # and a send meanwhile goes through
    fake.deliver_sms(NUMBER, "reply")  # ends the poll
    polling.join(10)
    assert not polling.is_alive()
    assert free >= 15, f"the modem was free at only {free} of 20 probes while the gateway polled"
    assert fake.sent == [(NUMBER, "alarm")]


def test_unreadable_announced_slot_is_skipped(fake: FakeModem, modem: Modem) -> None:
    index = fake.deliver_sms(NUMBER, "gone")
    del fake.inbox[index]  # deleted by someone else before we read it
    assert modem.poll_incoming(timeout=5.0) == []
    assert modem.health == "ok"


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rssi", "dbm"), [(0, -113), (1, -111), (20, -73), (31, -51), (99, None)])
def test_signal_in_dbm(fake: FakeModem, modem: Modem, rssi: int, dbm: int | None) -> None:
    fake.rssi = rssi
    assert modem.signal() == dbm


def test_rssi_to_dbm_edges() -> None:
    assert rssi_to_dbm(100) == -116
    assert rssi_to_dbm(191) == -25
    assert rssi_to_dbm(199) is None
    assert rssi_to_dbm(32) is None


@pytest.mark.parametrize(
    ("stat", "registered"), [(0, False), (1, True), (2, False), (3, False), (4, False), (5, True)]
)
def test_registration(fake: FakeModem, modem: Modem, stat: int, registered: bool) -> None:
    fake.creg_stat = stat
    assert modem.registration() == (stat, registered)
    assert modem.take_unsolicited() == []  # "+CREG:" answered the command; it was no URC


def test_gnss_fix(fake: FakeModem, modem: Modem) -> None:
    assert modem.gnss_fix() is None  # ERROR: a modem without GNSS
    fake.gnss_info = NO_FIX_GNSS
    assert modem.gnss_fix() is None
    fake.gnss_info = SAMPLE_GNSS
    fix = modem.gnss_fix()
    assert fix is not None
    assert fix.latitude == pytest.approx(31 + 13.33065 / 60)
    assert fix.longitude == pytest.approx(121 + 21.262554 / 60)
    assert fix.altitude_m == pytest.approx(32.9)
    assert fix.utc == datetime(2017, 11, 13, 9, 19, 18, tzinfo=UTC)


def test_parse_gnss_south_west_and_extra_satellite_field() -> None:
    fix = parse_gnss("2,06,03,00,01,3113.3,S,12121.2,W,131117,091918.0,,0.0,,1.1,0.8,0.7")
    assert fix is not None
    assert fix.latitude < 0 and fix.longitude < 0 and fix.altitude_m is None


def test_set_functionality(fake: FakeModem, modem: Modem) -> None:
    modem.set_functionality(0)
    assert modem.signal() is None
    modem.set_functionality(1)
    assert modem.signal() == -73
    assert fake.commands() == ["AT+CFUN=0", "AT+CSQ", "AT+CFUN=1", "AT+CSQ"]


# -- errors, timeouts and recovery ----------------------------------------------------------------


def test_error_reply_names_the_command_and_not_the_number(
    fake: FakeModem, modem: Modem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("AT+CMGS", "+CMS ERROR: unknown error")
    with pytest.raises(ModemError) as caught:
        modem.send_sms(NUMBER, "secret alarm text")
    message = str(caught.value)
    assert message == f"AT+CMGS on {fake.path}: +CMS ERROR: unknown error"
    assert modem.health == "ok"  # the modem answered
    fake.hang()
    with pytest.raises(ModemTimeout) as timed_out:
        modem.send_sms(NUMBER, "secret alarm text")
    for exc in (caught.value, timed_out.value):
        assert "0090" not in str(exc) and "secret" not in str(exc)
    assert all("0090" not in r.getMessage() for r in caplog.records)
    assert all("secret" not in r.getMessage() for r in caplog.records)


def test_no_answer_after_the_text_times_out_after_sms_timeout(
    fake: FakeModem, modem: Modem
) -> None:
    modem.sms_timeout = 0.2
    fake.fail_next("AT+CMGS", "")
    with pytest.raises(ModemTimeout) as caught:
        modem.send_sms(NUMBER, "secret alarm text")
    assert str(caught.value) == f"AT+CMGS on {fake.path}: no final result code in time"
    assert fake.transcript[-2:] == [dte("secret alarm text"), dte(CTRL_Z)]
    assert modem.health == "failed"


def test_error_after_the_text_is_a_modem_error(fake: FakeModem, modem: Modem) -> None:
    modem.sms_timeout = 0.3
    fake.creg_stat = 0
    with pytest.raises(ModemError, match=r"AT\+CMGS on .*: \+CMS ERROR: no network service"):
        modem.send_sms(NUMBER, "alarm")
    assert fake.sent == []


def test_hung_modem_times_out_quickly(fake: FakeModem) -> None:
    with make_modem(fake, command_timeout=0.2) as modem:
        modem.initialise()
        fake.hang()
        started = time.monotonic()
        with pytest.raises(ModemTimeout, match=r"AT\+CSQ on .*: no final result code in time"):
            modem.signal()
        assert time.monotonic() - started < 1.0
        assert modem.health == "failed"


def test_recover_with_a_functionality_toggle(fake: FakeModem) -> None:
    with make_modem(fake, command_timeout=0.2, slow_timeout=0.2) as modem:
        modem.initialise()
        fake.hang(until="cfun")
        with pytest.raises(ModemTimeout):
            modem.signal()
        fake.clear_transcript()
        assert modem.recover() is True
        assert modem.health == "ok"
        probes = ["AT", "AT", "AT", "AT+CFUN=0", "AT+CFUN=1", "AT"]
        assert fake.commands() == [*probes, *INIT_COMMANDS]
        assert modem.signal() == -73


def test_recover_with_a_power_cycle(fake: FakeModem) -> None:
    with make_modem(
        fake, command_timeout=0.2, slow_timeout=0.2, power_cycle=fake.power_cycle
    ) as modem:
        modem.initialise()
        fake.hang(until="power")
        assert modem.recover() is True
        assert fake.power_cycles == 1
        assert modem.health == "ok"
        fake.deliver_sms(NUMBER, "after reboot")  # the re-initialised modem announces again
        assert [s.text for s in modem.poll_incoming(timeout=5.0)] == ["after reboot"]


def test_recover_gives_up_without_a_power_cycle_hook(fake: FakeModem) -> None:
    with make_modem(fake, command_timeout=0.1, slow_timeout=0.1) as modem:
        fake.hang(until="power")
        assert modem.recover() is False
        assert modem.health == "failed"
        fake.unhang()
        assert modem.recover() is True


def test_broken_line_is_a_modem_error_and_reopen_recovers(fake: FakeModem, modem: Modem) -> None:
    fake.close_line()
    with pytest.raises(ModemError, match=f"AT\\+CSQ on {fake.path}: serial line broken"):
        modem.signal()
    assert modem.health == "failed"
    with pytest.raises(ModemError, match=fake.path):
        modem.send_sms(NUMBER, "x")
    fake.reopen_line()
    modem.reopen()
    assert modem.signal() == -73


def test_recover_reopens_a_broken_line(fake: FakeModem, modem: Modem) -> None:
    fake.close_line()
    with pytest.raises(ModemError):
        modem.registration()
    fake.reopen_line()
    assert modem.recover() is True
    assert modem.registration() == (1, True)


def test_a_missing_port_does_not_stop_the_device(fake: FakeModem) -> None:
    with Modem(fake.path + "-absent", command_timeout=0.1) as modem:
        assert modem.health == "failed"
        with pytest.raises(ModemError, match="-absent: serial line not open"):
            modem.signal()
        assert modem.recover() is False


# -- pure helpers -------------------------------------------------------------------------------


def test_masking() -> None:
    assert mask_number(NUMBER) == MASKED
    assert mask_number("07700900123") == "077******123"
    assert mask_number("12345") == "***45"
    assert mask_numbers(f"to {NUMBER} and 447700900999, error 500") == (
        f"to {MASKED} and 447******999, error 500"
    )


def test_command_name_leaves_arguments_out() -> None:
    assert command_name(f'AT+CMGS="{NUMBER}"') == "AT+CMGS"
    assert command_name("ATE0") == "ATE0"
    assert command_name("AT+CREG?") == "AT+CREG"
    assert command_name("AT") == "AT"


def test_parse_fields_and_timestamps() -> None:
    assert parse_fields(f'"REC UNREAD","{NUMBER}",,"24/11/25,10:00:00+00"') == [
        "REC UNREAD",
        NUMBER,
        "",
        "24/11/25,10:00:00+00",
    ]
    assert parse_scts("24/11/25,10:00:00+04") == datetime.fromisoformat("2024-11-25T10:00:00+01:00")
    assert parse_scts("24/11/25,10:00:00-08") == datetime.fromisoformat("2024-11-25T10:00:00-02:00")
    assert parse_scts("garbage") is None


class ScriptedPort:
    """An in-memory port: each command written gets the scripted bytes back."""

    def __init__(self, replies: dict[bytes, bytes], unsolicited: bytes = b"") -> None:
        self.replies = replies
        self.pending = bytearray(unsolicited)
        self.written: list[bytes] = []
        self.timeout: float | None = None

    @property
    def port(self) -> str | None:
        return "scripted"

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def read(self, size: int = 1) -> bytes:
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def write(self, b: bytes, /) -> int | None:
        self.written.append(b)
        self.pending += self.replies.get(b, b"")
        return len(b)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_directly_delivered_sms_and_a_handed_in_port() -> None:
    cmt = f'\r\n+CMT: "{NUMBER}",,"24/11/25,10:00:00+00"\r\nRING\r\n'.encode()
    port = ScriptedPort({b"AT+CSQ\r": b"\r\n+CSQ: 31,99\r\n" + cmt + b"\r\nOK\r\n"})
    modem = Modem(port, sweep_interval=None)
    assert port.timeout is not None and port.timeout < 1
    assert modem.signal() == -51
    [sms] = modem.poll_incoming()
    assert (sms.index, sms.sender, sms.text) == (None, NUMBER, "RING")
    assert modem.take_unsolicited() == []
