"""Sustained durable ingest: events per second through the hub, beside raw Mosquitto.

Both run on one private Mosquitto in the same run, driven by the same lightweight asyncio MQTT
load generator (``bench.mqttlite``), so the generator's own cost is alike on both sides. Raw:
``DEVICES`` connections publish QoS 1 messages as fast as they can and one connection receives
them all at QoS 1 (what the broker alone can move). Hub: the same connections publish ``event``
messages to the hub, running in its own process, and count its acks, which it sends only after
each event is committed to SQLite (WAL, synchronous=FULL). ``hub_events_per_s`` = acked events
/ time from the first publish to the last ack; every event must be acked, none twice.
``hub_cpu_ms_per_event`` is the hub process's CPU time per event (both its threads), which
depends less than the rate on what else the machine is doing.

PostgreSQL: the same load again through a second hub on PostgreSQL (``LONEGUARD_BENCH_PG_URL``,
default ``postgresql://postgres@127.0.0.1:5432/test``), in a schema of its own made for the run
and dropped after it: ``pg_events_per_s``, ``pg_over_raw`` and ``pg_cpu_ms_per_event``. No
PostgreSQL server there: ``pg_events_per_s`` is null and ``pg_skipped`` says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench.common import CpuWindow, hub_child, machine_line
from bench.mqttlite import LiteClient, publish_packet
from loneguard.protocol.messages import Ack, Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto

DEVICES = 20
PG_URL_ENV = "LONEGUARD_BENCH_PG_URL"
PG_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


class _Tally:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: set[str] = set()
        self.count = 0
        self.duplicates = 0
        self.done = asyncio.Event()

    def add(self, key: str | None = None) -> None:
        if key is not None:
            if key in self.seen:
                self.duplicates += 1
                return
            self.seen.add(key)
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


async def _blast(clients: list[LiteClient], packets: list[list[bytes]]) -> None:
    for client, batch in zip(clients, packets, strict=True):
        client.write(b"".join(batch))
    await asyncio.gather(*(c.drain() for c in clients))


async def _raw(broker: Mosquitto, per: int) -> float:
    tally = _Tally(per * DEVICES)
    sink = LiteClient(lambda _t, _p: tally.add())
    await sink.connect(broker.host, broker.port, "bench-raw-sink")
    await sink.subscribe("bench/raw/#", qos=1)
    clients = [LiteClient() for _ in range(DEVICES)]
    for i, client in enumerate(clients):
        await client.connect(broker.host, broker.port, f"bench-raw-{i}")
    packets = [
        [publish_packet(f"bench/raw/{i}", b"x" * 120, 1, s % 65535 + 1) for s in range(per)]
        for i in range(DEVICES)
    ]
    began = time.perf_counter()
    await _blast(clients, packets)
    await asyncio.wait_for(tally.done.wait(), 600)
    elapsed = time.perf_counter() - began
    for client in [*clients, sink]:
        await client.close()
    return tally.expected / elapsed


async def _hub(broker: Mosquitto, per: int) -> tuple[float, int, int]:
    tally = _Tally(per * DEVICES)
    clients, packets = [], []
    now = int(time.time() * 1000)
    for i in range(DEVICES):
        device = f"bench-{i}"
        client = LiteClient(lambda _t, p: tally.add(Ack.decode(p).ref))
        await client.connect(broker.host, broker.port, f"bench-dev-{i}")
        await client.subscribe(str(DeviceTopic(device, Channel.ACK)), qos=1)
        topic = str(DeviceTopic(device, Channel.EVENT))
        packets.append(
            [
                publish_packet(
                    topic,
                    Event(new_event_id(), EventKind.CHECKIN, now, s).encode(),
                    1,
                    s % 65535 + 1,
                )
                for s in range(per)
            ]
        )
        clients.append(client)
    began = time.perf_counter()
    await _blast(clients, packets)
    await asyncio.wait_for(tally.done.wait(), 600)
    elapsed = time.perf_counter() - began
    for client in clients:
        await client.close()
    return tally.expected / elapsed, tally.count, tally.duplicates


@contextlib.contextmanager
def _pg_schema(url: str) -> Iterator[str]:
    """A fresh schema on ``url``'s server; yields a URL whose connections work in it."""
    schema = f"lg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote(f'-c search_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _through_hub(
    broker: Mosquitto, db: Path, per: int, extra: dict[str, str] | None = None
) -> tuple[float, int, int, float, float, float]:
    """(events/s, acked, duplicate acks, CPU ms an event, CPU %, RSS MB) of a hub on ``db``."""
    hub = hub_child(broker, db, extra)
    try:
        cpu = CpuWindow(hub.process.pid)
        rate, acked, duplicates = asyncio.run(_hub(broker, per))
        cpu_pct, rss_mb = cpu.result()
        cpu_ms = cpu.cpu_seconds_used() * 1000 / acked
    finally:
        hub.stop()
    return rate, acked, duplicates, cpu_ms, cpu_pct, rss_mb


def _pg(broker: Mosquitto, db: Path, per: int, raw_rate: float) -> dict[str, Any]:
    url = os.environ.get(PG_URL_ENV, PG_URL_DEFAULT)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return {"pg_events_per_s": None, "pg_skipped": f"no PostgreSQL: {reason}"}
    with _pg_schema(url) as pg_url:
        rate, acked, duplicates, cpu_ms, _, _ = _through_hub(
            broker, db, per, {"LONEGUARD_DB_URL": pg_url}
        )
    return {
        "pg_events_per_s": round(rate),
        "pg_over_raw": round(rate / raw_rate, 3),
        "pg_cpu_ms_per_event": round(cpu_ms, 3),
        "pg_acked": acked,
        "pg_duplicate_acks": duplicates,
    }


def run(n: int | None = None, verbose: bool = True, pg: bool = True) -> dict[str, Any]:
    per = max(1, (n or 20_000) // DEVICES)
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto(extra_config="max_inflight_messages 1000") as broker,
    ):
        raw_rate = asyncio.run(_raw(broker, per))
        if verbose:
            print(f"raw Mosquitto QoS 1: {raw_rate:,.0f} messages/s")
        hub_rate, acked, duplicates, cpu_ms, hub_cpu_pct, hub_rss_mb = _through_hub(
            broker, Path(tmp) / "hub.db", per
        )
        if verbose:
            print(f"hub durable ingest: {hub_rate:,.0f} events/s ({acked} acked)")
        on_pg = _pg(broker, Path(tmp) / "unused.db", per, raw_rate) if pg else {}
        if verbose and on_pg.get("pg_events_per_s"):
            print(f"hub on PostgreSQL: {on_pg['pg_events_per_s']:,} events/s")
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "n": acked,
        "devices": DEVICES,
        "raw_events_per_s": round(raw_rate),
        "hub_events_per_s": round(hub_rate),
        "hub_over_raw": round(hub_rate / raw_rate, 3),
        "hub_cpu_ms_per_event": round(cpu_ms, 3),
        "hub_cpu_pct": hub_cpu_pct,
        "hub_rss_mb": hub_rss_mb,
        "duplicate_acks": duplicates,
        **on_pg,
        "durability": "SQLite WAL, synchronous=FULL; PostgreSQL; ack after commit",
        "machine": machine_line(),
    }
    return result
