"""The device's footprint: RSS and CPU of ``loneguard-device`` idle and while sending.

The device runs as its own process with simulated pins (``--simulate``), connected to a private
Mosquitto and a hub that acks its events. Idle: CPU over ``WINDOW_S`` seconds of heartbeats
and nothing else. Sending: check-in pressed over the control endpoint back to back for the
same time (each press takes the 0.6 s duress window to be recognised), every event stored in
the outbox, published and acked. ``rss_mb`` is the larger of the idle and the sending RSS.
Beside it, ``unit_rss_mb``: the unit's own run path (``loneguard-device`` without --simulate, so
no simulator and no web page) on gpiozero's mock pins, idle for the same window, which is what
a unit on a Pi holds. Baseline in the same run: a bare Python interpreter process
(``python_rss_mb``), what any Python program costs before it does anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import CpuWindow, hub_child, machine_line, wait_for
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto

WINDOW_S = 10.0


def _post(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def _bare_python_rss() -> float:
    bare = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        time.sleep(0.5)
        _, rss = CpuWindow(bare.pid).result()
    finally:
        assert bare.stdin is not None
        bare.stdin.close()
        bare.wait(10)
    return rss


# The unit's run path as ``loneguard-device`` runs it on a Pi, with mock pins for the GPIO.
UNIT_CODE = (
    "import sys; from gpiozero.pins.mock import MockFactory; from loneguard.device import cli; "
    "cli._pin_factory = lambda simulate, name='lgpio': MockFactory(); "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def _unit_idle_rss(broker: Mosquitto, data_dir: Path, window: float) -> float:
    argv = ["--id", "bench-unit", "--mqtt", broker.url, "--data-dir", str(data_dir)]
    unit = Child("unit", [sys.executable, "-c", UNIT_CODE, *argv])
    try:
        # The log line's time stamp comes first: look for the message anywhere in the line.
        wait_for(lambda: any("connected to" in line for line in unit.output), 30, "the unit")
        time.sleep(1.0)  # past start-up
        idle = CpuWindow(unit.process.pid)
        time.sleep(window)
        _, rss = idle.result()
    finally:
        unit.stop()
    return rss


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    window = float(n) if n else WINDOW_S
    with tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp, Mosquitto() as broker:
        hub = hub_child(broker, Path(tmp) / "hub.db")
        device = Child(
            "device",
            python_module_command(
                "loneguard.device.cli",
                "--simulate",
                "--id",
                "bench-1",
                "--mqtt",
                broker.url,
                "--data-dir",
                str(Path(tmp) / "device"),
                "--control",
                "127.0.0.1:0",
            ),
        )
        try:
            line = device.wait_for_line("control endpoint: ", timeout=60)
            control = line.removeprefix("control endpoint: ").strip()
            wait_for(lambda: _get(f"{control}/state")["connected"], 30, "the device to connect")
            time.sleep(1.0)  # past start-up
            idle = CpuWindow(device.process.pid)
            time.sleep(window)
            idle_cpu_pct, idle_rss_mb = idle.result()

            sending = CpuWindow(device.process.pid)
            began = time.monotonic()
            sent = 0
            while time.monotonic() - began < window:
                sent += len(_post(f"{control}/buttons/checkin/press")["events"])
            sending_cpu_pct, sending_rss_mb = sending.result()
            wait_for(lambda: _get(f"{control}/state")["queued"] == 0, 30, "every ack")
        finally:
            device.stop()
        try:
            unit_rss_mb = _unit_idle_rss(broker, Path(tmp) / "unit", window)
        finally:
            hub.stop()
    python_rss_mb = _bare_python_rss()
    result: dict[str, Any] = {
        "benchmark": "footprint",
        "window_s": window,
        "idle_cpu_pct": idle_cpu_pct,
        "idle_rss_mb": idle_rss_mb,
        "sending_cpu_pct": sending_cpu_pct,
        "sending_rss_mb": sending_rss_mb,
        "rss_mb": max(idle_rss_mb, sending_rss_mb),
        "unit_rss_mb": unit_rss_mb,
        "events_sent": sent,
        "events_per_s": round(sent / window, 2),
        "python_rss_mb": python_rss_mb,
        "rss_over_python": round(max(idle_rss_mb, sending_rss_mb) / python_rss_mb, 2),
        "machine": machine_line(),
    }
    if verbose:
        print(
            f"device idle {idle_cpu_pct}% CPU {idle_rss_mb} MB; sending {sent} events: "
            f"{sending_cpu_pct}% CPU {sending_rss_mb} MB; the unit's run path idle "
            f"{unit_rss_mb} MB (bare Python {python_rss_mb} MB)"
        )
    return result
