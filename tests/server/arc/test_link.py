"""The ARC link's own logic, on the fake clock and a real SQLite store, with a transmitter that
answers as scripted: stored before sent, once per key; a failed round tried again on the clock
with the same sequence number, alarms before tests; the state and its listeners; supervision
tests on schedule; pending messages resumed at start. Each sent frame is read back by
pysiaalarm's parser, as an ARC would read it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from pysiaalarm import SIAAccount, SIAEvent

from loneguard.protocol.clock import FakeClock
from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.arc.events import ArcAlarmEvent, ArcEventKind, ArcLinkState
from loneguard.server.arc.link import ArcLink
from loneguard.server.store import AlarmKind
from loneguard.server.store.arc_records import ArcMessage, ArcMessageState, NewArcMessage
from loneguard.server.store.sqlite import SqliteStore
from tests.server.arc.link_helpers import alarm_event, until
from tests.server.arc.link_helpers import open_alarm as alarm_opening
from tests.server.arc.scripted_transmitter import ScriptedTransmitter

KEY_TEXT = "0123456789abcdef"  # as pysiaalarm takes a key: its characters' codes are the bytes
KEY = ArcKey.from_characters(KEY_TEXT)
SETTINGS = ArcSettings.model_validate(
    {
        "primary": "127.0.0.1:5001",
        "backup": "127.0.0.1:5002",
        "account": "12AB",
        "supervision_interval": "0s",
    }
)


def read(frame: bytes) -> SIAEvent:
    """The frame as pysiaalarm's receiver parses it (the key it was encrypted with)."""
    account = SIAAccount("12AB", KEY_TEXT, allowed_timeband=None)
    return SIAEvent.from_line(frame.decode("ascii").strip(), accounts={"12AB": account})


def open_alarm(store: SqliteStore, kind: AlarmKind = AlarmKind.PANIC) -> int:
    return store.write(alarm_opening(1, kind)).result(timeout=10)


def event(alarm_id: int, kind: str = "panic", which: ArcEventKind = "open") -> ArcAlarmEvent:
    return alarm_event(alarm_id, kind, which)


Scenario = Callable[[SqliteStore, FakeClock, ScriptedTransmitter], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, script: list[str] | None = None) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
        try:
            await scenario(store, clock, ScriptedTransmitter(clock, KEY, list(script or [])))
        finally:
            store.close()

    asyncio.run(main())


def link_for(
    store: SqliteStore,
    clock: FakeClock,
    transmitter: ScriptedTransmitter,
    **settings: Any,
) -> ArcLink:
    return ArcLink(
        store,
        clock,
        SETTINGS.model_copy(update=settings),
        transmitter,
        owner="hub-a",
        encrypted=True,
    )


def test_an_alarm_is_stored_sent_and_acked_once(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        await link.start()
        alarm_id = open_alarm(store)
        result = await link.deliver(event(alarm_id))
        assert result.ok, result.detail
        again = await link.deliver(event(alarm_id))  # a redelivery (a restart, another step)
        assert again.ok
        assert len(tx.sent) == 1
        _, frame = tx.sent[0]
        seen = read(frame)
        assert (seen.account, seen.code, seen.ri, seen.sequence) == ("12AB", "PA", "001", "0001")
        assert seen.encrypted and seen.valid_message
        message = store.arc_message(f"alarm:{alarm_id}:open")
        assert message is not None and message.state == ArcMessageState.ACKED
        assert [a.outcome for a in store.arc_attempts(message.id)] == ["ack"]
        assert link.state().up and link.state().last_ack_receiver == "primary"
        await link.stop()

    run(tmp_path, scenario)


def test_a_failed_round_is_retried_on_the_clock_with_its_sequence(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        states: list[ArcLinkState] = []
        link.add_listener(states.append)
        await link.start()
        alarm_id = open_alarm(store)
        result = await link.deliver(event(alarm_id, "duress"))
        assert not result.ok and not result.retryable  # the link retries, not the dispatcher
        assert "the link keeps sending it" in result.detail
        assert not link.state().up and link.state().failures == 2
        assert link.state().pending == 1
        clock.advance(4.9)
        await asyncio.sleep(0.05)
        assert len(tx.sent) == 1  # not before its 5 s
        clock.advance(0.1)
        await until(lambda: len(tx.sent) == 2)  # second round: fails again (scripted)
        await until(lambda: len(tx.sent) == 2 and link.state().failures == 4)
        clock.advance(10)  # the third round after 10 s: acked
        await until(lambda: link.state().up)
        assert [s for s, _ in tx.sent] == [1, 1, 1]
        assert {read(f).code for _, f in tx.sent} == {"HA"}  # 121 duress, as pysiaalarm names it
        message = store.arc_message(f"alarm:{alarm_id}:open")
        assert message is not None and message.state == ArcMessageState.ACKED
        assert message.attempts == 5
        assert link.state().pending == 0 and link.state().failures == 0
        ups = [s.up for s in states]
        changes = [up for i, up in enumerate(ups) if i == 0 or ups[i - 1] != up]
        assert changes[-2:] == [False, True]  # the console heard it go down, then up
        await link.stop()

    run(tmp_path, scenario, ["down", "down"])


def test_pending_messages_go_at_start_with_their_sequence(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        first = link_for(store, clock, tx)
        await first.start()
        alarm_id = open_alarm(store)
        first.enqueue(event(alarm_id))
        await until(lambda: len(tx.sent) == 1)  # held on the wire: the ARC never answers
        await first.stop(wait_s=0)  # the round is cut off: the message stays pending
        stored = store.arc_message(f"alarm:{alarm_id}:open")
        assert stored is not None and stored.state == ArcMessageState.PENDING
        restarted = ScriptedTransmitter(clock, KEY)
        second = link_for(store, clock, restarted)
        await second.start()
        await until(lambda: len(restarted.sent) == 1)
        assert restarted.sent[0][0] == stored.sequence
        await until(lambda: second.state().pending == 0)
        await second.stop()

    run(tmp_path, scenario, ["hold"])


def test_alarms_go_before_tests_and_a_failed_test_is_not_retried(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx, supervision_interval=600.0)
        await link.start()  # the first test goes at once: its round fails
        await until(lambda: len(tx.sent) == 1 and not link.state().up)
        assert read(tx.sent[0][1]).code == "RP"  # 602, the periodic test
        assert link.state().pending == 0  # a test is not an alarm pending
        tests = store.arc_messages(ArcMessageState.FAILED)
        assert [m.code for m in tests] == [602]
        clock.advance(60)
        await asyncio.sleep(0.05)
        assert len(tx.sent) == 1  # not retried
        assert link.state().next_test_ms == clock.wall_ms() + 540_000
        alarm_id = open_alarm(store)
        link.enqueue(event(alarm_id))
        await until(lambda: len(tx.sent) == 2)
        clock.advance(540)  # the next test, acked: the link is up again
        await until(lambda: len(tx.sent) == 3 and link.state().up)
        assert [read(f).code for _, f in tx.sent] == ["RP", "PA", "RP"]
        await link.stop()

    run(tmp_path, scenario, ["down", "ack", "ack"])


def test_supervision_tests_go_every_interval(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx, supervision_interval=300.0)
        await link.start()
        await until(lambda: len(tx.sent) == 1)
        for n in range(2, 5):
            clock.advance(299)
            await asyncio.sleep(0.05)
            assert len(tx.sent) == n - 1
            clock.advance(1)
            await until(lambda n=n: len(tx.sent) == n)  # type: ignore[misc]
        assert [s for s, _ in tx.sent] == [1, 2, 3, 4]
        assert link.state().up
        await link.stop()

    run(tmp_path, scenario)


def test_without_a_primary_nothing_is_stored_or_sent(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = ArcLink(store, clock, ArcSettings(), tx, owner="hub-a")
        await link.start()
        assert not link.configured and not link.state().configured
        result = await link.deliver(event(open_alarm(store)))
        assert not result.ok and "no ARC configured" in result.detail
        assert store.arc_messages() == [] and tx.sent == []
        await link.stop()

    run(tmp_path, scenario)


@pytest.mark.parametrize(("kind", "code"), [("overdue", "102"), ("device_offline", "381")])
def test_restorals_carry_the_restore_qualifier(tmp_path: Path, kind: str, code: str) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        await link.start()
        alarm_id = open_alarm(store)
        assert (await link.deliver(event(alarm_id, kind))).ok
        link.enqueue(event(alarm_id, kind, "restore"))
        await until(lambda: len(tx.sent) == 2)
        opened, restored = (read(f) for _, f in tx.sent)
        assert [(e.event_qualifier, e.event_type, e.sequence) for e in (opened, restored)] == [
            ("1", code, "0001"),
            ("3", code, "0002"),
        ]
        await link.stop()

    run(tmp_path, scenario)


def test_a_fault_in_a_round_is_recorded_and_the_round_retried(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        await link.start()
        alarm_id = open_alarm(store)
        result = await link.deliver(event(alarm_id))  # raises nothing to the dispatcher
        assert not result.ok and "RuntimeError" in result.detail
        message = store.arc_message(f"alarm:{alarm_id}:open")
        assert message is not None and message.state == ArcMessageState.PENDING
        assert [(a.outcome, a.detail) for a in store.arc_attempts(message.id)] == [
            ("error", "RuntimeError")  # its name only: the message could hold anything
        ]
        clock.advance(5)
        await until(lambda: link.state().up and len(tx.sent) == 2)
        await link.stop()

    run(tmp_path, scenario, ["crash"])


def test_a_restoral_the_store_cannot_take_yet_is_stored_later(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        await link.start()
        alarm_id = open_alarm(store)
        real_add = store.add_arc_message
        refused: list[str] = []

        def database_away(new: NewArcMessage, at_ms: int) -> Future[tuple[ArcMessage, bool]]:
            # The first write fails as a PostgreSQL restart would fail it.
            if not refused:
                refused.append(new.key)
                failed: Future[tuple[ArcMessage, bool]] = Future()
                failed.set_exception(OSError("the database is restarting"))
                return failed
            return real_add(new, at_ms)

        store.add_arc_message = database_away  # type: ignore[method-assign]
        link.enqueue(event(alarm_id, which="restore"))
        await until(lambda: bool(refused))
        await asyncio.sleep(0.05)
        assert store.arc_messages() == []
        clock.advance(5)  # the link asks the store again
        await until(lambda: len(tx.sent) == 1)
        assert read(tx.sent[0][1]).event_qualifier == "3"
        await link.stop()

    run(tmp_path, scenario)


def test_a_restoral_never_reaches_the_arc_before_the_alarm_it_restores(tmp_path: Path) -> None:
    """The panic's first round fails; it is resolved before its retry: the restoral, due at
    once, waits, and the ARC gets the panic first, then its restoral (a restoral first would
    leave the ARC with a live panic that is long over)."""

    async def scenario(store: SqliteStore, clock: FakeClock, tx: ScriptedTransmitter) -> None:
        link = link_for(store, clock, tx)
        await link.start()
        alarm_id = open_alarm(store)
        result = await link.deliver(event(alarm_id))
        assert not result.ok  # its retry is 5 s away
        link.enqueue(event(alarm_id, which="restore"))
        await until(lambda: store.arc_message(f"alarm:{alarm_id}:restore") is not None)
        await asyncio.sleep(0.1)  # time for the pump, were it to send the restoral now
        assert len(tx.sent) == 1
        clock.advance(5)
        await until(lambda: len(tx.sent) == 3)
        assert [read(f).code for _, f in tx.sent] == ["PA", "PA", "PH"]
        await until(lambda: link.state().pending == 0)
        await link.stop()

    run(tmp_path, scenario, ["down"])
