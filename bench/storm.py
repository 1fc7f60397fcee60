"""A reconnect storm: does a panic wait behind a flood of queued check-ins?

The hub runs in its own process on SQLite, as in production, with one console stream open
(``/api/stream``, an API token made for the run). First the baseline: ``PANICS`` panics pressed
one after another on the idle hub, each from its own device. Then the broker restarts, and ``n``
devices (10,000 by default, ``bench.mqttlite`` connections) reconnect all at once, each
subscribing to its acks and flushing the ``QUEUED`` check-ins its outbox kept while the broker was
down. Once half the devices have flushed, ``PANICS`` other devices press panic, one every
``PANIC_GAP_S``, while the hub works through the backlog.

Reported: ``storm_panic_ack_p50/p99_ms`` (press → the hub's ack at the device) beside
``idle_panic_ack_p50/p99_ms`` from the same run, ``stream_panic_p99_ms`` and
``idle_stream_panic_p99_ms`` (press → the panic's event on the console stream),
``panics_during_backlog`` (how many presses came while check-ins were still unacked),
``backlog_drain_s`` (the first reconnect → the last check-in acked) and ``lost``: events published
and never acked (the hub acks only after the commit, so an acked event is stored); it must be 0.
A console stream that falls behind is sent ``resync`` and loses frames (``stream_resyncs``); a
panic it never showed is counted in ``stream_missed`` and left out of the stream figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import hub_child, machine_line, percentile, raise_open_files
from bench.mqttlite import LiteClient, publish_packet
from loneguard.protocol.messages import (
    Ack,
    DeviceState,
    Event,
    EventKind,
    HubStatus,
    new_event_id,
)
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, DeviceTopic
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store import Role
from loneguard.server.store.sqlite import SqliteStore

PANICS = 20
QUEUED = 5
PANIC_GAP_S = 0.1
ACK_TIMEOUT_S = 600.0
# A console that falls behind a flood is sent ``resync`` and its frames are dropped (it reloads):
# a panic not shown within this after its ack is counted in ``stream_missed``, not waited for.
STREAM_TIMEOUT_S = 30.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class _Acks:
    """When each event id was first acked, and a waiter per id."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.storm_left = 0
        self.storm_done = asyncio.Event()
        self.storm_ids: set[str] = set()
        self.last_storm_ack = 0.0

    def on_message(self, _topic: str, payload: bytes) -> None:
        ref = Ack.decode(payload).ref
        if ref in self.at:
            return
        now = time.perf_counter()
        self.at[ref] = now
        waiter = self.waiters.pop(ref, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)
        if ref in self.storm_ids:
            self.storm_left -= 1
            self.last_storm_ack = now
            if self.storm_left == 0:
                self.storm_done.set()


class _Stream:
    """The console's live stream: when each device's panic first showed on it."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.open = asyncio.Event()
        self.resyncs = 0

    async def read(self, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{url}/api/stream", headers=headers) as response,
        ):
            response.raise_for_status()
            self.open.set()
            async for line in response.aiter_lines():
                if line.startswith("event: resync"):
                    self.resyncs += 1
                if not line.startswith("data:") or '"event":"panic"' not in line:
                    continue
                device = json.loads(line.removeprefix("data:"))["id"]
                now = time.perf_counter()
                self.at.setdefault(device, now)
                waiter = self.waiters.pop(device, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)


async def _device(broker: Mosquitto, device: str, acks: _Acks) -> LiteClient:
    client = LiteClient(acks.on_message)
    await client.connect(broker.host, broker.port, f"loneguard-{device}", keepalive=600)
    await client.subscribe(str(DeviceTopic(device, Channel.ACK)), qos=1)
    return client


def _event(device: str, kind: EventKind, seq: int) -> tuple[str, bytes]:
    event = Event(new_event_id(), kind, _now_ms(), seq)
    topic = str(DeviceTopic(device, Channel.EVENT))
    return event.id, publish_packet(topic, event.encode(), 1, seq % 65535 + 1)


class _Press:
    """A panic pressed on one device: press → ack and press → stream, in ms."""

    def __init__(self, client: LiteClient, device: str, acks: _Acks, stream: _Stream) -> None:
        loop = asyncio.get_running_loop()
        self.event_id, packet = _event(device, EventKind.PANIC, 1)
        self.acked: asyncio.Future[float] = loop.create_future()
        self.shown: asyncio.Future[float] = loop.create_future()
        acks.waiters[self.event_id] = self.acked
        stream.waiters[device] = self.shown
        self.pressed = time.perf_counter()
        client.write(packet)

    async def latencies(self) -> tuple[float, float | None]:
        """Press → ack, and press → stream (None: dropped from a stream that fell behind)."""
        acked = await asyncio.wait_for(self.acked, ACK_TIMEOUT_S)
        try:
            shown = await asyncio.wait_for(self.shown, STREAM_TIMEOUT_S)
        except TimeoutError:
            return (acked - self.pressed) * 1000, None
        return (acked - self.pressed) * 1000, (shown - self.pressed) * 1000


async def _hub_back(broker: Mosquitto) -> None:
    """Wait for the hub's ``online`` after the broker restart (it reconnects by itself)."""
    back = asyncio.Event()

    def on_status(_topic: str, payload: bytes) -> None:
        if HubStatus.decode(payload).state == DeviceState.ONLINE:
            back.set()

    watcher = LiteClient(on_status)
    await watcher.connect(broker.host, broker.port, "bench-storm-watcher")
    await watcher.subscribe(HUB_STATUS_TOPIC, qos=1)
    await asyncio.wait_for(back.wait(), 120)
    await watcher.close()


async def _storm(broker: Mosquitto, n: int, url: str, token: str) -> dict[str, Any]:
    acks, stream = _Acks(), _Stream()
    reader = asyncio.create_task(stream.read(url, token))
    await asyncio.wait_for(stream.open.wait(), 60)  # subscribed before the headers come

    idle_devices = [f"panic-idle-{i:02d}" for i in range(PANICS)]
    idle_clients = [await _device(broker, d, acks) for d in idle_devices]
    idle: list[tuple[float, float | None]] = []
    for client, device in zip(idle_clients, idle_devices, strict=True):
        idle.append(await _Press(client, device, acks, stream).latencies())
        await asyncio.sleep(PANIC_GAP_S)

    broker.restart()  # every connection drops; the devices' outboxes fill
    await _hub_back(broker)
    storm_devices = [f"storm-{i:05d}" for i in range(n)]
    panic_devices = [f"panic-storm-{i:02d}" for i in range(PANICS)]
    panic_clients = [await _device(broker, d, acks) for d in panic_devices]
    flushes = [[_event(d, EventKind.CHECKIN, s + 1) for s in range(QUEUED)] for d in storm_devices]
    for batch in flushes:
        acks.storm_ids.update(event_id for event_id, _ in batch)
    acks.storm_left = len(acks.storm_ids)
    flushed = 0
    half_flushed = asyncio.Event()

    async def reconnect(device: str, batch: list[tuple[str, bytes]]) -> LiteClient:
        nonlocal flushed
        client = await _device(broker, device, acks)
        client.write(b"".join(packet for _, packet in batch))
        flushed += 1
        if flushed * 2 >= n:
            half_flushed.set()
        return client

    presses: list[_Press] = []

    async def press_during_storm() -> int:
        await half_flushed.wait()
        during = 0
        for client, device in zip(panic_clients, panic_devices, strict=True):
            during += not acks.storm_done.is_set()
            presses.append(_Press(client, device, acks, stream))
            await asyncio.sleep(PANIC_GAP_S)
        return during

    began = time.perf_counter()
    presser = asyncio.create_task(press_during_storm())
    pairs = zip(storm_devices, flushes, strict=True)
    clients = await asyncio.gather(*(reconnect(device, batch) for device, batch in pairs))
    reconnect_s = time.perf_counter() - began
    during = await presser
    with contextlib.suppress(TimeoutError):  # what is still unacked then is counted as lost
        await asyncio.wait_for(acks.storm_done.wait(), ACK_TIMEOUT_S)
    drain_s = (acks.last_storm_ack or time.perf_counter()) - began
    storm = [await press.latencies() for press in presses]  # raises if one is never acked
    reader.cancel()
    for client in [*clients, *idle_clients, *panic_clients]:
        await client.close()
    return {
        "lost": acks.storm_left,  # a panic never acked fails the run instead
        "reconnect_s": round(reconnect_s, 2),
        "backlog_drain_s": round(drain_s, 2),
        "panics_during_backlog": during,
        **_ms("storm_panic_ack", [a for a, _ in storm]),
        **_ms("idle_panic_ack", [a for a, _ in idle]),
        **_ms("stream_panic", [s for _, s in storm if s is not None]),
        **_ms("idle_stream_panic", [s for _, s in idle if s is not None]),
        "stream_missed": sum(1 for _, s in [*storm, *idle] if s is None),
        "stream_resyncs": stream.resyncs,
    }


def _ms(prefix: str, samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None}
    return {
        f"{prefix}_p50_ms": round(percentile(samples, 0.5), 1),
        f"{prefix}_p99_ms": round(percentile(samples, 0.99), 1),
    }


def _api_token(db: Path) -> str:
    """A viewer's API token, stored before the hub starts, for the console stream."""
    token = new_token()
    store = SqliteStore(db, now_ms=_now_ms)
    try:
        store.create_token("bench-storm", Role.VIEWER, hash_token(token), _now_ms()).result(60)
    finally:
        store.close()
    return token


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    n = n or 10_000
    files = raise_open_files()
    if files < n + 4 * PANICS + 200:
        raise RuntimeError(f"open-file limit {files} is too low for {n} connections")
    say: Callable[[str], None] = print if verbose else (lambda _: None)
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto(extra_config="max_keepalive 65535\nmax_inflight_messages 1000") as broker,
    ):
        db = Path(tmp) / "hub.db"
        token = _api_token(db)
        hub = hub_child(broker, db)
        try:
            url = next(line for line in hub.output if line.startswith("hub listening on "))
            url = url.removeprefix("hub listening on ").strip()
            say(f"idle panics, then {n} devices reconnecting with {QUEUED} events each")
            storm = asyncio.run(_storm(broker, n, url, token))
        finally:
            hub.stop()
    result: dict[str, Any] = {
        "benchmark": "storm",
        "devices": n,
        "queued_per_device": QUEUED,
        "panics": PANICS,
        **storm,
        "machine": machine_line(),
    }
    say(
        f"panic ack p99 {storm['storm_panic_ack_p99_ms']} ms in the storm, "
        f"{storm['idle_panic_ack_p99_ms']} ms idle; lost {storm['lost']}; "
        f"backlog drained in {storm['backlog_drain_s']} s"
    )
    return result
