"""Session deadlines at scale: 10,000 active sessions on staggered deadlines.

Creates the sessions in a fresh SQLite store, starts the hub (with a private Mosquitto) and
lets every session's first deadline fire on the real clock, recording how late each timer ran.
Then stops the hub and starts a new one on the same database: ``restore_s`` is the time from
start to ready with every deadline armed again. Baseline: an empty ``asyncio`` ``call_later``
for the same deadlines in the same process (``raw_lateness_p99_ms``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import seed_visits
from loneguard.protocol.clock import SystemClock
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import open_store

LEAD_S = 20.0  # time to create the sessions and start the hub before the first deadline
SPREAD_S = 10.0  # deadlines are spread evenly over this window


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _raw_lateness(dues: list[float]) -> list[float]:
    loop = asyncio.get_running_loop()
    late: list[float] = []
    done = asyncio.Event()
    for due in dues:

        def fire(due: float = due) -> None:
            late.append(max(0.0, (time.monotonic() - due) * 1000))
            if len(late) == len(dues):
                done.set()

        loop.call_later(max(0.0, due - time.monotonic()), fire)
    await done.wait()
    return late


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    sessions = n or 10_000
    clock = SystemClock()
    with tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp, Mosquitto() as broker:
        env = {
            "LONEGUARD_MQTT_URL": broker.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{Path(tmp) / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
        config = load_config(env=env)
        store = open_store(config.db.url, clock.wall_ms)
        start_ms = clock.wall_ms()
        first_due = start_ms + int(LEAD_S * 1000)
        seed_visits(
            store,
            sessions,
            start_ms,
            lambda i: first_due + int(i * SPREAD_S * 1000 / sessions),
            grace_s=600,
            prealert_s=0,
        )
        store.close()
        created_s = (clock.wall_ms() - start_ms) / 1000
        if verbose:
            print(f"created {sessions} sessions in {created_s:.1f} s")

        hub = HubThread(config, clock=clock).start(timeout=60)
        try:
            services = hub.hub.services
            assert services is not None
            scheduler = services.scheduler
            _wait(lambda: scheduler.fired >= sessions, LEAD_S + SPREAD_S + 60, "every deadline")
            lateness = list(scheduler.lateness_ms)[-sessions:]
        finally:
            hub.stop()

        began = time.perf_counter()
        restarted = HubThread(config, clock=clock).start(timeout=60)
        restore_s = time.perf_counter() - began
        try:
            assert restarted.hub.services is not None
            armed = len(restarted.hub.services.scheduler)
        finally:
            restarted.stop()

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now = time.monotonic()
    raw = asyncio.run(_raw_lateness([now + 1 + i * SPREAD_S / sessions for i in range(sessions)]))
    result: dict[str, Any] = {
        "benchmark": "timers",
        "sessions": sessions,
        "fired": len(lateness),
        "lateness_p50_ms": round(statistics.median(lateness), 2),
        "lateness_p99_ms": round(_percentile(lateness, 0.99), 2),
        "lateness_max_ms": round(max(lateness), 2),
        "raw_lateness_p99_ms": round(_percentile(raw, 0.99), 2),
        "restore_s": round(restore_s, 3),
        "restored_armed": armed,
        "rss_mb": round(rss_mb, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
    }
    if verbose:
        print(f"hub restarted with {armed} deadlines armed in {restore_s:.2f} s")
    return result
