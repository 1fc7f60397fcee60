"""Event → ack latency through the hub, beside the raw Mosquitto QoS 1 round trip.

Both run against one private Mosquitto in this process's run. Raw: a QoS 1 publish from one
client received by another. Hub: a device publishes an ``event`` and waits for the hub's
``ack``, which the hub sends only after the event is committed to SQLite (synchronous=FULL).
The hub runs as its own process, as in production.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import paho_client, percentile
from loneguard.protocol.messages import Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto

WARMUP = 20


def _round_trips(
    publisher: mqtt.Client,
    subscriber: mqtt.Client,
    topic_out: str,
    topic_in: str,
    n: int,
    payload_for: Any,
    matches: Any,
) -> list[float]:
    arrived = threading.Event()
    expected: list[Any] = [None]

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        if matches(message.payload, expected[0]):
            arrived.set()

    subscriber.on_message = on_message
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.subscribe(topic_in, qos=1)
    subscribed.wait(10)
    samples: list[float] = []
    for i in range(n + WARMUP):
        key, payload = payload_for(i)
        expected[0] = key
        arrived.clear()
        start = time.perf_counter()
        publisher.publish(topic_out, payload, qos=1)
        if not arrived.wait(10):
            raise RuntimeError(f"no answer to message {i} on {topic_in}")
        if i >= WARMUP:
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def raw_round_trips(broker: Mosquitto, n: int) -> list[float]:
    """ms of each QoS 1 publish from one client until another receives it, after ``WARMUP``."""
    publisher = paho_client(broker, "bench-raw-pub")
    subscriber = paho_client(broker, "bench-raw-sub")
    try:
        return _round_trips(
            publisher,
            subscriber,
            "bench/raw",
            "bench/raw",
            n,
            lambda i: (str(i).encode(), str(i).encode()),
            lambda payload, key: payload == key,
        )
    finally:
        publisher.disconnect()
        subscriber.disconnect()


def _summary(prefix: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_ms": round(statistics.median(samples), 3),
        f"{prefix}_p99_ms": round(percentile(samples, 0.99), 3),
        f"{prefix}_mean_ms": round(statistics.fmean(samples), 3),
    }


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    n = n or 1000
    with tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp, Mosquitto() as broker:
        raw = raw_round_trips(broker, n)
        if verbose:
            print(f"raw QoS 1 round trip over {n} messages: {_summary('raw', raw)}")

        db = Path(tmp) / "hub.db"
        hub = Child(
            "hub",
            python_module_command("loneguard.server.cli", "run"),
            {
                "LONEGUARD_MQTT_URL": broker.url,
                "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
                "LONEGUARD_REQUIRE_PROVISIONED": "false",
                "LONEGUARD_DB_URL": f"sqlite:///{db}",
                "LONEGUARD_HTTP": "127.0.0.1:0",
            },
        )
        try:
            hub.wait_for_line("hub listening on ", timeout=30)
            device = paho_client(broker, "bench-device")
            event_topic = str(DeviceTopic("bench-1", Channel.EVENT))
            ack_topic = str(DeviceTopic("bench-1", Channel.ACK))

            def event_payload(i: int) -> tuple[bytes, bytes]:
                event = Event(new_event_id(), EventKind.CHECKIN, int(time.time() * 1000), i)
                return event.id.encode(), event.encode()

            hub_samples = _round_trips(
                device,
                device,
                event_topic,
                ack_topic,
                n,
                event_payload,
                lambda payload, key: key is not None and key in payload,
            )
            device.disconnect()
        finally:
            hub.stop()
    result: dict[str, Any] = {
        "benchmark": "latency",
        "n": n,
        **_summary("raw", raw),
        **_summary("hub", hub_samples),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
    }
    result["hub_over_raw_p99"] = round(result["hub_p99_ms"] / result["raw_p99_ms"], 2)
    if verbose:
        print(f"hub event→ack over {n} events: {_summary('hub', hub_samples)}")
    return result
