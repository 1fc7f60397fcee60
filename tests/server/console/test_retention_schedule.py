"""The hub purges old visit details on its own schedule: at start, then hourly (fake clock)."""

from __future__ import annotations

from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.sessions import rules
from loneguard.server.store import SessionKind, Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.server.test_hub import wait_until

ADDRESS = "12 Private Lane"
HOUR_S = 3600
DAY_S = 24 * HOUR_S


def ended_visit(store: SqliteStore, clock: FakeClock) -> int:
    now = clock.wall_ms()
    plan = rules.SessionPlan(
        SessionKind.VISIT, "w1", "d1", now, 60, 0, now + 60_000,
        address=ADDRESS, contact_phone="+447700900777", accompanied=True,
    )  # fmt: skip
    session = store.start_session(plan, "test").result()
    store.change_session(session.id, lambda s: rules.end(s, now, "t"), now, "t", "end").result()
    return session.id


def address_of(store: SqliteStore, session_id: int) -> str | None:
    session = store.session(session_id)
    assert session is not None
    return session.address


def test_the_hub_purges_at_start_and_then_every_hour_without_anyone_opening_the_board(
    mosquitto: Mosquitto, tmp_path: Path, clock: FakeClock
) -> None:
    settings = tmp_path / "hub.toml"
    settings.write_text("[console]\nvisit_retention_days = 30\n")
    config = load_config(
        settings,
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        },
    )
    store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
    try:
        store.save_worker(Worker("w1", "Wendy Worker")).result()
        first = ended_visit(store, clock)
        clock.advance(HOUR_S)
        second = ended_visit(store, clock)
        clock.advance(30 * DAY_S - HOUR_S // 2)  # the first ended 30 days 30 minutes ago
        with HubThread(config, clock, store):
            wait_until(lambda: address_of(store, first) is None)  # purged as the hub starts
            assert address_of(store, second) == ADDRESS  # 29 days 23 h 30 min: kept for now
            clock.advance(HOUR_S)  # the hourly run, on the hub's clock
            wait_until(lambda: address_of(store, second) is None)
        purges = [e for e in store.audit(limit=50) if e.action == "visit.purge"]
        assert [(e.actor, e.detail) for e in purges] == [("hub", {"sessions": 1})] * 2
    finally:
        store.close()
