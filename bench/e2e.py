"""Panic pressed on a unit → hub → the office: the alarm SMS at the modem, and the console's
live event, each beside its own baseline from the same run.

A device process with simulated pins (``loneguard-device --simulate``, driven over its control
endpoint as ``bench.footprint`` drives it) holds panic; a hub process (as in production,
SQLite synchronous=FULL) has a fake modem on a pty as its GSM modem (``[modem] port``) and an
office admin with a mobile, so the shipped panic policy texts them at once. Two end points,
each timed from the panic's own ``ts`` (the unit's wall clock as it recognised the hold):

- ``sms_*``: the alarm SMS whole at the modem: the Ctrl-Z of its last AT+CMGS body, as the fake
  modem records it (``FakeModem.submissions``), matched to the alarm by its ``ACK <id>``.
- ``stream_*``: the alarm's first ``alarm_notification`` on the console's live stream
  (``/console/stream``), read by an HTTP client in this process logged in as a console user.
- ``sms_after_stream_*``: each alarm's SMS time less its own stream time: what the SMS path
  adds once the alarm is stored and its ladder begun.

Baselines in the same run: ``raw_*``, a Mosquitto QoS 1 round trip between two clients (what
the unit's publish alone costs); ``bare_sms_*``, the same texts the hub sent, written by the
modem driver (``Modem.send_long_sms``, as the hub's SMS channel calls it) straight to a second
fake modem, timed to the same Ctrl-Z.

The fake modem answers at once: it models no module or network delay, so ``sms_*`` is the
hub's own path to the modem, not delivery to a phone. That path includes waiting for the modem
itself, which the hub's SMS gateway shares while it listens for replies; the bare baseline's
driver has no such listener. One panic at a time, as a person presses;
each alarm is resolved through the API before the next press. A second panic while one is open
would open an alarm of its own (each panic event is its own alarm), but the open one's ladder
would text again every 2 minutes and its SMS would queue beside the next panic's: resolving
keeps the hub at one open alarm, as an office answering each would. The unit's panic hold is
shortened to its minimum (``timing.hold_time`` 0.5 s) only to make the run shorter: the time
is counted from the moment the hold is recognised.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx

from bench.common import hub_child, machine_line, wait_for
from bench.latency import _summary, raw_round_trips
from loneguard.gsm.fake import FakeModem, Submission
from loneguard.gsm.fake_pdu import SentMessage
from loneguard.gsm.modem import Modem
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.config import load_config
from loneguard.server.console.users import create_user
from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store import Role, Worker, open_store

DEVICE_ID = "e2e-1"
OFFICE_MOBILE = "+447700900123"
CONSOLE_USER = "bench"
CONSOLE_PASSWORD = "a long enough bench password"
HOLD_TIME_S = 0.5  # the shortest panic hold the unit's config takes
WAIT_S = 10.0  # for each end point; a panic not seen by then fails the run
WARMUP = 3
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FRAME_DATA = re.compile(r'"alarm_id":(\d+)')


def seed(db: Path) -> str:
    """The worker holding the unit and a console user, before the hub starts; returns an API
    token (admin) to resolve alarms with."""
    config = load_config(
        env={"LONEGUARD_DB_URL": f"sqlite:///{db}", "LONEGUARD_REQUIRE_PROVISIONED": "false"}
    )
    now_ms = int(time.time() * 1000)
    store = open_store(config.db.url, lambda: now_ms)
    try:
        store.save_worker(Worker(id="w1", name="Bench Worker")).result(timeout=30)
        store.assign_device(DEVICE_ID, "w1").result(timeout=30)
        create_user(store, CONSOLE_USER, Role.ADMIN, CONSOLE_PASSWORD, now_ms)
        token = new_token()
        store.create_token("bench", Role.ADMIN, hash_token(token), now_ms).result(timeout=30)
    finally:
        store.close()
    return token


def hub_config(folder: Path, modem_path: str) -> Path:
    path = folder / "hub.toml"
    path.write_text(
        "[modem]\n"
        f'port = "{modem_path}"\n'
        "calls = false\n"
        "[escalation]\n"
        f'admins = ["Office: {OFFICE_MOBILE}"]\n'
    )
    return path


def device_child(broker: Mosquitto, folder: Path) -> tuple[Child, str]:
    """The unit as its own process with simulated pins; returns it and its control URL."""
    config = folder / "device.toml"
    config.write_text(f"[timing]\nhold_time = {HOLD_TIME_S}\n")
    device = Child(
        "device",
        python_module_command(
            "loneguard.device.cli",
            "--simulate",
            "--config",
            str(config),
            "--id",
            DEVICE_ID,
            "--mqtt",
            broker.url,
            "--data-dir",
            str(folder / "device"),
            "--control",
            "127.0.0.1:0",
        ),
    )
    line = device.wait_for_line("control endpoint: ", timeout=60)
    return device, line.removeprefix("control endpoint: ").strip()


class ConsoleStream:
    """The console's live stream, read on a thread: (arrival, alarm id) of each alarm's first
    ``alarm_notification``, in order."""

    def __init__(self, client: httpx.Client) -> None:
        self.alarms: Queue[tuple[float, int]] = Queue()
        self._seen: set[int] = set()
        self._client = client
        self._open = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, name="console-stream", daemon=True)

    def start(self) -> ConsoleStream:
        self._thread.start()
        if not self._open.wait(30):
            raise RuntimeError("the console's live stream did not open")
        return self

    def close(self) -> None:
        self._closing.set()
        self._client.close()  # ends the read under way
        self._thread.join(10)

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/console/stream", timeout=None) as response:
                response.raise_for_status()
                self._open.set()
                self._frames(response.iter_lines())
        except Exception:
            if not self._closing.is_set():
                raise

    def _frames(self, lines: Iterator[str]) -> None:
        kind = ""
        for line in lines:
            arrived = time.time()
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "alarm_notification":
                match = FRAME_DATA.search(line)
                if match is not None and int(match.group(1)) not in self._seen:
                    self._seen.add(int(match.group(1)))
                    self.alarms.put((arrived, int(match.group(1))))

    def next_alarm(self) -> tuple[float, int]:
        try:
            return self.alarms.get(timeout=WAIT_S)
        except Empty:
            raise RuntimeError("no alarm reached the console's live stream") from None


def console_login(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    page = client.get("/login")
    match = CSRF.search(page.text)
    if match is None:
        raise RuntimeError("the console's login page has no CSRF field")
    answer = client.post(
        "/login",
        data={"name": CONSOLE_USER, "password": CONSOLE_PASSWORD, "csrf": match.group(1)},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"console login answered {answer.status_code}")
    return client


def sms_for(modem: FakeModem, alarm_id: int) -> Submission:
    """The Ctrl-Z that completed the alarm's SMS (its text carries ``ACK <id>``)."""
    ack = re.compile(rf"\bACK {alarm_id}\b")

    def found() -> Submission | None:
        return next(
            (s for s in modem.submissions if s.completed and ack.search(s.completed.text)), None
        )

    wait_for(lambda: found() is not None, WAIT_S, f"alarm {alarm_id}'s SMS at the modem")
    submission = found()
    assert submission is not None
    return submission


@dataclass
class PanicTimes:
    sms_ms: list[float]
    stream_ms: list[float]
    messages: list[SentMessage]  # each alarm's SMS as the modem took it, for the bare baseline


def press_panics(
    unit: httpx.Client, stream: ConsoleStream, modem: FakeModem, api: httpx.Client, n: int
) -> PanicTimes:
    """``n`` panics (after ``WARMUP`` more), one at a time, each alarm resolved before the
    next; ms from each press's ``ts`` to its SMS at the modem and to its console event."""
    times = PanicTimes([], [], [])
    for i in range(n + WARMUP):
        (event_id,) = unit.post("/buttons/panic/hold").json()["events"]
        made = unit.get("/state").json()["events"]
        pressed_ms = next(e["ts"] for e in made if e["id"] == event_id)
        streamed_at, alarm_id = stream.next_alarm()
        submission = sms_for(modem, alarm_id)
        assert submission.completed is not None
        answer = api.post(
            f"/api/alarms/{alarm_id}/resolve",
            json={"outcome": "bench", "notes": "a benchmark's panic, resolved at once"},
        )
        answer.raise_for_status()
        if i >= WARMUP:
            times.sms_ms.append(submission.at * 1000 - pressed_ms)
            times.stream_ms.append(streamed_at * 1000 - pressed_ms)
            times.messages.append(submission.completed)
    return times


def bare_sms(messages: list[SentMessage]) -> list[float]:
    """Each message written by the modem driver straight to a fake modem: ms from the call to
    its last Ctrl-Z."""
    samples: list[float] = []
    with FakeModem(now=time.time) as fake, Modem(fake.path, sweep_interval=None) as modem:
        modem.initialise()
        for message in messages:
            started = time.time()
            modem.send_long_sms(message.number, message.text)
            samples.append((fake.submissions[-1].at - started) * 1000)
    return samples


def _hub_url(hub: Child) -> str:
    line = next(line for line in hub.output if line.startswith("hub listening on "))
    return line.removeprefix("hub listening on ").strip()


def run(n: int | None = None, verbose: bool = True) -> dict[str, Any]:
    n = n or 50
    with (
        tempfile.TemporaryDirectory(prefix="loneguard-bench-") as tmp,
        Mosquitto() as broker,
        FakeModem(now=time.time) as hub_modem,
    ):
        folder = Path(tmp)
        raw = raw_round_trips(broker, n)
        api_token = seed(folder / "hub.db")
        config = hub_config(folder, hub_modem.path)
        hub = hub_child(broker, folder / "hub.db", {"LONEGUARD_CONFIG": str(config)})
        try:
            if not hub_modem.wait_for_command("AT+CNMI", timeout=30):
                raise RuntimeError("the hub did not set its modem up")
            url = _hub_url(hub)
            device, control = device_child(broker, folder)
            try:
                with (
                    httpx.Client(base_url=control, timeout=30) as unit,
                    httpx.Client(
                        base_url=url,
                        timeout=30,
                        headers={"Authorization": f"Bearer {api_token}"},
                    ) as api,
                ):
                    wait_for(
                        lambda: unit.get("/state").json()["hub_online"] is True,
                        30,
                        "the unit to see the hub online",
                    )
                    stream = ConsoleStream(console_login(url)).start()
                    try:
                        times = press_panics(unit, stream, hub_modem, api, n)
                    finally:
                        stream.close()
            finally:
                device.stop()
        finally:
            hub.stop()
    bare = bare_sms(times.messages)
    result: dict[str, Any] = {
        "benchmark": "e2e",
        "n": n,
        **_summary("raw", raw),
        **_summary("bare_sms", bare),
        **_summary("sms", times.sms_ms),
        **_summary("stream", times.stream_ms),
        # Each alarm's SMS after its own console event: the SMS path beyond the shared start
        # (alarm stored, ladder begun), which the machine's load moves far less than either.
        **_summary(
            "sms_after_stream",
            [sms - stream for sms, stream in zip(times.sms_ms, times.stream_ms, strict=True)],
        ),
        "sms_parts_max": max(m.parts for m in times.messages),
        "machine": machine_line(),
    }
    if verbose:
        print(
            f"panic → SMS at the modem p50 {result['sms_p50_ms']} p99 {result['sms_p99_ms']} ms "
            f"(bare driver write p99 {result['bare_sms_p99_ms']} ms); → console stream p50 "
            f"{result['stream_p50_ms']} p99 {result['stream_p99_ms']} ms (raw MQTT QoS 1 "
            f"round trip p99 {result['raw_p99_ms']} ms)"
        )
    return result
