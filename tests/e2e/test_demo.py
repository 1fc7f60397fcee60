"""The demo as a person runs it: start, press a button over the control endpoint, Ctrl-C."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx

from loneguard.server.devtools.children import Child, python_module_command


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = task / "children"
            for child in map(int, children.read_text().split() if children.exists() else []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


SETTLE = 0.05  # a check-in is recognised this long after its release


def test_demo_runs_serves_a_press_within_a_second_and_stops_everything(tmp_path: Path) -> None:
    demo = Child(
        "demo",
        python_module_command(
            "loneguard.server.devtools.demo",
            "--http-port",
            "0",
            "--data-dir",
            str(tmp_path / "demo"),
        ),
    )
    try:
        demo.wait_for_line("Ctrl-C stops everything", timeout=60)
        text = "\n".join(demo.output)
        hub_url = re.search(r"console:\s+(\S+)/", text).group(1)  # type: ignore[union-attr]
        token = re.search(r"token:\s+(\S+)", text).group(1)  # type: ignore[union-attr]
        control = re.search(r"device demo-1: (\S+)/ ", text).group(1)  # type: ignore[union-attr]
        assert "<title>loneguard unit</title>" in httpx.get(f"{control}/", timeout=5).text
        assert "demo-3" in text

        pressed_at = time.monotonic()
        made = httpx.post(f"{control}/buttons/checkin/press", timeout=5).json()["events"]
        auth = {"Authorization": f"Bearer {token}"}
        while True:
            events = httpx.get(f"{hub_url}/api/events", headers=auth, timeout=5).json()
            if any(e["id"] == made[0] for e in events):
                break
            # A check-in is recognised once its release settles; from then on it must reach
            # the hub within a second.
            assert time.monotonic() - pressed_at < 1.0 + SETTLE, (
                "the press did not reach the hub in 1 s"
            )
            time.sleep(0.02)

        # The printed console login works: the board is served to it.
        login, password = re.search(r"log in as (\S+), password (\S+)\)", text).groups()  # type: ignore[union-attr]
        with httpx.Client(base_url=hub_url, timeout=5) as browser:
            form = browser.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            browser.post("/login", data={"csrf": csrf, "name": login, "password": password})
            board = browser.get("/console", follow_redirects=False)
            assert board.status_code == 200 and "Ana" in board.text

        devices = httpx.get(f"{hub_url}/api/devices", headers=auth, timeout=5).json()
        assert {d["id"]: d["worker_id"] for d in devices}["demo-1"] == "ana"
        visit = httpx.post(
            f"{hub_url}/api/sessions",
            headers=auth,
            json={"worker_id": "ana", "minutes": 2, "accompanied": True},
            timeout=5,
        )
        assert visit.status_code in (200, 201), visit.text
        assert visit.json()["device_id"] == "demo-1"

        started = _descendants(demo.process.pid)
        assert len(started) >= 5  # broker, hub, three devices
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in started if _alive(pid)], "the demo left processes behind"
    finally:
        demo.kill()


def test_a_demo_killed_with_sigkill_takes_everything_it_started_with_it(tmp_path: Path) -> None:
    demo = Child(
        "demo",
        python_module_command(
            "loneguard.server.devtools.demo",
            *("--http-port", "0", "--data-dir", str(tmp_path / "demo"), "--devices", "1"),
        ),
    )
    try:
        demo.wait_for_line("Ctrl-C stops everything", timeout=60)
        started = _descendants(demo.process.pid)
        assert len(started) >= 3  # broker, hub, one device
        demo.process.kill()  # no chance to clean up: the kernel tells the children
        demo.process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in started if _alive(pid)], "the killed demo left processes behind"
    finally:
        demo.kill()
