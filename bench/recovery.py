"""Hub restart time with N active sessions: from process start to serving, every timer armed.

A SQLite database gets ``n`` workers, each with an active visit due in an hour (so nothing
fires meanwhile). A hub process starts on it and is killed with SIGKILL, as a crash would; then
a new one starts and ``restart_s`` is the time from spawning it to its ``hub listening`` line,
which it prints only after rebuilding every session's timer from the database and resuming the
open ladders. Baseline in the same run: the same restart on an empty database
(``empty_restart_s``). ``armed`` is what the restarted hub logged it armed.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import hub_child, machine_line, seed_visits
from loneguard.protocol.clock import SystemClock
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store import open_store

ARMED = re.compile(r"timers rebuilt: (\d+) session deadlines armed")


def seed(db: Path, sessions: int) -> None:
    clock = SystemClock()
    config = load_config(
        env={"LONEGUARD_DB_URL": f"sqlite:///{db}", "LONEGUARD_REQUIRE_PROVISIONED": "false"}
    )
    store = open_store(config.db.url, clock.wall_ms)
    now = clock.wall_ms()
    seed_visits(store, sessions, now, lambda i: now + 3_600_000 + i, grace_s=300, prealert_s=300)
    store.close()


def _restart(broker: Mosquitto, db: Path) -> tuple[float, int]:
    """Start a hub, kill it, start another: (seconds to serve again, timers it armed)."""
    first = hub_child(broker, db, name="hub-first")
    first.kill()
    began = time.perf_counter()
    second = hub_child(broker, db, name="hub-restarted")
    elapsed = time.perf_counter() - began
    try:
        armed = next((int(m.group(1)) for line in second.output if (m := ARMED.search(line))), -1)
    finally:
        second.stop()
    return elapsed, armed


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    sessions = n or 10_000
    with tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp, Mosquitto() as broker:
        empty = Path(tmp) / "empty.db"
        seed(empty, 0)
        empty_s, _ = _restart(broker, empty)
        full = Path(tmp) / "full.db"
        began = time.perf_counter()
        seed(full, sessions)
        seeded_s = time.perf_counter() - began
        if verbose:
            print(f"{sessions} sessions created in {seeded_s:.1f} s")
        restart_s, armed = _restart(broker, full)
    result: dict[str, Any] = {
        "benchmark": "recovery",
        "sessions": sessions,
        "restart_s": round(restart_s, 3),
        "empty_restart_s": round(empty_s, 3),
        "restart_over_empty": round(restart_s / empty_s, 2),
        "armed": armed,
        "machine": machine_line(),
    }
    if verbose:
        print(
            f"restart after kill -9 with {sessions} sessions: {restart_s:.2f} s "
            f"(empty database: {empty_s:.2f} s), {armed} timers armed"
        )
    return result
