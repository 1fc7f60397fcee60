"""Session deadlines at scale: 10,000 visits falling due within 10 s, each opening an alarm.

Creates the visits in a fresh SQLite store (grace 0, so every deadline opens an overdue alarm),
each worker with an apprise ``json://`` URL of its own on a local receiver (a child process:
``apprise_receiver``), and an overdue policy whose first step tells the worker on the console and
by apprise at once. The hub (with a private Mosquitto) runs on the real clock. Three figures per
deadline, all from its due time:

- ``lateness_p*_ms``: until the scheduler's callback starts (nothing stored or sent yet);
- ``alarm_p*_ms``: until the transaction that opened the overdue alarm committed (the store's
  future resolves, seen from the writer thread);
- ``notify_p*_ms``: until the first notification of that alarm reached the receiver.

Then the hub stops and a new one starts on the same database, 10,000 alarms open:
``restore_s`` is the time from start to ready, every ladder caught up and every deadline armed.
Baselines from the same run: bare ``asyncio`` ``call_later`` for the same deadlines
(``raw_lateness_p99_ms``), and one apprise ``json://`` notify round trip to the same receiver,
one at a time (``raw_notify_p*_ms``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import apprise

from bench.apprise_receiver import AppriseReceiver
from bench.common import seed_visits
from loneguard.protocol.clock import SystemClock
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import Store, open_store

LEAD_S = 20.0  # at most, to create the sessions and start the hub before the first deadline
SPREAD_S = 10.0  # deadlines are spread evenly over this window
RAW_NOTIFIES = 200

# The overdue ladder's first step, at once, to the worker on the console and by apprise.
POLICY = """
[[policies.overdue.steps]]
after = "0s"
notify = ["worker"]
channels = ["console", "apprise"]
message = "{worker} is overdue"
"""


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


def _raw_notify(receiver: AppriseReceiver, n: int) -> list[float]:
    """One apprise json:// notify at a time to the receiver: each call's round trip."""
    took = []
    for i in range(n):
        target = apprise.Apprise()
        target.add(receiver.url(f"raw{i}"))
        began = time.perf_counter()
        target.notify(body="baseline", title="baseline")
        took.append((time.perf_counter() - began) * 1000)
    return took


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _watch_alarm_commits(store: Store, committed: dict[str, float]) -> None:
    """Record when each deadline's overdue alarm was committed, by its worker's id: the
    store's futures resolve on its writer thread right after the COMMIT."""
    reach = store.reach_session_deadline
    lock = threading.Lock()

    def noted(future: Future[Any]) -> None:
        at = time.time()
        if future.cancelled() or future.exception() is not None:
            return
        reached = future.result()
        alarm = getattr(reached, "alarm", None) if reached is not None else None
        if alarm is not None and alarm.worker_id is not None:
            with lock:
                committed.setdefault(alarm.worker_id, at)

    def watched(*args: Any, **kwargs: Any) -> Future[Any]:
        future = reach(*args, **kwargs)
        future.add_done_callback(noted)
        return future

    store.reach_session_deadline = watched  # type: ignore[method-assign]


def _after_due(found: dict[str, float], due_ms: Callable[[int], int], n: int) -> list[float]:
    """Milliseconds from each deadline to its recorded time (keys ``w<i>``), for those found."""
    return [found[f"w{i}"] * 1000 - due_ms(i) for i in range(n) if f"w{i}" in found]


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    sessions = n or 10_000
    clock = SystemClock()
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        AppriseReceiver() as receiver,
        Mosquitto() as broker,
    ):
        config_file = Path(tmp) / "hub.toml"
        config_file.write_text(POLICY)
        env = {
            "LONEGUARD_MQTT_URL": broker.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{Path(tmp) / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
        config = load_config(config_file, env=env)
        store = open_store(config.db.url, clock.wall_ms)
        start_ms = clock.wall_ms()
        lead_s = min(LEAD_S, 5 + sessions * 0.0015)  # a small run need not wait 20 s
        first_due = start_ms + int(lead_s * 1000)

        def due_ms(i: int) -> int:
            return first_due + int(i * SPREAD_S * 1000 / sessions)

        seed_visits(
            store,
            sessions,
            start_ms,
            due_ms,
            grace_s=0,
            prealert_s=0,
            apprise_url=lambda i: receiver.url(f"w{i}"),
        )
        created_s = (clock.wall_ms() - start_ms) / 1000
        if verbose:
            print(f"created {sessions} sessions in {created_s:.1f} s")

        committed: dict[str, float] = {}
        _watch_alarm_commits(store, committed)
        hub = HubThread(config, clock=clock, store=store).start(timeout=60)
        try:
            services = hub.hub.services
            assert services is not None
            scheduler = services.scheduler
            _wait(lambda: scheduler.fired >= sessions, lead_s + SPREAD_S + 60, "every deadline")
            lateness = list(scheduler.lateness_ms)[:sessions]
            _wait(lambda: receiver.count() >= sessions, 120, "every first notification")
        finally:
            hub.stop()
            store.close()
        received = receiver.arrivals()

        began = time.perf_counter()
        restarted = HubThread(config, clock=clock).start(timeout=120)
        restore_s = time.perf_counter() - began
        try:
            assert restarted.hub.services is not None
            armed = len(restarted.hub.services.scheduler)
        finally:
            restarted.stop()
        raw_notify = _raw_notify(receiver, min(RAW_NOTIFIES, sessions))

    alarm = _after_due(committed, due_ms, sessions)
    notify = _after_due({k.lstrip("/"): v for k, v in received.items()}, due_ms, sessions)
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
        "alarms": len(alarm),
        "alarm_p50_ms": round(statistics.median(alarm), 1),
        "alarm_p99_ms": round(_percentile(alarm, 0.99), 1),
        "notified": len(notify),
        "notify_p50_ms": round(statistics.median(notify), 1),
        "notify_p99_ms": round(_percentile(notify, 0.99), 1),
        "notify_max_ms": round(max(notify), 1),
        "raw_notify_p50_ms": round(statistics.median(raw_notify), 2),
        "raw_notify_p99_ms": round(_percentile(raw_notify, 0.99), 2),
        "restore_s": round(restore_s, 3),
        "restored_armed": armed,
        "rss_mb": round(rss_mb, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
    }
    if verbose:
        print(f"hub restarted with {armed} deadlines armed in {restore_s:.2f} s")
    return result
