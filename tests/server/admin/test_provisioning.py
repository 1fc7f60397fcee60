"""``loneguard-hub broker init`` / ``devices provision`` / ``devices revoke``, and the roster."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import stat
import tomllib
import uuid
from pathlib import Path

import pytest

from loneguard.device.config import load_config as load_device_config
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.admin.provisioning import HUB_USERNAME, BrokerDir, PasswordFile, hash_password
from loneguard.server.cli import main
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest
from loneguard.server.ingest.roster import NOT_PROVISIONED, REVOKED, DeviceRoster
from loneguard.server.store.sqlite import SqliteStore, SqlStore

needs_openssl = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.db"
    monkeypatch.delenv("LONEGUARD_CONFIG", raising=False)
    monkeypatch.setenv("LONEGUARD_DB_URL", f"sqlite:///{path}")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_hash_is_mosquittos_pbkdf2_sha512_format() -> None:
    salt = bytes(range(12))
    text = hash_password("secret", salt=salt)
    _, seven, iterations, salt_b64, digest_b64 = text.split("$")
    assert (seven, iterations) == ("7", "101")
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)
    assert hash_password("secret") != hash_password("secret")  # a fresh salt each time


@needs_openssl
def test_broker_init_prints_only_the_hub_url_and_keeps_it_on_a_second_run(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = BrokerDir(tmp_path / "broker")
    assert main(["broker", "init", "--broker-dir", str(broker.path), "--host", "localhost"]) == 0
    url = capsys.readouterr().out.strip()
    assert url.startswith(f"mqtt://{HUB_USERNAME}:") and url.endswith("@127.0.0.1:1883")
    assert PasswordFile(broker.passwd).users() == [HUB_USERNAME]
    for private in (broker.ca_key, broker.hub_env, broker.passwd, broker.server_key):
        assert mode(private) & 0o007 == 0, private
    assert mode(broker.ca_key) == 0o600

    assert main(["broker", "init", "--broker-dir", str(broker.path)]) == 0
    assert capsys.readouterr().out.strip() == url


def provision(tmp_path: Path, device_id: str, *extra: str) -> Path:
    out = tmp_path / f"{device_id}.toml"
    argv = ["devices", "provision", device_id, "--broker-dir", str(tmp_path / "broker")]
    assert main([*argv, "--mqtt-url", "mqtts://hub.example:8883", "--out", str(out), *extra]) == 0
    return out


def test_provision_writes_a_private_device_toml_the_device_accepts(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = provision(tmp_path, "van-7")
    captured = capsys.readouterr()
    assert captured.out == ""  # written to the file, so nothing secret on stdout
    assert mode(out) == 0o600
    data = tomllib.loads(out.read_text())
    assert data["device"]["id"] == "van-7"
    assert data["mqtt"]["username"] == "van-7"
    password = data["mqtt"]["password"]
    assert password not in captured.err

    config = load_device_config(out, env={})
    assert config.mqtt.tls and config.mqtt.host == "hub.example"
    assert config.mqtt.password == password

    # The password file holds a hash of exactly that password, never the password itself.
    passwd = (tmp_path / "broker" / "passwd").read_text()
    assert password not in passwd
    entry = next(line for line in passwd.splitlines() if line.startswith("van-7:"))
    _, _, _, salt, digest = entry.split(":", 1)[1].split("$")
    assert hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), 101) == (
        base64.b64decode(digest)
    )

    store = SqliteStore(db, now_ms=lambda: 0)
    try:
        secret = store.device_secret("van-7")
        assert secret is not None and len(secret) == 64
        assert config.sms.secret == secret.decode()  # the device signs with the hub's secret
        assert store.device_standings()["van-7"].provisioned
    finally:
        store.close()


def test_provision_without_out_prints_the_toml_only(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["devices", "provision", "van-8", "--broker-dir", str(tmp_path / "broker")]
    assert main([*argv, "--mqtt-url", "mqtt://127.0.0.1:1883"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["device"]["id"] == "van-8" and "ca_file" not in data["mqtt"]


def test_the_hub_account_and_bad_ids_cannot_be_provisioned(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in (HUB_USERNAME, "a/b", "+"):
        assert main(["devices", "provision", bad, "--broker-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().out == ""


def event_from(device_id: str, clock: FakeClock) -> tuple[str, bytes]:
    event = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    return str(DeviceTopic(device_id, Channel.EVENT)), event.encode()


class Publisher:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        self.sent.append(topic)


def run_ingest(
    store: SqlStore, clock: FakeClock, roster: DeviceRoster, *messages: tuple[str, bytes]
) -> Publisher:
    publisher = Publisher()

    async def go() -> None:
        ingest = Ingest(store, publisher, clock, Metrics(), refusal=roster.refusal)
        for topic, payload in messages:
            await ingest.handle(topic, payload)
        await ingest.drain()

    asyncio.run(go())
    return publisher


def test_revoke_removes_the_login_and_the_hub_refuses_the_device(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provision(tmp_path, "van-7")
    provision(tmp_path, "van-9")
    argv = ["devices", "revoke", "van-7", "--broker-dir", str(tmp_path / "broker")]
    assert main(argv) == 0
    assert "van-7" not in PasswordFile(tmp_path / "broker" / "passwd").users()
    assert "van-9" in PasswordFile(tmp_path / "broker" / "passwd").users()

    clock = FakeClock()
    store = SqliteStore(db, now_ms=clock.wall_ms)
    try:
        assert store.device_secret("van-7") is None  # its SMS no longer verifies either
        roster = DeviceRoster(store.device_standings, clock)
        sent = run_ingest(
            store, clock, roster, event_from("van-7", clock), event_from("van-9", clock)
        )
        assert sent.sent == [str(DeviceTopic("van-9", Channel.ACK))]
        assert [e.device_id for e in store.events()] == ["van-9"]
        assert [d.reason for d in store.dead_letters()] == [REVOKED]
        assert store.alarms() and all(a.device_id == "van-9" for a in store.alarms())
    finally:
        store.close()
    assert main(argv) == 0  # again: already revoked, still fine
    assert main(["devices", "revoke", "nobody", "--broker-dir", str(tmp_path / "b")]) == 1


def test_unprovisioned_devices_are_refused_only_when_configured(
    store: SqlStore, clock: FakeClock
) -> None:
    store.provision_device("known", "s" * 64, clock.wall_ms(), "test").result()
    strict = DeviceRoster(store.device_standings, clock, require_provisioned=True)
    assert strict.refusal("known") is None
    assert strict.refusal("stranger") == NOT_PROVISIONED
    assert DeviceRoster(store.device_standings, clock).refusal("stranger") is None


def test_the_roster_sees_a_revocation_within_its_refresh_time(
    store: SqlStore, clock: FakeClock
) -> None:
    store.provision_device("van-7", "s" * 64, clock.wall_ms(), "test").result()
    roster = DeviceRoster(store.device_standings, clock, refresh_s=2.0)
    assert roster.refusal("van-7") is None
    store.revoke_device("van-7", clock.wall_ms(), "test").result()
    clock.advance(2.0)
    assert roster.refusal("van-7") == REVOKED
    store.provision_device("van-7", "t" * 64, clock.wall_ms(), "test").result()  # re-provisioned
    clock.advance(2.0)
    assert roster.refusal("van-7") is None


def test_provision_writes_the_modem_port_and_the_hubs_number(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = provision(tmp_path, "van-9", "--hub-number", "+447700900555")
    config = load_device_config(out, env={})
    assert config.modem.port == "/dev/serial0"
    assert config.sms.hub_number == "+447700900555"
    assert config.sms.secret  # the SMS fallback works as written: no step left to the operator
    assert "+447700900555" not in capsys.readouterr().err


def test_provision_without_a_hub_number_says_the_fallback_is_missing(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_device_config(provision(tmp_path, "van-10"), env={})
    assert config.sms.hub_number is None and config.modem.port == "/dev/serial0"
    assert "no --hub-number" in capsys.readouterr().err


def test_provision_refuses_a_bad_hub_number(tmp_path: Path, db: Path) -> None:
    argv = ["devices", "provision", "van-11", "--broker-dir", str(tmp_path / "broker")]
    assert main([*argv, "--mqtt-url", "mqtt://127.0.0.1:1883", "--hub-number", "call me"]) == 1
