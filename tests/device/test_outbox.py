from __future__ import annotations

import sqlite3
from pathlib import Path

from loneguard.device.outbox import Outbox
from loneguard.protocol.messages import Event, EventKind, new_event_id


def event(seq: int, kind: EventKind = EventKind.CHECKIN) -> Event:
    return Event(id=new_event_id(), kind=kind, ts=1_767_225_600_000 + seq, seq=seq)


def test_pending_keeps_order_and_ack_removes(tmp_path: Path) -> None:
    outbox = Outbox.in_folder(tmp_path)
    events = [event(outbox.next_seq()) for _ in range(5)]
    for e in events:
        outbox.add(e)
    assert outbox.pending() == events
    assert outbox.ack(events[2].id) is True
    assert outbox.ack(events[2].id) is False  # a repeated ack
    assert outbox.pending() == events[:2] + events[3:]
    assert outbox.count() == 4


def test_adding_the_same_event_twice_keeps_one(tmp_path: Path) -> None:
    outbox = Outbox.in_folder(tmp_path)
    e = event(outbox.next_seq())
    outbox.add(e)
    outbox.add(e)
    assert outbox.pending() == [e]


def test_everything_survives_reopening(tmp_path: Path) -> None:
    outbox = Outbox.in_folder(tmp_path)
    assert outbox.begin_boot() == 1
    first = [event(outbox.next_seq(), EventKind.PANIC), event(outbox.next_seq())]
    for e in first:
        outbox.add(e)
    outbox.ack(first[1].id)
    outbox.close()

    reopened = Outbox.in_folder(tmp_path)
    assert reopened.begin_boot() == 2
    assert reopened.pending() == first[:1]
    assert reopened.next_seq() == 2  # sequence numbers never repeat across restarts


def test_committed_events_are_visible_to_another_process_without_close(tmp_path: Path) -> None:
    # A killed process never closes its connection: what add() returned from must be on disk.
    outbox = Outbox.in_folder(tmp_path)
    e = event(outbox.next_seq())
    outbox.add(e)
    with sqlite3.connect(tmp_path / "outbox.sqlite3") as other:
        assert other.execute("SELECT id FROM pending").fetchall() == [(e.id,)]
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_full_outbox_drops_the_oldest_non_alarm_events_never_an_alarm(tmp_path: Path) -> None:
    outbox = Outbox.in_folder(tmp_path, max_events=3)
    panic = event(outbox.next_seq(), EventKind.PANIC)
    first, second = event(outbox.next_seq()), event(outbox.next_seq())
    for e in (panic, first, second):
        assert outbox.add(e) == []
    duress = event(outbox.next_seq(), EventKind.DURESS)
    assert outbox.add(duress) == [first.id]  # the oldest check-in goes, the panic stays
    assert outbox.pending() == [panic, second, duress]
    more = [event(outbox.next_seq(), EventKind.PANIC) for _ in range(3)]
    for e in more:
        outbox.add(e)
    # Only alarms left: the limit gives way rather than drop one.
    assert outbox.pending() == [panic, duress, *more]
    late = event(outbox.next_seq())
    assert outbox.add(late) == [late.id]
    assert outbox.count() == 5


def test_take_returns_the_event_and_state_and_sms_marks_persist(tmp_path: Path) -> None:
    outbox = Outbox.in_folder(tmp_path)
    e = event(outbox.next_seq(), EventKind.PANIC)
    outbox.add(e)
    outbox.mark_sms_sent(e.id)
    outbox.set_state("signed_in", 1)
    outbox.close()
    again = Outbox.in_folder(tmp_path)
    assert again.sms_sent(e.id) and again.is_pending(e.id)
    assert again.get_state("signed_in") == 1 and again.get_state("other", 7) == 7
    assert again.take(e.id) == e
    assert again.take(e.id) is None
    assert not again.sms_sent(e.id)


def test_the_app_passes_the_configured_limit(tmp_path: Path) -> None:
    from loneguard.device.config import parse_config

    config = parse_config(
        {"device": {"id": "unit-01", "data_dir": str(tmp_path)}, "outbox": {"max_events": 10}},
        env={},
    )
    assert config.outbox.max_events == 10
