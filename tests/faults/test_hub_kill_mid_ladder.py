"""The hub killed with SIGKILL in the middle of an escalation ladder, then started again.

A real ``loneguard-hub run`` process walks a panic ladder of four steps, two seconds apart,
whose only channel is apprise posting JSON to an HTTP server in this test: that server counts
what really went out. The hub is killed as soon as step 0 is delivered and recorded, and started
again on the same database; the ladder must carry on from its stored deadline so that every
step arrives once: none skipped (a lost timer), none twice (a forgotten idempotency key).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from loneguard.protocol.clock import SystemClock
from loneguard.protocol.messages import Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.config import load_config
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store import Worker, open_store
from tests.faults.harness import print_counts, wait_until

STEPS = 4
STEP_S = 2


class Recorder(ThreadingHTTPServer):
    """Every message apprise posts, in arrival order."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.messages: list[str] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.messages.append(json.loads(body)["message"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def write_config(tmp_path: Path, mosquitto: Mosquitto) -> Path:
    steps = "".join(
        f'[[policies.panic.steps]]\nafter = "{i * STEP_S}s"\nnotify = ["admins"]\n'
        f'channels = ["apprise"]\nmessage = "step {i}"\n\n'
        for i in range(STEPS)
    )
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nreconnect_max = 1.0\ndemo = true\n\n'
        "[devices]\nrequire_provisioned = false\n\n"
        f'[db]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n\n'
        '[http]\nlisten = "127.0.0.1:0"\n\n'
        '[escalation]\nadmins = ["worker:w-admin"]\n\n'
        '[policies.panic]\ndevice_ack = "help_coming"\n' + steps
    )
    return config


def sent_steps(db: Path) -> set[int]:
    """Steps the hub has recorded as delivered."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT step FROM notifications WHERE state = 'sent'").fetchall()
    return {int(step) for (step,) in rows}


def start_hub(config: Path) -> Child:
    hub = Child(
        "hub", python_module_command("loneguard.server.cli", "run", "--config", str(config))
    )
    hub.wait_for_line("hub listening on ", timeout=30)
    return hub


def test_every_ladder_step_goes_once_across_a_kill_9(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder
) -> None:
    config_path = write_config(tmp_path, mosquitto)
    db = tmp_path / "hub.db"
    store = open_store(load_config(config_path, env={}).db.url, SystemClock().wall_ms)
    url = f"json://127.0.0.1:{recorder.server_address[1]}/"
    store.save_worker(Worker("w-admin", "Ada Admin", apprise_urls=(url,))).result(timeout=10)
    store.close()

    hub = start_hub(config_path)
    restarted: Child | None = None
    try:
        device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fault-device")
        device.connect(mosquitto.host, mosquitto.port)
        device.loop_start()
        panic = Event(new_event_id(), EventKind.PANIC, SystemClock().wall_ms(), 0)
        device.publish(str(DeviceTopic("unit-01", Channel.EVENT)), panic.encode(), qos=1)

        wait_until(lambda: 0 in sent_steps(db), "step 0 delivered and recorded")
        hub.kill()  # SIGKILL: no drain, no offline status, timers only in the database
        killed_after = list(recorder.messages)
        restarted = start_hub(config_path)
        wait_until(lambda: sent_steps(db) == set(range(STEPS)), "every step", timeout=60)
        restarted.stop()  # SIGTERM: finishes what is in flight, so any double would be in
        device.loop_stop()
        device.disconnect()
    finally:
        hub.kill()
        if restarted is not None:
            restarted.kill()

    sent = [f"step {i}" for i in range(STEPS)]
    # Each message is the alarm's facts around the step's guidance ("Now: step 2").
    steps = [m.split("Now: ", 1)[-1].splitlines()[0] for m in recorder.messages]
    arrived = Counter(steps)
    received = sum(1 for m in sent if arrived[m] > 0)
    duplicates = sum(n - 1 for n in arrived.values())
    print_counts("hub kill -9 mid-ladder", len(sent), received, duplicates)
    assert 1 <= len(killed_after) < STEPS, "the kill was not in the middle of the ladder"
    assert received == len(sent), "a step was skipped"
    assert duplicates == 0, f"a step went twice: {recorder.messages}"
    assert steps == sent  # and in order
