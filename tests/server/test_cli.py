from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from loneguard.protocol.messages import DeviceState, HubStatus
from loneguard.protocol.topics import HUB_STATUS_TOPIC
from loneguard.server.admin.tokens import hash_token
from loneguard.server.cli import main
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.store.sqlite import SqliteStore


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "hub.db"
    monkeypatch.delenv("LONEGUARD_CONFIG", raising=False)
    monkeypatch.setenv("LONEGUARD_DB_URL", f"sqlite:///{db}")
    return db


def test_token_create_prints_only_the_token_and_stores_its_hash(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--name", "Office", "--role", "manager"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    token = out.strip()
    store = SqliteStore(env, now_ms=lambda: 0)
    try:
        found = store.token_by_hash(hash_token(token))
        assert found is not None and (found.name, found.role) == ("Office", "manager")
        # The store's reader becomes public with the schema change (console tables in the store).
        with store.read() as conn:
            stored = [r[0] for r in conn.execute("SELECT token_hash FROM api_tokens")]
        assert token not in stored
    finally:
        store.close()


def test_migrate(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0
    assert env.exists()
    assert capsys.readouterr().out == ""


def test_config_errors_name_the_key_and_exit_2(
    tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LONEGUARD_HTTP", "no-port")
    assert main(["migrate"]) == 2
    assert "http.listen" in capsys.readouterr().err

    monkeypatch.delenv("LONEGUARD_HTTP")
    config = tmp_path / "hub.toml"
    config.write_text('[mqtt]\nurll = "x"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert "mqtt.urll: unknown key" in capsys.readouterr().err

    monkeypatch.setenv("LONEGUARD_DB_URL", "postgresql://hub:s3cret@127.0.0.1:1/lg")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "db.url: cannot connect to postgresql://hub:***@127.0.0.1:1/lg" in err
    assert "s3cret" not in err


def test_run_prints_its_address_and_stops_cleanly_on_sigterm(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    statuses: queue.Queue[HubStatus] = queue.Queue()
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    watcher.on_message = lambda _c, _u, m: statuses.put(HubStatus.decode(m.payload))
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.loop_start()
    watcher.subscribe(HUB_STATUS_TOPIC, 1)
    env = {
        "LONEGUARD_MQTT_URL": mosquitto.url,
        "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
        "LONEGUARD_REQUIRE_PROVISIONED": "false",
        "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "LONEGUARD_HTTP": "127.0.0.1:0",
        "PATH": "/usr/bin:/bin",
    }
    code = "import sys; from loneguard.server.cli import main; sys.exit(main(sys.argv[1:]))"
    hub = subprocess.Popen(
        [sys.executable, "-c", code, "run"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert hub.stdout is not None
        threading.Thread(target=lambda: [lines.put(x) for x in hub.stdout], daemon=True).start()  # type: ignore[union-attr]
        first = lines.get(timeout=15)
        assert first.startswith("hub listening on http://127.0.0.1:")
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=15) == 0
        seen = [statuses.get(timeout=10).state]
        while seen[-1] != DeviceState.OFFLINE:
            seen.append(statuses.get(timeout=10).state)
        assert DeviceState.ONLINE in seen
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        watcher.loop_stop()
        watcher.disconnect()
