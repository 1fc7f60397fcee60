"""Panic press → hub → the Alarm Receiving Centre's ack, beside a raw TCP round trip to the
same receiver.

The ARC is pysiaalarm (a maintained SIA DC-09 receiver library) in this process, on one
encrypted account (AES-128). Raw: this process sends DC-09 frames (a Contact ID 120 each, built
by ``server.arc.dc09``) over one TCP connection and times each until the receiver's ACK comes
back. Hub: a hub process (as in production, SQLite synchronous=FULL) with ``[arc]`` pointed at
the receiver; ``n`` workers each with their own device; a simulated device publishes a panic
with a GNSS fix for each in turn, and the sample is the time from the publish to the moment the
receiver acked the 120 for that worker's zone (pysiaalarm acks before it hands the event on).
One alarm at a time, as a person would press. The issue asks for ``hub_p99_ms`` ≤ 1000.
``located_*``: the same with ``arc.send_location`` on (the default), which pysiaalarm NAKs, so
each alarm goes twice: the cost of the fallback that keeps a position from holding an alarm up.
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.arc_receiver import ArcReceiver
from bench.common import hub_child, machine_line, paho_client, percentile
from loneguard.protocol.clock import SystemClock
from loneguard.protocol.messages import Event, EventKind, Location, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.arc import contact_id, dc09
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store import Worker, open_store

ACCOUNT = "4F21"
# The key as pysiaalarm takes it (16 characters whose ASCII bytes are the AES-128 key) and as
# the hub's ``arc.key`` takes it (the hex of those bytes): docs/arc.md, "A key given as
# characters".
KEY_CHARACTERS = "0123456789ABCDEF"
KEY_HEX = KEY_CHARACTERS.encode("ascii").hex().upper()
WARMUP = 10
ACK_WAIT_S = 10.0
FIX = Location(53.80076, -1.54908, 12.0)


def _summary(prefix: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": round(statistics.median(samples), 3),
        f"{prefix}_p99_ms": round(percentile(samples, 0.99), 3),
        f"{prefix}_mean_ms": round(statistics.fmean(samples), 3),
    }


def _read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while not answer.endswith(dc09.CR):
        chunk = sock.recv(512)
        if not chunk:
            raise RuntimeError("the ARC receiver closed the connection")
        answer += chunk
    return answer


def raw_round_trips(receiver: ArcReceiver, n: int) -> list[float]:
    """DC-09 frame out, the receiver's ACK back, over one TCP connection: ms each."""
    key = dc09.ArcKey.from_hex(KEY_HEX)
    account = dc09.Account.parse(ACCOUNT)
    clock = SystemClock()
    samples: list[float] = []
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=ACK_WAIT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(n + WARMUP):
            event = contact_id.for_alarm("panic", zone=i % 999 + 1, group=1)
            frame = dc09.Dc09Frame.adm_cid(i % 9999 + 1, account, event)
            raw = frame.encode(wall_ms=clock.wall_ms(), key=key)
            started = time.perf_counter()
            sock.sendall(raw)
            answer = dc09.parse_answer(_read_answer(sock), key=key).check_for(frame)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.kind != "ACK":
                raise RuntimeError(f"the ARC receiver answered {answer.kind} to a raw frame")
            receiver.next_event(ACK_WAIT_S)
            if i >= WARMUP:
                samples.append(elapsed)
    return samples


def seed_workers(db: Path, count: int) -> None:
    """``count`` workers, each with the device ``arc-bench-<i>`` assigned."""
    clock = SystemClock()
    config = load_config(
        env={"LONEGUARD_DB_URL": f"sqlite:///{db}", "LONEGUARD_REQUIRE_PROVISIONED": "false"}
    )
    store = open_store(config.db.url, clock.wall_ms)
    futures = []
    for i in range(count):
        futures.append(store.save_worker(Worker(id=f"w{i}", name=f"Worker {i}")))
        futures.append(store.assign_device(f"arc-bench-{i}", f"w{i}"))
    for future in futures:
        future.result(timeout=120)
    store.close()


def hub_press_to_ack(
    broker: Mosquitto, receiver: ArcReceiver, db: Path, n: int, *, send_location: bool
) -> list[float]:
    """A panic from each device in turn; ms from the publish to the receiver's ack of its 120.

    pysiaalarm NAKs the position's two extended-data fields: with ``send_location`` (the
    default setting) each alarm is NAK'd once and sent again without them; without it, the
    hub is set up as for a receiver known not to read them."""
    config = db.with_name("hub.toml")
    # No 602 tests while it runs: they would only interleave with the panics.
    config.write_text(
        "[arc]\n"
        f'primary = "127.0.0.1:{receiver.port}"\n'
        f'account = "{ACCOUNT}"\n'
        'supervision_interval = "0s"\n'
        f"send_location = {'true' if send_location else 'false'}\n"
    )
    hub = hub_child(broker, db, {"LONEGUARD_CONFIG": str(config), "LONEGUARD_ARC_KEY": KEY_HEX})
    samples: list[float] = []
    zones: set[str] = set()
    try:
        device = paho_client(broker, "arc-bench-device")
        try:
            for i in range(n + WARMUP):
                device_id = f"arc-bench-{i}"
                event = Event(
                    new_event_id(), EventKind.PANIC, int(time.time() * 1000), 1, location=FIX
                )
                started = time.perf_counter()
                device.publish(str(DeviceTopic(device_id, Channel.EVENT)), event.encode(), qos=1)
                acked_at, arrived = _next_panic(receiver)
                if arrived.ri in zones:
                    raise RuntimeError(f"zone {arrived.ri} reached the ARC twice")
                zones.add(arrived.ri)
                if i >= WARMUP:
                    samples.append((acked_at - started) * 1000)
        finally:
            device.disconnect()
    finally:
        hub.stop()
    return samples


def _next_panic(receiver: ArcReceiver) -> tuple[float, Any]:
    """The next 120 (new event) the receiver acked on our account; anything else is an error:
    nothing but the panics should reach it while the bench runs."""
    acked_at, event = receiver.next_event(ACK_WAIT_S)
    if (event.account, event.event_qualifier, event.event_type) != (ACCOUNT, "1", "120"):
        raise RuntimeError(
            f"the ARC got {event.event_qualifier}{event.event_type} on {event.account}, "
            "not a panic (1120)"
        )
    return acked_at, event


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    n = n or 200
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto() as broker,
        ArcReceiver(ACCOUNT, KEY_CHARACTERS) as receiver,
    ):
        raw = raw_round_trips(receiver, n)
        if verbose:
            print(f"raw DC-09 round trip over {n} frames: {_summary('raw', raw)}")
        db = Path(tmp) / "hub.db"
        seed_workers(db, n + WARMUP)
        hub = hub_press_to_ack(broker, receiver, db, n, send_location=False)
        if verbose:
            print(f"panic press → ARC ack over {n} alarms: {_summary('hub', hub)}")
        db = Path(tmp) / "hub-located.db"
        seed_workers(db, n + WARMUP)
        located = hub_press_to_ack(broker, receiver, db, n, send_location=True)
        if verbose:
            print(f"the same, the position NAK'd and dropped: {_summary('located', located)}")
    result: dict[str, Any] = {
        "benchmark": "arc",
        "n": n,
        "encryption": "AES-128",
        "transport": "tcp",
        **_summary("raw", raw),
        **_summary("hub", hub),
        **_summary("located", located),
        "machine": machine_line(),
    }
    result["hub_over_raw_p99"] = round(result["hub_p99_ms"] / result["raw_p99_ms"], 2)
    result["hub_p99_within_1s"] = max(result["hub_p99_ms"], result["located_p99_ms"]) <= 1000
    return result
