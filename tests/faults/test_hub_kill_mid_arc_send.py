"""The hub killed with SIGKILL while an alarm is on its way to the ARC, then started again.

A real ``loneguard-hub run`` process has an ARC configured (encrypted, TCP); a device presses
panic and the shipped panic policy sends it to the ARC at once. The ARC's receiver here reads
every message with pysiaalarm's own receiver code (``BaseSIAServer.parse_and_check_event``: CRC,
account, key, timestamp) and answers with pysiaalarm's own ACK, except the first message, whose
ack it holds: the hub is killed while it waits for it. Started again on the same database, the
hub must send the alarm again from the store with the same sequence number, and nothing else:
the ARC sees the event once, or the same sequence again, never a second event.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.base_server import BaseSIAServer
from pysiaalarm.utils import Counter

from loneguard.protocol.clock import SystemClock
from loneguard.protocol.messages import Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto
from tests.faults.harness import print_counts, wait_until

ACCOUNT = "AAA123"
KEY = ArcKey.from_characters("loneguard-kill-9")  # pysiaalarm takes the key as characters


class HoldingReceiver(BaseSIAServer):
    """An ARC receiver on a TCP port: pysiaalarm reads and answers each message; the first
    message's answer is held (the connection stays open, silent) until the test is done."""

    def __init__(self) -> None:
        account = SIAAccount(ACCOUNT, KEY.secret.decode("ascii"))
        super().__init__({ACCOUNT: account}, Counter())
        self.received: list[SIAEvent] = []
        self.arrived_s: list[float] = []  # monotonic time of each, for the printed figure
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, name="arc-receiver", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return  # the hub closed the connection (or was killed)
                buffer += data
                while b"\r" in buffer:
                    line, buffer = buffer.split(b"\r", 1)
                    event = self.parse_and_check_event(line + b"\r")
                    if not isinstance(event, SIAEvent):
                        continue
                    with self.lock:
                        self.received.append(event)
                        self.arrived_s.append(time.monotonic())
                        first = len(self.received) == 1
                    if first:
                        self._held.append(conn)
                        continue  # hold the ack: the hub waits for it until it is killed
                    conn.sendall(event.create_response())

    def close(self) -> None:
        self.listener.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    arc = HoldingReceiver()
    yield arc
    arc.close()


def write_config(tmp_path: Path, mosquitto: Mosquitto, port: int) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nreconnect_max = 1.0\ndemo = true\n\n'
        "[devices]\nrequire_provisioned = false\n\n"
        f'[db]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n\n'
        '[http]\nlisten = "127.0.0.1:0"\n\n'
        f'[arc]\nprimary = "127.0.0.1:{port}"\naccount = "{ACCOUNT}"\n'
        # A long ack time-out: the held ack must still be awaited when the kill comes.
        'ack_timeout = "60s"\nsupervision_interval = "0s"\n'
    )
    return config


def arc_rows(db: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT key, sequence, state FROM arc_messages ORDER BY id").fetchall()
    return [(str(k), int(s), str(state)) for k, s, state in rows]


def start_hub(config: Path) -> Child:
    hub = Child(
        "hub",
        python_module_command("loneguard.server.cli", "run", "--config", str(config)),
        env={"LONEGUARD_ARC_KEY": KEY.hex_digits()},
    )
    hub.wait_for_line("hub listening on ", timeout=30)
    return hub


def test_an_alarm_reaches_the_arc_once_across_a_kill_9(
    tmp_path: Path, mosquitto: Mosquitto, receiver: HoldingReceiver
) -> None:
    config = write_config(tmp_path, mosquitto, receiver.port)
    db = tmp_path / "hub.db"
    hub = start_hub(config)
    restarted: Child | None = None
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fault-device")
    try:
        device.connect(mosquitto.host, mosquitto.port)
        device.loop_start()
        panic = Event(new_event_id(), EventKind.PANIC, SystemClock().wall_ms(), 0)
        device.publish(str(DeviceTopic("unit-01", Channel.EVENT)), panic.encode(), qos=1)

        wait_until(lambda: len(receiver.received) == 1, "the panic at the ARC (its ack held)")
        hub.kill()  # SIGKILL mid-send: the message is stored, its ack never read
        before = arc_rows(db)
        restart_s = time.monotonic()
        restarted = start_hub(config)
        wait_until(lambda: [r[2] for r in arc_rows(db)] == ["acked"], "the resend acked", 60)
        restarted.stop()  # SIGTERM: anything else it would send is sent before it exits
    finally:
        device.loop_stop()
        device.disconnect()
        hub.kill()
        if restarted is not None:
            restarted.kill()

    seen = [(e.sequence, e.event_qualifier, e.event_type, e.account) for e in receiver.received]
    sequences = {sequence for sequence, *_ in seen}
    print_counts("hub kill -9 mid-ARC-send", 1, len(sequences), len(seen) - len(sequences))
    print(f"resent {receiver.arrived_s[-1] - restart_s:.2f} s after the restart began")
    (key, sequence, _), *others = before
    assert key.startswith("alarm:") and key.endswith(":open") and others == []
    assert before[0][2] == "pending"  # stored before it was sent; not acked when killed
    # The ARC saw one event: the first copy, and the same sequence number again.
    assert seen == [(f"{sequence:04d}", "1", "120", ACCOUNT)] * 2
    assert all(e.encrypted for e in receiver.received)
    assert arc_rows(db) == [(key, sequence, "acked")]
