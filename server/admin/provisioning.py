"""Broker accounts, certificates and device credentials: ``broker init``, ``devices provision``.

The broker state folder (``--broker-dir``, /etc/loneguard/broker by default) holds what the
shipped ``broker/mosquitto.conf`` names: the password file, the CA and the server certificate.
Everything here is generated on the hub and never committed.

Passwords are hashed here, in Mosquitto 2.0's own ``$7$`` format (PBKDF2-SHA512), so provisioning
needs no ``mosquitto_passwd`` binary; certificates are made with the ``openssl`` command.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import grp
import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from loneguard.protocol.topics import check_device_id

HUB_USERNAME = "loneguard-hub"
DEFAULT_BROKER_DIR = Path("/etc/loneguard/broker")
# Where the device reads the broker's CA certificate; the operator copies ca.crt there.
DEVICE_CA_PATH = "/etc/loneguard/broker-ca.crt"
HUB_LOOPBACK_PORT = 1883
TLS_PORT = 8883

# Mosquitto 2.0's mosquitto_passwd uses 101 iterations and a 12-byte salt; it accepts others.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
# The group the broker runs as (Debian's mosquitto package); files it must read are given to it.
BROKER_GROUP = "mosquitto"


class ProvisionError(RuntimeError):
    """Something the operator must fix; the message says what."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A password hash as Mosquitto 2.0 stores it: ``$7$<iterations>$<salt>$<hash>``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encode = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"


def new_password() -> str:
    # URL-safe, so it goes into an mqtt:// URL and a TOML string without escaping.
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class BrokerDir:
    """The broker state folder and the files in it."""

    path: Path

    @property
    def passwd(self) -> Path:
        return self.path / "passwd"

    @property
    def ca_cert(self) -> Path:
        return self.path / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.path / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.path / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.path / "server.key"

    @property
    def hub_env(self) -> Path:
        return self.path / "hub.env"

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise changes, so two provisions at once cannot lose each other's entries."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def write_private(path: Path, text: str, *, broker_reads: bool = False) -> None:
    """Write ``text`` atomically with mode 0600, or 0640 group mosquitto if the broker reads it.

    The file is created with its final mode, so the secret is never readable by others, not even
    for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode, gid = 0o600, -1
    if broker_reads:
        gid = _broker_gid()
        if gid != -1:
            mode = 0o640
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        if gid != -1:
            os.fchown(fd, -1, gid)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _broker_gid() -> int:
    """The broker's group if we may give files to it (as root, where the group exists)."""
    if os.geteuid() != 0:
        return -1
    try:
        return grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:
        return -1


class PasswordFile:
    """Mosquitto's password file: ``user:hash`` lines. Call under ``BrokerDir.locked``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _entries(self) -> list[tuple[str, str]]:
        if not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text().splitlines():
            user, sep, hashed = line.partition(":")
            if sep and user:
                entries.append((user, hashed))
        return entries

    def users(self) -> list[str]:
        return [user for user, _ in self._entries()]

    def set(self, user: str, password: str) -> None:
        entries = [(u, h) for u, h in self._entries() if u != user]
        entries.append((user, hash_password(password)))
        self._write(entries)

    def remove(self, user: str) -> bool:
        entries = self._entries()
        kept = [(u, h) for u, h in entries if u != user]
        if len(kept) == len(entries):
            return False
        self._write(kept)
        return True

    def _write(self, entries: list[tuple[str, str]]) -> None:
        write_private(self.path, "".join(f"{u}:{h}\n" for u, h in entries), broker_reads=True)


# -- certificates -------------------------------------------------------------------------------


def default_hosts() -> list[str]:
    """Names the server certificate covers when none are given: this machine and loopback."""
    return list(dict.fromkeys([socket.getfqdn(), "localhost", "127.0.0.1"]))


def _openssl(*args: str) -> None:
    try:
        result = subprocess.run(
            ["openssl", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ProvisionError("no openssl command: 'apt-get install openssl'") from None
    if result.returncode != 0:
        raise ProvisionError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def _san(hosts: Sequence[str]) -> str:
    names = []
    for host in hosts:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            names.append(f"IP:{host}")
        except OSError:
            names.append(f"DNS:{host}")
    return ",".join(names)


def make_ca(broker: BrokerDir, *, days: int = 3650) -> None:
    """A private CA for the broker; its key stays in the folder, readable by root only."""
    with tempfile.TemporaryDirectory() as tmp:
        key, cert = Path(tmp) / "ca.key", Path(tmp) / "ca.crt"
        _openssl(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(days),
            "-subj", "/CN=loneguard broker CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        write_private(broker.ca_key, key.read_text())
        cert.replace(broker.ca_cert)
        broker.ca_cert.chmod(0o644)


def make_server_cert(broker: BrokerDir, hosts: Sequence[str], *, days: int = 825) -> None:
    """The broker's certificate, signed by the CA, valid for ``hosts`` (names or addresses)."""
    if not hosts:
        raise ProvisionError("the server certificate needs at least one --host")
    with tempfile.TemporaryDirectory() as tmp:
        key, csr, cert = (Path(tmp) / n for n in ("server.key", "server.csr", "server.crt"))
        ext = Path(tmp) / "ext.cnf"
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
            f"subjectAltName={_san(hosts)}\n"
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={hosts[0]}",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(broker.ca_cert), "-CAkey",
            str(broker.ca_key), "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days),
            "-extfile", str(ext), "-out", str(cert),
        )  # fmt: skip
        write_private(broker.server_key, key.read_text(), broker_reads=True)
        cert.replace(broker.server_cert)
        broker.server_cert.chmod(0o644)


# -- the hub's account ---------------------------------------------------------------------------


def hub_url(password: str, host: str = "127.0.0.1", port: int = HUB_LOOPBACK_PORT) -> str:
    return f"mqtt://{HUB_USERNAME}:{quote(password, safe='')}@{host}:{port}"


def init_broker(broker: BrokerDir, hosts: Sequence[str], *, renew: bool = False) -> str:
    """Create what is missing (CA, server certificate, the hub's account); the hub's URL.

    Run again, it keeps what exists, so the devices' CA and the hub's password stay valid;
    ``renew`` makes a new server certificate (for new host names) with the same CA.
    """
    with broker.locked():
        if not broker.ca_cert.exists():
            make_ca(broker)
        if renew or not broker.server_cert.exists():
            make_server_cert(broker, hosts)
        url = _read_hub_url(broker)
        passwords = PasswordFile(broker.passwd)
        if url is None or HUB_USERNAME not in passwords.users():
            password = new_password()
            passwords.set(HUB_USERNAME, password)
            url = hub_url(password)
            write_private(broker.hub_env, f"LONEGUARD_MQTT_URL={url}\n")
        return url


def _read_hub_url(broker: BrokerDir) -> str | None:
    if not broker.hub_env.exists():
        return None
    for line in broker.hub_env.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == "LONEGUARD_MQTT_URL":
            return value.strip()
    return None


# -- devices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceCredentials:
    device_id: str
    mqtt_url: str
    ca_file: str
    password: str = field(repr=False)
    sms_secret: str = field(repr=False)


# Names no device may have: the hub's account, and "hub", whose firmware client id
# (``loneguard-{id}``) would be the hub's.
RESERVED_DEVICE_IDS = frozenset({HUB_USERNAME, "hub"})


def check_provisionable(device_id: str) -> str:
    check_device_id(device_id, "device id")
    if device_id.lower() in RESERVED_DEVICE_IDS:
        raise ProvisionError(f"{device_id!r} is reserved for the hub, not a device id")
    return device_id


def add_device_account(
    broker: BrokerDir, device_id: str, mqtt_url: str, ca_file: str = DEVICE_CA_PATH
) -> DeviceCredentials:
    """A new broker password for the device (replacing any old one) and a new SMS secret."""
    check_provisionable(device_id)
    credentials = DeviceCredentials(
        device_id, mqtt_url, ca_file, new_password(), secrets.token_hex(32)
    )
    with broker.locked():
        PasswordFile(broker.passwd).set(device_id, credentials.password)
    return credentials


def remove_device_account(broker: BrokerDir, device_id: str) -> bool:
    """Delete the device's broker password; False if it had none."""
    check_provisionable(device_id)
    with broker.locked():
        return PasswordFile(broker.passwd).remove(device_id)


DEVICE_MODEM_PORT = "/dev/serial0"
_PHONE_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def check_phone_number(number: str | None, label: str) -> str | None:
    """A phone number as the device's sms.hub_number takes it (3-20 digits, optional +)."""
    if number is None:
        return None
    if not _PHONE_NUMBER.fullmatch(number):
        raise ProvisionError(f"{label}: must be 3-20 digits with an optional +")
    return number


def device_toml(
    credentials: DeviceCredentials,
    *,
    hub_number: str | None = None,
    modem_port: str = DEVICE_MODEM_PORT,
) -> str:
    """The device's configuration file: its id, its broker login, its modem port and its SMS
    fallback (the hub modem's number and the secret that signs the line)."""
    c = credentials
    lines = [
        "# loneguard device configuration, made by 'loneguard-hub devices provision'.",
        "# It holds this device's secrets: keep it mode 0600, owned by the device's user.",
        "[device]",
        f'id = "{c.device_id}"',
        "",
        "[mqtt]",
        f'url = "{c.mqtt_url}"',
        f'username = "{c.device_id}"',
        f'password = "{c.password}"',
    ]
    if c.mqtt_url.startswith("mqtts://"):
        lines.append(f'ca_file = "{c.ca_file}"')
    lines.append("")
    # /dev/serial0: the UART on GPIO14/15, where the BOM's modem HAT sits (docs/device.md).
    lines += ["[modem]", f'port = "{modem_port}"', ""]
    # The SMS fallback of panic and duress goes to the hub modem's number, signed with this.
    number = f'hub_number = "{hub_number}"' if hub_number else '# hub_number = "+44…"  # required'
    lines += ["[sms]", number, f'secret = "{c.sms_secret}"']
    return "\n".join(lines) + "\n"


def reload_broker(pid: int) -> None:
    """Ask the broker to reread its password file and ACL (it also drops revoked clients)."""
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ProvisionError(f"no process {pid}: reload mosquitto yourself") from None
