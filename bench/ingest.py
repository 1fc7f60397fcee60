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
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import CpuWindow, hub_child, machine_line
from bench.mqttlite import LiteClient, publish_packet
from loneguard.protocol.messages import Ack, Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto

DEVICES = 20


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


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    per = max(1, (n or 20_000) // DEVICES)
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto(extra_config="max_inflight_messages 1000") as broker,
    ):
        raw_rate = asyncio.run(_raw(broker, per))
        if verbose:
            print(f"raw Mosquitto QoS 1: {raw_rate:,.0f} messages/s")
        hub = hub_child(broker, Path(tmp) / "hub.db")
        try:
            cpu = CpuWindow(hub.process.pid)
            hub_rate, acked, duplicates = asyncio.run(_hub(broker, per))
            hub_cpu_pct, hub_rss_mb = cpu.result()
            cpu_ms = cpu.cpu_seconds_used() * 1000 / acked
        finally:
            hub.stop()
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
        "durability": "SQLite WAL, synchronous=FULL; ack after commit",
        "machine": machine_line(),
    }
    if verbose:
        print(f"hub durable ingest: {hub_rate:,.0f} events/s ({acked} acked)")
    return result
