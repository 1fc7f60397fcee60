"""What the benchmarks share: the machine they ran on, process sampling, the hub as a child."""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil

from loneguard.device.link import disable_nagle
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto, mosquitto_binary
from loneguard.server.sessions.rules import SessionKind, SessionPlan
from loneguard.server.store import Store, Worker


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def wait_for(condition: Any, timeout: float, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(poll)


def paho_client(broker: Mosquitto, client_id: str, *, inflight: int = 20) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_socket_open = disable_nagle
    client.on_connect = lambda *_: connected.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("benchmark client could not connect")
    return client


def seed_visits(
    store: Store,
    count: int,
    started_ms: int,
    end_ms: Callable[[int], int],
    *,
    grace_s: int,
    prealert_s: int,
    apprise_url: Callable[[int], str] | None = None,
) -> None:
    """``count`` workers, each on an active visit started at ``started_ms``, ending at
    ``end_ms(i)`` (each with the apprise URL ``apprise_url(i)``, if given); returns once all
    are stored."""
    futures = []
    for i in range(count):
        urls = (apprise_url(i),) if apprise_url is not None else ()
        store.save_worker(Worker(id=f"w{i}", name=f"Worker {i}", apprise_urls=urls))
        plan = SessionPlan(
            kind=SessionKind.VISIT,
            worker_id=f"w{i}",
            device_id=None,
            started_ms=started_ms,
            grace_s=grace_s,
            prealert_s=prealert_s,
            expected_end_ms=end_ms(i),
            accompanied=True,
        )
        futures.append(store.start_session(plan, "bench"))
    for future in futures:
        future.result(timeout=120)


def raise_open_files() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else 1_048_576
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def hub_child(
    broker: Mosquitto, db: Path, extra: Mapping[str, str] | None = None, name: str = "hub"
) -> Child:
    """``loneguard-hub run`` as its own process, as in production; returns once it listens."""
    env = {
        "LONEGUARD_MQTT_URL": broker.url,
        "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
        "LONEGUARD_REQUIRE_PROVISIONED": "false",
        "LONEGUARD_DB_URL": f"sqlite:///{db}",
        "LONEGUARD_HTTP": "127.0.0.1:0",
        **(extra or {}),
    }
    hub = Child(name, python_module_command("loneguard.server.cli", "run"), env)
    hub.wait_for_line("hub listening on ", timeout=120)
    return hub


class CpuWindow:
    """CPU time a process used over a wall-clock window, as % of one core, and its RSS."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self._cpu = self._cpu_seconds()
        self._wall = time.monotonic()

    def _cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def cpu_seconds_used(self) -> float:
        return self._cpu_seconds() - self._cpu

    def result(self) -> tuple[float, float]:
        """(cpu % of one core since the start, rss MB now)."""
        cpu = self._cpu_seconds() - self._cpu
        wall = time.monotonic() - self._wall
        rss = self.process.memory_info().rss / 2**20
        return round(100 * cpu / wall, 1), round(rss, 1)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.machine()


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.platform()
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.MULTILINE)
    name = match.group(1) if match else platform.system()
    return f"{name} (kernel {platform.release()})"


def _mosquitto_version() -> str:
    binary = mosquitto_binary() or shutil.which("mosquitto")
    if binary is None:
        return "not installed"
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10)
    match = re.search(r"mosquitto version (\S+)", out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": _os_name(),
        "python": platform.python_version(),
        "mosquitto": _mosquitto_version(),
    }


def machine_line() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
