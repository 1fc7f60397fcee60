"""The ARC link's rows on SQLite and PostgreSQL: a message is stored once per key with a
sequence number it keeps, numbers run 1..9999 and wrap to 1, a worker's zone is allocated once,
a round of attempts is recorded, a claimed message is nobody else's, and two hubs on one
PostgreSQL never share a sequence number nor send one supervision test twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.server.store import Worker
from loneguard.server.store.arc_records import (
    ArcAttemptRecord,
    ArcMessageState,
    NewArcMessage,
)
from loneguard.server.store.postgres import PostgresStore
from loneguard.server.store.sqlite import SqliteStore, SqlStore
from tests.server.arc.link_helpers import open_alarm as alarm_opening

LEASE_MS = 60_000


def open_alarm(store: SqlStore, now_ms: int) -> int:
    return store.write(alarm_opening(now_ms, worker_id="w1")).result(timeout=10)


def panic(alarm_id: int, worker_id: str | None = "w1") -> NewArcMessage:
    return NewArcMessage(
        key=f"alarm:{alarm_id}:open",
        alarm_id=alarm_id,
        qualifier=1,
        code=120,
        partition=1,
        account="1234",
        occurred_ms=1_000,
        worker_id=worker_id,
        latitude=51.5,
        longitude=-0.12,
    )


def test_a_key_is_stored_once_and_keeps_its_sequence(store: SqlStore, clock: FakeClock) -> None:
    alarm_id = open_alarm(store, clock.wall_ms())
    first, new = store.add_arc_message(panic(alarm_id), clock.wall_ms()).result(timeout=10)
    again, new_again = store.add_arc_message(panic(alarm_id), clock.wall_ms()).result(timeout=10)
    assert (new, new_again) == (True, False)
    assert again == first
    assert first.sequence == 1
    assert first.state == ArcMessageState.PENDING
    assert (first.latitude, first.longitude) == (51.5, -0.12)
    assert store.arc_message(f"alarm:{alarm_id}:open") == first


def test_sequence_numbers_wrap_from_9999_to_1(store: SqlStore, clock: FakeClock) -> None:
    store.write(
        lambda conn: conn.execute("UPDATE arc_counters SET value = 9998 WHERE name = 'sequence'")
    ).result(timeout=10)
    numbers = []
    for n in range(3):
        message, _ = store.add_arc_message(
            NewArcMessage(f"test:{n}", None, 1, 602, 1, "1234", 0), clock.wall_ms()
        ).result(timeout=10)
        numbers.append(message.sequence)
    assert numbers == [9999, 1, 2]


def test_a_workers_zone_is_allocated_once_and_stays(store: SqlStore, clock: FakeClock) -> None:
    zones = []
    for worker in ("w1", "w2", "w1"):
        alarm_id = open_alarm(store, clock.wall_ms())
        message, _ = store.add_arc_message(panic(alarm_id, worker), clock.wall_ms()).result(
            timeout=10
        )
        zones.append(message.zone)
    assert zones == [1, 2, 1]
    assert store.arc_zone("w3", clock.wall_ms()).result(timeout=10) == 3
    assert store.arc_zone("w2", clock.wall_ms()).result(timeout=10) == 2
    assert [(z.worker_id, z.zone) for z in store.arc_zones()] == [("w1", 1), ("w2", 2), ("w3", 3)]


def test_a_round_is_recorded_and_the_message_let_go(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    message, _ = store.add_arc_message(panic(open_alarm(store, now)), now).result(timeout=10)
    claimed = store.claim_arc_message("hub-a", now, LEASE_MS).result(timeout=10)
    assert claimed is not None and claimed.id == message.id
    # Claimed: another hub cannot have it, the holder can (after a restart, say).
    assert store.claim_arc_message("hub-b", now, LEASE_MS).result(timeout=10) is None
    attempts = [
        ArcAttemptRecord("primary", "timeout", "no answer in 10 s", now, now + 10_000),
        ArcAttemptRecord("backup", "nak", "NAK", now + 10_000, now + 10_100),
    ]
    for attempt in attempts:
        store.record_arc_attempt(message.id, attempt)
    failed = store.record_arc_round(message.id, None, now + 5_000, now).result(10)
    assert (failed.state, failed.attempts, failed.next_attempt_ms) == (
        ArcMessageState.PENDING,
        2,
        now + 5_000,
    )
    assert failed.last_result == "backup: nak NAK"
    # Not due yet, then due again for anyone (the lease went with the round).
    assert store.claim_arc_message("hub-b", now, LEASE_MS).result(timeout=10) is None
    assert store.arc_next_due_ms() == now + 5_000
    again = store.claim_arc_message("hub-b", now + 5_000, LEASE_MS).result(timeout=10)
    assert again is not None and again.sequence == message.sequence
    ack = [ArcAttemptRecord("primary", "ack", "", now + 5_000, now + 5_050)]
    store.record_arc_attempt(message.id, ack[0])
    acked = store.record_arc_round(message.id, "primary", None, now + 5_050).result(10)
    assert (acked.state, acked.receiver, acked.acked_ms, acked.attempts) == (
        ArcMessageState.ACKED,
        "primary",
        now + 5_050,
        3,
    )
    assert [a.outcome for a in store.arc_attempts(message.id)] == ["timeout", "nak", "ack"]
    assert store.arc_messages(ArcMessageState.PENDING) == []


def test_alarms_are_claimed_before_tests(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    store.add_arc_message(NewArcMessage("test:1", None, 1, 602, 1, "1234", now), now).result(10)
    alarm, _ = store.add_arc_message(panic(open_alarm(store, now)), now).result(timeout=10)
    assert store.arc_pending_alarm_count() == 1  # the test is pending too, but not an alarm
    claimed = store.claim_arc_message("hub-a", now, LEASE_MS).result(timeout=10)
    assert claimed is not None and claimed.id == alarm.id


def test_a_failed_test_is_not_pending(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    test, _ = store.add_arc_message(
        NewArcMessage("test:1", None, 1, 602, 1, "1234", now), now
    ).result(timeout=10)
    store.record_arc_round(test.id, None, None, now).result(timeout=10)
    assert store.arc_messages(ArcMessageState.FAILED)[0].id == test.id
    assert store.arc_next_due_ms() is None


def test_one_hub_claims_each_supervision_test(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    assert store.claim_arc_test(now, 600_000).result(timeout=10) == (True, now + 600_000)
    assert store.claim_arc_test(now + 1, 600_000).result(timeout=10) == (False, now + 600_000)
    later = now + 600_000
    assert store.claim_arc_test(later, 600_000).result(timeout=10) == (True, later + 600_000)


def test_workers_are_not_needed_for_zones(store: SqlStore, clock: FakeClock) -> None:
    # A zone is kept for a worker id even when the worker's record is gone (the ARC's sheet
    # keeps the number; it is never given to anyone else).
    store.save_worker(Worker("w9", "Someone")).result(timeout=10)
    assert store.arc_zone("w9", clock.wall_ms()).result(timeout=10) == 1


def test_two_hubs_never_share_a_sequence_number(pg_url: str) -> None:
    hubs = [PostgresStore(pg_url, now_ms=lambda: 1) for _ in range(2)]
    try:

        def add(n: int) -> tuple[int, str]:
            store = hubs[n % 2]
            # Every key twice, once on each hub, at the same time.
            message, _ = store.add_arc_message(
                NewArcMessage(f"test:{n // 2}", None, 1, 602, 1, "1234", 0), n
            ).result(timeout=30)
            return message.sequence, message.key

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(add, range(200)))
        by_key: dict[str, set[int]] = {}
        for sequence, key in results:
            by_key.setdefault(key, set()).add(sequence)
        assert all(len(numbers) == 1 for numbers in by_key.values())  # both hubs saw one row
        assert sorted(n for numbers in by_key.values() for n in numbers) == list(range(1, 101))
    finally:
        for hub in hubs:
            hub.close()


def test_two_hubs_send_each_test_once(pg_url: str) -> None:
    hubs = 2
    stores = [PostgresStore(pg_url, now_ms=lambda: 1) for _ in range(hubs)]
    try:
        with ThreadPoolExecutor(8) as pool:
            wins = list(
                pool.map(
                    lambda n: stores[n % hubs].claim_arc_test(1_000, 600_000).result(timeout=30),
                    range(20),
                )
            )
        assert [won for won, _ in wins].count(True) == 1
    finally:
        for store in stores:
            store.close()


def test_numbers_go_on_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    first, _ = store.add_arc_message(NewArcMessage("test:1", None, 1, 602, 1, "1234", 0), 0).result(
        timeout=10
    )
    store.close()
    store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    try:
        kept = store.arc_message("test:1")
        second, _ = store.add_arc_message(
            NewArcMessage("test:2", None, 1, 602, 1, "1234", 0), 0
        ).result(timeout=10)
    finally:
        store.close()
    assert kept == first
    assert (first.sequence, second.sequence) == (1, 2)


def test_a_dead_hubs_claim_runs_out_and_another_sends(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    message, _ = store.add_arc_message(panic(open_alarm(store, now)), now).result(timeout=10)
    assert store.claim_arc_message("hub-a", now, LEASE_MS).result(timeout=10) is not None
    # hub-a is killed mid-send: it never records the round.
    during = store.claim_arc_message("hub-b", now + LEASE_MS, LEASE_MS).result(timeout=10)
    after = store.claim_arc_message("hub-b", now + LEASE_MS + 1, LEASE_MS).result(timeout=10)
    assert during is None
    assert after is not None and after.sequence == message.sequence


def test_each_attempt_renews_the_senders_claim(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    message, _ = store.add_arc_message(panic(open_alarm(store, now)), now).result(timeout=10)
    store.claim_arc_message("hub-a", now, LEASE_MS).result(timeout=10)
    later = now + LEASE_MS - 1
    tried = ArcAttemptRecord("primary", "timeout", "no answer in 10 s", now, later)
    store.record_arc_attempt(message.id, tried, later + LEASE_MS).result(timeout=10)
    assert store.claim_arc_message("hub-b", later + LEASE_MS, LEASE_MS).result(10) is None
    taken = store.claim_arc_message("hub-b", later + LEASE_MS + 1, LEASE_MS).result(10)
    assert taken is not None and taken.attempts == 1
