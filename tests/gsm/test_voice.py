"""Voice calls against the fake modem on a pty, as the SIM7600 and the A7670E answer them."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from loneguard.gsm.at import Response
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.fake_voice import MODELS, Model
from loneguard.gsm.modem import Modem
from loneguard.gsm.voice import MAX_SPEECH, CallOutcome, CallResult, VoiceCalls
from loneguard.protocol.clock import FakeClock

NUMBER = "+447700900101"


def say(keys_readable: bool) -> str:
    then = "Press 1 to take charge." if keys_readable else "Reply ACK 12 by text."
    return f"Alarm 12: Ana Lopez is overdue. {then}"


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> Model:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def fake(model: Model) -> Iterator[FakeModem]:
    with FakeModem(model=model) as fake:
        yield fake


@pytest.fixture
def modem(fake: FakeModem) -> Iterator[Modem]:
    with Modem(fake.path, command_timeout=2.0, sweep_interval=None) as modem:
        modem.initialise()
        yield modem


def ring_in_thread(
    calls: VoiceCalls, number: str = NUMBER
) -> tuple[threading.Thread, list[CallResult]]:
    results: list[CallResult] = []

    def run() -> None:
        results.append(calls.ring(number, say, ring_time=45, listen_time=30))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, results


def advance_until_done(clock: FakeClock, thread: threading.Thread, limit: int = 120) -> int:
    """Move the clock a second at a time until the call returns; the seconds it took."""
    for second in range(1, limit + 1):
        clock.advance(1)
        thread.join(0.05)
        if not thread.is_alive():
            return second
    raise AssertionError(f"the call still runs after {limit} s")


def test_answered_spoken_and_1_pressed_takes_charge(fake: FakeModem, modem: Modem) -> None:
    fake.voice.callee(NUMBER, answers=True, keys="1")
    calls = VoiceCalls(modem, clock=FakeClock(), poll_interval=0.01)
    result = calls.ring(NUMBER, say, ring_time=45, listen_time=30)
    call = fake.voice.calls[-1]
    assert call.number == NUMBER and call.hung_up
    assert call.speech_path == "remote"
    if fake.voice.model == "SIM7600":
        assert result.outcome == CallOutcome.TOOK_CHARGE
        assert result.keys == "1" and result.keys_readable
        assert call.spoken == ["Alarm 12: Ana Lopez is overdue. Press 1 to take charge."]
    else:  # the A76XX manual has no DTMF detection: the call says how else to take charge
        assert result.outcome == CallOutcome.ANSWERED and not result.keys_readable
        assert call.spoken == ["Alarm 12: Ana Lopez is overdue. Reply ACK 12 by text."]
    assert result.spoken
    commands = fake.commands()
    dial = commands.index(f"ATD{NUMBER};")
    assert commands.index("AT+DDET=1") < dial < commands.index("AT+CDTAM=1")
    assert commands[-1] == "AT+CHUP"


def test_no_answer_hangs_up_when_the_ring_time_passes(fake: FakeModem, modem: Modem) -> None:
    clock = FakeClock()
    calls = VoiceCalls(modem, clock=clock, poll_interval=0.01)
    thread, results = ring_in_thread(calls)
    assert fake.wait_for_command(f"ATD{NUMBER};")
    assert fake.wait_for_command("AT+CLCC")  # it follows the call while it rings
    assert results == [] and calls.in_call
    clock.advance(44)
    thread.join(0.3)
    assert thread.is_alive(), "hung up before the ring time"
    clock.advance(1)
    thread.join(5)
    assert results[0].outcome == CallOutcome.NO_ANSWER
    assert results[0].detail == "rang 45 s, no answer"
    assert fake.commands()[-1] == "AT+CHUP" and fake.voice.calls[-1].hung_up
    assert fake.voice.calls[-1].spoken == []


def test_busy(fake: FakeModem, modem: Modem) -> None:
    fake.voice.callee(NUMBER, busy=True)
    result = VoiceCalls(modem, clock=FakeClock(), poll_interval=0.01).ring(
        NUMBER, say, ring_time=45, listen_time=30
    )
    # SIM7600 reports BUSY; the A76XX manual lists only NO CARRIER for a call that fails.
    expected = CallOutcome.BUSY if fake.voice.model == "SIM7600" else CallOutcome.FAILED
    assert result.outcome == expected


def test_answered_without_a_key_is_answered_and_hung_up_after_listening(
    fake: FakeModem, modem: Modem
) -> None:
    fake.voice.callee(NUMBER, answers=True, keys="9")
    clock = FakeClock()
    calls = VoiceCalls(modem, clock=clock, poll_interval=0.01)
    thread, results = ring_in_thread(calls)
    assert fake.wait_for_command("AT+CTTS=2,")
    waited = advance_until_done(clock, thread)
    assert results[0].outcome == CallOutcome.ANSWERED
    if fake.voice.model == "SIM7600":
        assert waited >= 30  # it listened for a key for listen_time
        assert results[0].keys == "9" and results[0].detail == "answered, no key pressed"
    assert fake.voice.calls[-1].hung_up


def test_sms_goes_out_while_a_call_rings(fake: FakeModem, modem: Modem) -> None:
    clock = FakeClock()
    calls = VoiceCalls(modem, clock=clock, poll_interval=0.01)
    thread, results = ring_in_thread(calls)
    assert fake.wait_for_command(f"ATD{NUMBER};")
    assert modem.send_sms("+447700900999", "loneguard alarm 12") >= 0
    assert fake.sent == [("+447700900999", "loneguard alarm 12")]
    assert results == []
    assert fake.wait_for_command("AT+CLCC")
    clock.advance(45)
    thread.join(5)
    assert results[0].outcome == CallOutcome.NO_ANSWER


def test_one_call_at_a_time(fake: FakeModem, modem: Modem) -> None:
    clock = FakeClock()
    calls = VoiceCalls(modem, clock=clock, poll_interval=0.01)
    thread, _ = ring_in_thread(calls)
    assert fake.wait_for_command(f"ATD{NUMBER};")
    with pytest.raises(RuntimeError, match="already under way"):
        calls.ring("+447700900202", say, ring_time=45, listen_time=30)
    assert fake.wait_for_command("AT+CLCC")
    clock.advance(45)
    thread.join(5)
    assert not thread.is_alive()
    assert [c.number for c in fake.voice.calls] == [NUMBER]


def test_a_bad_number_is_refused_before_dialling(fake: FakeModem, modem: Modem) -> None:
    calls = VoiceCalls(modem, clock=FakeClock())
    with pytest.raises(ValueError, match="3-20 digits"):
        calls.ring("07700 900101;ATH", say, ring_time=45, listen_time=30)
    assert not any(c.startswith("ATD") for c in fake.commands())


def test_speech_is_plain_ascii_without_quotes_and_bounded(fake: FakeModem, modem: Modem) -> None:
    fake.voice.callee(NUMBER, answers=True, keys="1")
    long_text = "“Quoted” — " + "word " * 200
    VoiceCalls(modem, clock=FakeClock(), poll_interval=0.01).ring(
        NUMBER, lambda _: long_text, ring_time=45, listen_time=30
    )
    spoken = fake.voice.calls[-1].spoken[0]
    assert spoken.startswith("'Quoted' - word") and '"' not in spoken
    assert len(spoken) <= MAX_SPEECH and spoken.endswith("...")


def test_no_carrier_during_another_command_is_not_its_result() -> None:
    """The network ending a call while AT+CMGS waits must not fail the SMS."""
    response = Response(echo='AT+CMGS="+447700900123"', expect="+CMGS:")
    assert not response.feed("NO CARRIER")
    assert response.feed("+CMGS: 7") is False and response.feed("OK")
    assert response.final == "OK" and response.urcs == ["NO CARRIER"]
    dial = Response(echo="ATD+447700900123;")
    assert dial.feed("NO CARRIER") and dial.final == "NO CARRIER"
    assert Response(echo="ATD07700900123;").feed("BUSY")
