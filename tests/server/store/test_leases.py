"""Leases on the store, on each database: one holder at a time, run out, renewed, let go."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import AlarmKind, AlarmState, OpenAlarm, SessionKind
from loneguard.server.store.postgres import PostgresStore
from loneguard.server.store.sqlite import SqlStore

LEASE_MS = 3000


def visit(store: SqlStore, clock: FakeClock, device_id: str = "d1") -> int:
    now = clock.wall_ms()
    plan = SessionPlan(SessionKind.VISIT, None, device_id, now, 60, 0, expected_end_ms=now + 1000)
    return store.start_session(plan, "test").result().id


def panic(store: SqlStore, clock: FakeClock, n: int) -> int:
    event = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=n)
    outcome = store.record_event(f"d{n}", event, clock.wall_ms(), [OpenAlarm(AlarmKind.PANIC)])
    return outcome.result().alarms[0].id


def test_a_deadline_is_claimed_only_when_due_and_by_one_hub(
    store: SqlStore, clock: FakeClock
) -> None:
    session_id = visit(store, clock)
    now = clock.wall_ms()
    assert store.claim_sessions("a", now, LEASE_MS).result() == []  # not due yet
    due = now + 1000
    assert store.claim_sessions("a", due, LEASE_MS, session_id=session_id).result() == [session_id]
    assert store.claim_sessions("b", due, LEASE_MS).result() == []  # a holds it
    assert store.claim_sessions("a", due, LEASE_MS, session_id=session_id).result() == [
        session_id
    ]  # its holder may claim it again (its own timer, or itself after a restart)
    # Renewals keep alarms, not deadlines: a handling that failed runs out like any other.
    assert store.renew_leases("a", due + LEASE_MS - 1, LEASE_MS).result() == []
    assert store.claim_sessions("b", due + LEASE_MS + 1, LEASE_MS).result() == [session_id]


def test_handling_a_deadline_lets_its_lease_go(store: SqlStore, clock: FakeClock) -> None:
    session_id = visit(store, clock)
    due = clock.wall_ms() + 1000
    assert store.claim_sessions("a", due, LEASE_MS).result() == [session_id]
    assert store.reach_session_deadline(session_id, due, lambda k, s: str(k)).result()
    session = store.session(session_id)
    assert session is not None and session.next_deadline_ms == due + 60_000  # grace running
    # The next deadline is anyone's once due, without waiting for the old lease to run out.
    assert store.claim_sessions("b", due + 60_000, LEASE_MS).result() == [session_id]


def test_an_alarm_stays_with_its_holder_while_renewed(store: SqlStore, clock: FakeClock) -> None:
    alarm_id = panic(store, clock, 1)
    now = clock.wall_ms()
    assert store.claim_alarms("a", now, LEASE_MS, alarm_id=alarm_id).result() == [alarm_id]
    for step in range(1, 4):  # a renews every second; b sweeps after each lease would end
        assert store.renew_leases("a", now + step * 1000, LEASE_MS).result() == []
        sweep_at = now + step * 1000 + LEASE_MS - 1
        assert store.claim_alarms("b", sweep_at, LEASE_MS, others_only=True).result() == []
    # a stops renewing (it died): b takes it once the last renewal runs out.
    ran_out = now + 3000 + LEASE_MS + 1
    assert store.claim_alarms("b", ran_out, LEASE_MS, others_only=True).result() == [alarm_id]


def test_renewal_lets_go_of_alarms_closed_on_another_hub(store: SqlStore, clock: FakeClock) -> None:
    alarm_id = panic(store, clock, 1)
    now = clock.wall_ms()
    store.claim_alarms("a", now, LEASE_MS, alarm_id=alarm_id).result()
    store.acknowledge_alarm(alarm_id, "Office", now, "api:b").result()
    assert store.renew_leases("a", now + 1000, LEASE_MS).result() == [alarm_id]
    assert store.renew_leases("a", now + 2000, LEASE_MS).result() == []
    alarm = store.alarm(alarm_id)
    assert alarm is not None and alarm.state == AlarmState.ACKNOWLEDGED
    assert store.claim_alarms("b", now + 10**6, LEASE_MS).result() == []  # closed: nobody's


def test_a_clean_stop_hands_everything_over(store: SqlStore, clock: FakeClock) -> None:
    alarm_ids = [panic(store, clock, n) for n in range(3)]
    now = clock.wall_ms()
    assert store.claim_alarms("a", now, LEASE_MS).result() == alarm_ids
    store.release_leases("a").result()
    assert store.claim_alarms("b", now, LEASE_MS, others_only=True).result() == alarm_ids


def test_hubs_sweeping_at_once_split_the_work(pg_url: str, clock: FakeClock) -> None:
    stores = [PostgresStore(pg_url, now_ms=clock.wall_ms) for _ in range(4)]
    try:
        alarm_ids = [panic(stores[0], clock, n) for n in range(200)]
        now = clock.wall_ms()

        def sweep(i: int) -> list[int]:
            taken: list[int] = []
            while (
                batch := stores[i].claim_alarms(f"hub{i}", now, LEASE_MS, others_only=True).result()
            ):
                taken += batch
            return taken

        with ThreadPoolExecutor(4) as pool:
            taken = list(pool.map(sweep, range(4)))
        everything = sorted(a for t in taken for a in t)
        print(f"\n200 open alarms swept by 4 hubs at once: {[len(t) for t in taken]}")
        assert everything == alarm_ids  # every alarm claimed, none by two hubs
    finally:
        for s in stores:
            s.close()
