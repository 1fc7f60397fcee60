"""Two real hub processes on one PostgreSQL and one Mosquitto, sharing the work.

Ingest is shared through an MQTT shared subscription and timed work through leases in the
database. The hubs run on the real clock (they are separate processes), so the timings are
short and every wait is on a condition with a timeout. Each test prints what was sent and what
arrived.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from loneguard.device.link import MqttLink
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, DeviceState, Event, EventKind, HubStatus
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import SessionKind, Worker
from loneguard.server.store.postgres import PostgresStore
from tests.device.helpers import RecordingListener, make_config
from tests.server.escalation.notify.test_apprise_channel import Receiver
from tests.server.rig import overdue_ladder_toml

HUB = Path(sys.executable).with_name("loneguard-hub")
ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 3.0
POLL_S = 0.5
STEP_GAP_S = 3  # seconds between ladder steps: room to kill a hub between two sends
STEPS = 6

CONFIG = f"""
[mqtt]
shared_group = "loneguard-hub"
keepalive = 5

[sessions]
grace = "1s"
prealert = "0s"
offline_after = "1h"

[escalation]
admins = ["worker:boss"]

[cluster]
lease = {LEASE_S}
poll = {POLL_S}

{overdue_ladder_toml([i * STEP_GAP_S for i in range(STEPS)], "admins", "apprise")}"""


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class HubProcess:
    name: str
    process: subprocess.Popen[str]
    url: str = ""
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def metric(self, name: str) -> int:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(int(float(v)) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def start_hub(name: str, env: dict[str, str]) -> HubProcess:
    process = subprocess.Popen(
        [str(HUB), "run"],
        env={**env, "LONEGUARD_MQTT_CLIENT_ID": name},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    hub = HubProcess(name, process)
    assert process.stdout is not None
    out = process.stdout
    threading.Thread(target=lambda: [hub.lines.put(x) for x in out], daemon=True).start()
    deadline = time.monotonic() + 30
    said: list[str] = []
    while not hub.url:
        try:
            line = hub.lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is None and time.monotonic() < deadline:
                continue
            raise AssertionError(f"{name} did not start; it said:\n{''.join(said)}") from None
        said.append(line)
        found = re.search(r"hub listening on (http://\S+)", line)
        if found:
            hub.url = found.group(1)
    return hub


@pytest.fixture
def hubs(
    mosquitto: Mosquitto, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[HubProcess], PostgresStore, Receiver]]:
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    store = PostgresStore(pg_url, now_ms=lambda: int(time.time() * 1000))
    store.save_worker(Worker("boss", "Office", apprise_urls=(receiver.url,))).result()
    store.save_worker(Worker("ann", "Ann")).result()
    config = tmp_path / "hub.toml"
    config.write_text(CONFIG)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LONEGUARD_CONFIG": str(config),
        "LONEGUARD_MQTT_URL": mosquitto.url,
        "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
        "LONEGUARD_REQUIRE_PROVISIONED": "false",
        "LONEGUARD_DB_URL": pg_url,
        "LONEGUARD_HTTP": "127.0.0.1:0",
    }
    started: list[HubProcess] = []
    try:
        for name in ("hub-a", "hub-b"):
            started.append(start_hub(name, env))
        yield started, store, receiver
    finally:
        for hub in started:
            if hub.process.poll() is None:
                hub.process.terminate()
        for hub in started:
            try:
                hub.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                hub.process.kill()
                hub.process.wait()
        store.close()
        receiver.shutdown()
        receiver.server_close()


def test_a_burst_from_many_devices_is_stored_once_and_acked(
    hubs: tuple[list[HubProcess], PostgresStore, Receiver], mosquitto: Mosquitto
) -> None:
    processes, store, _ = hubs
    devices, per_device = 20, 25
    acked: Counter[str] = Counter()
    lock = threading.Lock()
    clients = []

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            acked[Ack.decode(message.payload).ref] += 1

    subscribed: set[str] = set()

    def on_subscribe(client: mqtt.Client, device_id: str, *_: object) -> None:
        with lock:
            subscribed.add(device_id)

    sent: list[str] = []
    for d in range(devices):
        device_id = f"dev-{d:03d}"
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=device_id, userdata=device_id
        )
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        client.subscribe(str(DeviceTopic(device_id, Channel.ACK)), 1)
        clients.append((device_id, client))
    wait_for("the devices' ack subscriptions", lambda: len(subscribed) == devices)
    for seq in range(per_device):
        for device_id, client in clients:
            event = Event(str(uuid.uuid4()), EventKind.CHECKIN, int(time.time() * 1000), seq=seq)
            sent.append(event.id)
            client.publish(str(DeviceTopic(device_id, Channel.EVENT)), event.encode(), qos=1)
    try:
        wait_for("every event's ack", lambda: set(acked) >= set(sent), timeout=90)
        stored = store.events(limit=10 * len(sent))
        handled = {p.name: p.metric("loneguard_events_total") for p in processes}
        print(
            f"\nsent {len(sent)} events from {devices} devices; stored {len(stored)};"
            f" acks received {sum(acked.values())} for {len(acked)} ids; handled per hub {handled}"
        )
        assert sorted(e.id for e in stored) == sorted(sent)  # each stored once
        assert set(acked) == set(sent)
        assert sum(handled.values()) == len(sent)  # each handled by one hub, once
        assert all(n > 0 for n in handled.values()), "the shared subscription split nothing"
    finally:
        for _, client in clients:
            client.loop_stop()
            client.disconnect()


def test_ladder_steps_are_sent_once_and_a_killed_hub_is_taken_over(
    hubs: tuple[list[HubProcess], PostgresStore, Receiver], mosquitto: Mosquitto
) -> None:
    processes, store, receiver = hubs
    statuses: list[DeviceState] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda _c, _u, m: statuses.append(HubStatus.decode(m.payload).state)
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.loop_start()
    watcher.subscribe(HUB_STATUS_TOPIC, 1)
    try:
        run_the_ladder(processes, store, receiver, statuses)
    finally:
        watcher.loop_stop()
        watcher.disconnect()


def run_the_ladder(
    processes: list[HubProcess],
    store: PostgresStore,
    receiver: Receiver,
    statuses: list[DeviceState],
) -> None:
    now = int(time.time() * 1000)
    plan = SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="ann",
        device_id="dev-visit",
        started_ms=now,
        grace_s=1,
        prealert_s=0,
        expected_end_ms=now + 1000,
    )
    # Started behind both hubs' backs (as by a hub that then died): only the sweep can find it.
    session = store.start_session(plan, "test").result()

    def steps_seen() -> list[str]:
        # Each message is the alarm's facts around the step's guidance ("Now: step 2").
        texts = [str(b["message"]) for b in list(receiver.bodies)]
        return [t.split("Now: ", 1)[-1].splitlines()[0] for t in texts]

    wait_for("step 1 of the overdue ladder", lambda: "step 1" in steps_seen(), timeout=60)
    [alarm] = [a for a in store.alarms() if a.session_id == session.id]

    def step_recorded(step: int) -> bool:
        rows = [n for n in store.notifications(alarm.id) if n.step == step]
        return bool(rows) and all(n.state == "sent" for n in rows)

    # A send recorded as done is never repeated; one cut off between the send and its record
    # would be sent again by the hub that takes over (at least once). Kill after the record.
    wait_for("step 1's delivery on record", lambda: step_recorded(1))
    holder = store.alarm(alarm.id)
    owner = _lease_owner(store, alarm.id)
    victim = next(p for p in processes if p.name == owner)
    survivor = next(p for p in processes if p.name != owner)
    assert holder is not None and holder.state == "open"
    killed_at = time.monotonic()
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)

    wait_for("step 2 after the kill", lambda: "step 2" in steps_seen(), timeout=60)
    carried_on_s = time.monotonic() - killed_at
    wait_for(f"the last step ({STEPS - 1})", lambda: f"step {STEPS - 1}" in steps_seen(), 60)
    wait_for("every step on record", lambda: all(step_recorded(i) for i in range(STEPS)))
    seen = Counter(steps_seen())
    print(
        f"\nladder: {STEPS} steps expected, {sum(seen.values())} sends received {dict(seen)};"
        f" {victim.name} killed after step 1, {survivor.name} sent the next step"
        f" {carried_on_s:.1f} s later (lease {LEASE_S:g} s, poll {POLL_S:g} s)"
    )
    assert seen == Counter(f"step {i}" for i in range(STEPS))  # each step once, none lost
    assert _lease_owner(store, alarm.id) == survivor.name
    said = "".join(survivor.lines.queue)  # the lines since it started
    assert f"alarm {alarm.id}: taking its ladder over" in said  # by its sweep, as the lease ran out
    assert {b["title"] for b in receiver.bodies} == {f"loneguard alarm {alarm.id}"}

    # The killed hub's last will says "offline" on the retained hub/status; the live hub says
    # "online" over it, so devices keep talking to the hub that is there.
    def will_answered() -> bool:
        seen = list(statuses)
        return (
            DeviceState.OFFLINE in seen
            and seen[-1] == DeviceState.ONLINE
            and (seen.index(DeviceState.OFFLINE) < len(seen) - 1)
        )

    wait_for("the last will, answered by the live hub", will_answered, timeout=30)
    print(f"hub/status seen: {[str(s) for s in statuses]}")


def _lease_owner(store: PostgresStore, alarm_id: int) -> str | None:
    row = store.write(
        lambda conn: conn.execute(
            "SELECT lease_owner FROM alarms WHERE id = ?", (alarm_id,)
        ).fetchone()
    ).result()
    return None if row is None else row[0]


class Outbox(RecordingListener):
    """The device's side of delivery: events stay pending until their ack comes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.acked: set[str] = set()

    def add(self, event: Event) -> None:
        with self._lock:
            self.pending.append(event)

    def pending_events(self) -> list[Event]:
        with self._lock:
            return list(self.pending)

    def on_ack(self, ack: Ack) -> None:
        with self._lock:
            self.acked.add(ack.ref)
            self.pending = [e for e in self.pending if e.id != ack.ref]


HEARTBEAT_S = 10.0  # the device's heartbeat interval, on its fake clock
MAX_BEATS = 12  # heartbeats the device may need after the kill before every event is stored


def test_events_held_for_a_killed_hub_reach_the_live_one_without_its_restart(
    hubs: tuple[list[HubProcess], PostgresStore, Receiver],
    mosquitto: Mosquitto,
    tmp_path: Path,
) -> None:
    """The broker goes on handing part of a shared group's messages to a dead member's offline
    session and holds them there. The device sends its unacked events again when a hub announces
    itself on ``hub/status`` and at each heartbeat while they stay unacked, so every event is
    stored by the live hub within a few heartbeats; the dead hub is never restarted."""
    processes, store, _ = hubs
    victim, survivor = processes
    config = make_config(
        tmp_path / "device",
        device={"id": "unit-07"},
        mqtt={"url": mosquitto.url, "reconnect_max_delay": 1},
        timing={"heartbeat_interval": HEARTBEAT_S},
    )
    clock = FakeClock()
    outbox = Outbox()
    link = MqttLink(config, clock)
    link.start(outbox, boot=1)
    try:
        wait_for("the device's connection", outbox.up.is_set)
        wait_for("the hubs' online status", lambda: link.hub_online is True)
        # Stopped, the victim still holds its connection: the broker hands it its share of the
        # events, which it never acks. Then it dies with them in flight.
        os.kill(victim.process.pid, signal.SIGSTOP)
        events = [
            Event(str(uuid.uuid4()), EventKind.CHECKIN, clock.wall_ms(), seq=n) for n in range(10)
        ]
        for event in events:
            outbox.add(event)
            link.publish_event(event)
        wait_for("the live hub's share of the acks", lambda: len(outbox.acked) >= 3)
        before_kill = len(outbox.acked)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(timeout=10)
        assert before_kill < len(events), "the stopped hub was handed none of the events"

        def stored() -> set[str]:
            return {e.id for e in store.events(limit=100, device_id="unit-07")}

        # The victim's last will, answered by the survivor's "online": the device sends its
        # unacked events again with its clock standing still, and the survivor stores some.
        wait_for(
            "events stored after the survivor's announcement",
            lambda: len(stored()) > before_kill,
        )
        after_announcement = len(stored())
        beats = 0
        while stored() != {e.id for e in events} and beats < MAX_BEATS:
            clock.advance(HEARTBEAT_S)
            beats += 1
            try:  # a resend the broker handed to the dead session again waits for the next beat
                wait_for("every event stored", lambda: stored() == {e.id for e in events}, 2.0)
            except AssertionError:
                continue
        print(
            f"\n{len(events)} events sent with {victim.name} stopped; {before_kill} acked before"
            f" it was killed, {after_announcement} stored after {survivor.name}'s announcement,"
            f" all {len(stored())} after {beats} heartbeats of {HEARTBEAT_S:g} s"
        )
        assert stored() == {e.id for e in events}, f"not all stored after {MAX_BEATS} beats"
        wait_for("every ack", lambda: outbox.acked == {e.id for e in events})
        assert victim.process.poll() is not None  # never restarted
        assert sorted(e.id for e in store.events(limit=100)) == sorted(e.id for e in events)
    finally:
        link.stop("done")
