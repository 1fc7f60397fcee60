"""``loneguard-demo``: a broker, the hub and three simulated devices on this machine.

Prints the console/API address, a ready-made admin token and how to press a button. Ctrl-C (or
SIGTERM) stops every process it started; children also die with it if it is killed outright.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from loneguard.server.devtools.children import Child, python_module_command
from loneguard.server.devtools.private_broker import (
    Mosquitto,
    free_port,
    mosquitto_binary,
    wait_for_port,
)

DEVICE_IDS = ("demo-1", "demo-2", "demo-3")

# Fictional people with numbers from Ofcom's range reserved for drama, so nothing real is rung.
DEMO_WORKERS = (
    {
        "id": "ana",
        "name": "Ana Lopez",
        "mobile": "+447700900101",
        "home_phone": "+447700900201",
        "line_manager": "sam",
    },
    {
        "id": "ben",
        "name": "Ben Okafor",
        "mobile": "+447700900102",
        "home_phone": "+447700900202",
        "line_manager": "sam",
    },
    {
        "id": "cara",
        "name": "Cara Singh",
        "mobile": "+447700900103",
        "home_phone": "+447700900203",
        "line_manager": "sam",
    },
    {"id": "sam", "name": "Sam Reid", "mobile": "+447700900100"},
)

# Short timings so a person trying the demo sees a pre-alert and an overdue ladder in minutes.
DEMO_CONFIG = """\
[sessions]
grace = "1m"
prealert = "1m"

[escalation]
admins = ["Office: +447700900001"]
"""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="loneguard-demo", description=__doc__)
    parser.add_argument("--data-dir", default="data/demo", help="where the demo keeps its files")
    parser.add_argument("--http-port", type=int, default=8080, help="hub console/API port (0: any)")
    parser.add_argument("--devices", type=int, default=len(DEVICE_IDS), choices=range(1, 10))
    return parser.parse_args(argv)


def _start_broker(data_dir: Path) -> tuple[str, Mosquitto | Child]:
    if mosquitto_binary() is not None:
        broker = Mosquitto(workdir=data_dir / "broker", persistent=True).start()
        return broker.url, broker
    print(
        "WARNING: no mosquitto binary found; using the embedded amqtt broker instead.\n"
        "         It is for this demo only: install Debian's 'mosquitto' package for real use.",
        flush=True,
    )
    port = free_port()
    child = Child(
        "broker", python_module_command("loneguard.server.devtools.embedded_broker", str(port))
    )
    wait_for_port("127.0.0.1", port, timeout=20)
    return f"mqtt://127.0.0.1:{port}", child


def _hub_command(env: dict[str, str], what: str, *args: str, stdin: str | None = None) -> str:
    """Run ``loneguard-hub ARGS`` on the demo's database; its stdout, or RuntimeError naming
    ``what`` could not be made."""
    result = subprocess.run(
        python_module_command("loneguard.server.cli", *args),
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"could not create {what}: {result.stderr.strip()}")
    return result.stdout


def _create_token(env: dict[str, str]) -> str:
    out = _hub_command(env, "a demo token", "token", "create", "--name", "demo", "--role", "admin")
    return out.strip().splitlines()[-1]


def _console_login(env: dict[str, str], data_dir: Path) -> tuple[str, str]:
    """The demo's console login: made on the first run, its password kept in the data folder."""
    name = "admin"
    saved = data_dir / "console-password.txt"
    if saved.exists():
        return name, saved.read_text().strip()
    password = secrets.token_urlsafe(12)
    _hub_command(
        env,
        "the demo's console login",
        *("user", "create", "--name", name, "--role", "admin"),
        stdin=password + "\n",
    )
    saved.touch(mode=0o600)
    saved.write_text(password + "\n")
    return name, password


def _api(hub_url: str, token: str, method: str, path: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"{hub_url}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _seed_people(hub_url: str, token: str, device_ids: tuple[str, ...]) -> None:
    """Workers, a line manager and one device each, as an office would set them up."""
    for worker in DEMO_WORKERS:
        _api(hub_url, token, "PUT", f"/api/workers/{worker['id']}", dict(worker))
    for device_id, worker in zip(device_ids, DEMO_WORKERS, strict=False):
        _api(hub_url, token, "PUT", f"/api/devices/{device_id}", {"worker_id": worker["id"]})


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    http_port = args.http_port or free_port()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    started: list[Mosquitto | Child] = []
    try:
        mqtt_url, broker = _start_broker(data_dir)
        started.append(broker)
        config_path = data_dir / "hub.toml"
        config_path.write_text(DEMO_CONFIG)
        env = {
            "LONEGUARD_CONFIG": str(config_path),
            "LONEGUARD_MQTT_URL": mqtt_url,
            "LONEGUARD_MQTT_DEMO": "true",  # the demo says it is one: its broker is open
            "LONEGUARD_REQUIRE_PROVISIONED": "false",  # simulated devices
            "LONEGUARD_DB_URL": f"sqlite:///{data_dir / 'hub.db'}",
            "LONEGUARD_HTTP": f"127.0.0.1:{http_port}",
        }
        token = _create_token(env)
        login, password = _console_login(env, data_dir)
        hub = Child("hub", python_module_command("loneguard.server.cli", "run"), env)
        started.append(hub)
        hub_line = hub.wait_for_line("hub listening on ", timeout=30)
        hub_url = hub_line.removeprefix("hub listening on ").strip()
        device_ids = DEVICE_IDS[: args.devices]
        _seed_people(hub_url, token, device_ids)

        controls: dict[str, str] = {}
        for device_id in device_ids:
            device = Child(
                device_id,
                python_module_command(
                    "loneguard.device.cli",
                    "--simulate",
                    "--id",
                    device_id,
                    "--mqtt",
                    mqtt_url,
                    "--data-dir",
                    str(data_dir / "devices" / device_id),
                    "--control",
                    "127.0.0.1:0",
                ),
            )
            started.append(device)
            line = device.wait_for_line("control endpoint: ", timeout=30)
            controls[device_id] = line.removeprefix("control endpoint: ").strip()

        first = next(iter(controls))
        print(
            "\nloneguard demo is running\n"
            f"  broker:   {mqtt_url}\n"
            f"  console:  {hub_url}/  (log in as {login}, password {password})\n"
            f"  API:      {hub_url}/api/health\n"
            f"  token:    {token}\n"
            + "".join(f"  device {d}: {url}/  (JSON: {url}/state)\n" for d, url in controls.items())
            + "  (each device's page shows the unit: click its buttons, watch its LED)\n"
            + "\nTry it:\n"
            f"  curl -X POST {controls[first]}/buttons/checkin/press\n"
            f"  curl -X POST '{controls[first]}/buttons/panic/hold?seconds=3.2'\n"
            f"  curl -H 'Authorization: Bearer {token}' {hub_url}/api/alarms?state=open\n"
            f"  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' "
            f'-d \'{{"worker_id":"ana","minutes":2,"accompanied":true}}\' '
            f"{hub_url}/api/sessions   # a 2-minute visit: pre-alert, then due, then the ladder\n"
            "\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping.is_set():
            for child in started:
                if isinstance(child, Child) and child.process.poll() is not None:
                    tail = "\n".join(child.output[-20:])
                    print(f"{child.name} stopped unexpectedly:\n{tail}", file=sys.stderr)
                    return 1
            stopping.wait(0.5)
        return 0
    except (RuntimeError, TimeoutError, FileNotFoundError) as exc:
        print(f"loneguard-demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(started):
            child.stop()
        print("loneguard demo stopped; nothing left running.", flush=True)
