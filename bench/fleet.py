"""A fleet of devices on one hub: N MQTT connections, each with a heartbeat every interval.

The devices are simulated by ``bench.mqttlite`` in one asyncio process (one TCP connection and
one reader task each, no threads), so the load generator stays cheap. Each device connects,
publishes its retained ``online`` status at QoS 1, as a real unit does, then a heartbeat at
QoS 0 every ``interval`` seconds, the fleet's heartbeats spread evenly over the interval. The
hub runs in its own process (SQLite, one writer): it stores every status, and holds heartbeats
in memory, writing the devices' last-seen in batches (``ingest.heartbeat_flush``).

Measured over a window of ``WINDOW_INTERVALS`` whole intervals once everyone is connected: the
hub process's CPU as % of one core and its RSS, beside the hub idle (same process, before the
fleet connects) and Mosquitto's own CPU in the same window; the heartbeats the hub took (its
``/metrics``) against those sent; and, read from the database after the hub's clean stop, how
many devices have their last heartbeat stored as their last-seen.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

from bench.common import CpuWindow, hub_child, machine_line, raise_open_files
from bench.mqttlite import LiteClient, publish_packet
from loneguard.protocol.messages import DeviceState, Heartbeat, Status
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto

INTERVAL_S = 30.0
WINDOW_INTERVALS = 2
IDLE_S = 5.0
CONNECT_BATCH = 200


def _metric(url: str, name: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _last_seen_stored(db: Path, last_sent: dict[str, int]) -> int:
    """Devices whose stored last heartbeat is the last one sent (or later: the hub's clock)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT id, last_heartbeat_ms FROM devices").fetchall()
    stored = {device: at_ms for device, at_ms in rows if at_ms is not None}
    return sum(1 for device, sent_ms in last_sent.items() if stored.get(device, -1) >= sent_ms)


async def _fleet(
    broker: Mosquitto, n: int, interval: float, hub_pid: int, broker_pid: int, url: str
) -> tuple[dict[str, int], dict[str, Any]]:
    devices = [f"fleet-{i:05d}" for i in range(n)]
    clients: list[LiteClient] = []
    began = time.perf_counter()
    for start in range(0, n, CONNECT_BATCH):
        batch = [LiteClient() for _ in devices[start : start + CONNECT_BATCH]]
        await asyncio.gather(
            *(
                c.connect(broker.host, broker.port, f"loneguard-{d}", keepalive=int(interval * 3))
                for c, d in zip(batch, devices[start:], strict=False)
            )
        )
        for client, device in zip(batch, devices[start:], strict=False):
            online = Status(DeviceState.ONLINE, 1, "bench", int(time.time() * 1000))
            client.write(
                publish_packet(
                    str(DeviceTopic(device, Channel.STATUS)), online.encode(), 1, 1, True
                )
            )
        clients.extend(batch)
    connect_s = time.perf_counter() - began
    topics = [str(DeviceTopic(d, Channel.HEARTBEAT)) for d in devices]

    sent = 0
    last_sent_ms = [0] * n
    stop = asyncio.Event()

    async def beat() -> None:
        nonlocal sent
        start = time.monotonic()
        i = 0
        while not stop.is_set():
            # Device k beats at start + (k / n + m) * interval, m = 0, 1, 2, ...
            due = start + (i / n) * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(min(delay, 0.05))
                continue
            k = i % n
            last_sent_ms[k] = int(time.time() * 1000)
            beat = Heartbeat(last_sent_ms[k], round(time.monotonic() - start, 3))
            clients[k].write(publish_packet(topics[k], beat.encode()))
            sent += 1
            i += 1

    task = asyncio.create_task(beat())
    await asyncio.sleep(interval)  # every device has beaten once: steady state
    hub_cpu = CpuWindow(hub_pid)
    broker_cpu = CpuWindow(broker_pid)
    taken_before, sent_before = _metric(url, "loneguard_heartbeats_total"), sent
    await asyncio.sleep(interval * WINDOW_INTERVALS)
    hub_cpu_pct, hub_rss_mb = hub_cpu.result()
    broker_cpu_pct, broker_rss_mb = broker_cpu.result()
    window_sent = sent - sent_before
    stop.set()
    await task
    await asyncio.sleep(1.0)  # let the last heartbeats land
    taken = _metric(url, "loneguard_heartbeats_total") - taken_before
    for client in clients:
        await client.close()
    return dict(zip(devices, last_sent_ms, strict=True)), {
        "connect_s": round(connect_s, 1),
        "heartbeats_per_s": round(window_sent / (interval * WINDOW_INTERVALS), 1),
        "heartbeats_sent": window_sent,
        "heartbeats_taken": taken,
        "hub_cpu_pct": hub_cpu_pct,
        "hub_rss_mb": hub_rss_mb,
        "broker_cpu_pct": broker_cpu_pct,
        "broker_rss_mb": broker_rss_mb,
    }


def run(n: int | None = None, verbose: bool = True, interval: float = INTERVAL_S) -> dict[str, Any]:
    n = n or 10_000
    files = raise_open_files()
    if files < n + 200:
        raise RuntimeError(f"open-file limit {files} is too low for {n} connections")
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto(extra_config="max_keepalive 65535") as broker,
    ):
        assert broker.process is not None
        hub = hub_child(broker, Path(tmp) / "hub.db")
        try:
            url = next(line for line in hub.output if line.startswith("hub listening on "))
            url = url.removeprefix("hub listening on ").strip()
            idle = CpuWindow(hub.process.pid)
            time.sleep(IDLE_S)
            hub_idle_cpu_pct, hub_idle_rss_mb = idle.result()
            if verbose:
                print(f"hub idle: {hub_idle_cpu_pct}% CPU, {hub_idle_rss_mb} MB; connecting {n}")
            last_sent, fleet = asyncio.run(
                _fleet(broker, n, interval, hub.process.pid, broker.process.pid, url)
            )
        finally:
            hub.stop()
        last_seen_stored = _last_seen_stored(Path(tmp) / "hub.db", last_sent)
    result: dict[str, Any] = {
        "benchmark": "fleet",
        "devices": n,
        "heartbeat_interval_s": interval,
        **fleet,
        "last_seen_stored": last_seen_stored,
        "hub_idle_cpu_pct": hub_idle_cpu_pct,
        "hub_idle_rss_mb": hub_idle_rss_mb,
        "machine": machine_line(),
    }
    if verbose:
        print(
            f"{n} devices: hub {fleet['hub_cpu_pct']}% of one core, {fleet['hub_rss_mb']} MB; "
            f"Mosquitto {fleet['broker_cpu_pct']}%"
        )
    return result
