"""Heartbeats held in memory: a flush the store refuses is kept for the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Heartbeat
from loneguard.server.ingest.heartbeats import HeartbeatBook
from loneguard.server.store import LastHeard
from loneguard.server.store.sqlite import SqliteStore


class RefusesOnce(SqliteStore):
    """A real store whose first batch of last-seen fails, as a full disk would."""

    refused = False

    def record_last_seen(self, heard: Sequence[LastHeard]) -> Future[None]:
        if not self.refused:
            self.refused = True
            failed: Future[None] = Future()
            failed.set_exception(OSError("disk full"))
            return failed
        return super().record_last_seen(heard)


Scenario = Callable[[FakeClock, SqliteStore, HeartbeatBook], Awaitable[None]]


def with_book(
    tmp_path: Path, scenario: Scenario, store_type: type[SqliteStore] = SqliteStore
) -> None:
    async def main() -> None:
        clock = FakeClock()
        store = store_type(tmp_path / "hub.db", now_ms=clock.wall_ms)
        try:
            await scenario(clock, store, HeartbeatBook(store, clock))
        finally:
            store.close()

    asyncio.run(main())


def test_a_refused_flush_is_written_by_the_next(tmp_path: Path) -> None:
    async def scenario(clock: FakeClock, store: SqliteStore, book: HeartbeatBook) -> None:
        assert isinstance(store, RefusesOnce)
        book.heard("d1", Heartbeat(ts=clock.wall_ms(), uptime=1, rssi=-70), clock.wall_ms())
        await book.flush()
        assert store.refused and store.device("d1") is None
        first_ms = clock.wall_ms()
        clock.advance(30)
        book.heard("d2", Heartbeat(ts=clock.wall_ms(), uptime=1, rssi=-80), clock.wall_ms())
        await book.flush()
        assert [(d.id, d.last_heartbeat_ms) for d in store.devices()] == [
            ("d1", first_ms),
            ("d2", clock.wall_ms()),
        ]
        assert book.unsaved == 0

    with_book(tmp_path, scenario, RefusesOnce)


def test_an_older_heartbeat_never_replaces_a_newer_one(tmp_path: Path) -> None:
    async def scenario(clock: FakeClock, store: SqliteStore, book: HeartbeatBook) -> None:
        now = clock.wall_ms()
        book.heard("d1", Heartbeat(ts=now, uptime=2, rssi=-70), now)
        book.heard("d1", Heartbeat(ts=now - 30_000, uptime=1, rssi=-99), now - 30_000)
        assert book.last_heard_ms("d1") == now
        await book.flush()
        device = store.device("d1")
        assert device is not None
        assert (device.last_seen_ms, device.last_heartbeat_ms, device.rssi) == (now, now, -70)

    with_book(tmp_path, scenario)
