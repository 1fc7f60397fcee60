"""``loneguard-hub``: run the hub, manage API tokens, migrate the database.

    loneguard-hub [run] [--config PATH]
    loneguard-hub token create --name NAME --role admin|manager|viewer
    loneguard-hub user create --name NAME --role admin|manager|viewer  (password on stdin)
    loneguard-hub user disable|enable|passwd --name NAME; loneguard-hub user list
    loneguard-hub migrate
    loneguard-hub broker init [--broker-dir DIR] [--host NAME ...]
    loneguard-hub devices provision ID [--broker-dir DIR] [--mqtt-url URL] [--out FILE]
                                       [--hub-number NUMBER] [--modem-port PATH]
    loneguard-hub devices revoke ID [--broker-dir DIR]

Configuration errors go to stderr naming the key, with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from loneguard.protocol.clock import SystemClock
from loneguard.protocol.errors import ProtocolError
from loneguard.server.admin.provisioning import (
    DEFAULT_BROKER_DIR,
    DEVICE_CA_PATH,
    DEVICE_MODEM_PORT,
    TLS_PORT,
    BrokerDir,
    ProvisionError,
    add_device_account,
    check_phone_number,
    check_provisionable,
    default_hosts,
    device_toml,
    init_broker,
    reload_broker,
    remove_device_account,
    write_private,
)
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.config import ConfigError, HubConfig, load_config, parse_mqtt_url
from loneguard.server.store import Role, open_store
from loneguard.server.store.migrations import SchemaTooNew

log = logging.getLogger("loneguard.server.cli")

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML settings file (default: $LONEGUARD_CONFIG)",
    )
    parser = argparse.ArgumentParser(
        prog="loneguard-hub", description="The loneguard hub.", parents=[common]
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", parents=[common], help="run the hub (the default)")
    commands.add_parser("migrate", parents=[common], help="create or upgrade the database")
    token = commands.add_parser("token", parents=[common], help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser(
        "create", parents=[common], help="make a token and print it (only once)"
    )
    create.add_argument("--name", required=True, help="who or what uses the token")
    create.add_argument("--role", required=True, choices=[str(r) for r in Role])
    user = commands.add_parser("user", parents=[common], help="console users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add_user = user_commands.add_parser(
        "create",
        parents=[common],
        help="make a console login; the password is read from stdin (or prompted for)",
    )
    add_user.add_argument("--name", required=True, help="the login name")
    add_user.add_argument("--role", required=True, choices=[str(r) for r in Role])
    for command, text in (
        ("disable", "stop a user logging in; their live logins end at once"),
        ("enable", "let a disabled user log in again"),
        ("passwd", "set a new password (stdin, or prompted twice); live logins end at once"),
    ):
        change = user_commands.add_parser(command, parents=[common], help=text)
        change.add_argument("--name", required=True, help="the login name")
    user_commands.add_parser(
        "list", parents=[common], help="names, roles and whether disabled (never passwords)"
    )
    _add_broker_commands(commands, common)
    return parser


def _add_broker_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    broker_dir = argparse.ArgumentParser(add_help=False)
    broker_dir.add_argument(
        "--broker-dir",
        type=Path,
        default=DEFAULT_BROKER_DIR,
        help=f"the broker's state folder (default: {DEFAULT_BROKER_DIR})",
    )
    reload = argparse.ArgumentParser(add_help=False)
    reload.add_argument(
        "--mosquitto-pid", type=int, help="send mosquitto SIGHUP so it rereads its passwords"
    )
    broker = commands.add_parser("broker", parents=[common], help="the Mosquitto broker")
    broker_commands = broker.add_subparsers(dest="broker_command", required=True)
    init = broker_commands.add_parser(
        "init",
        parents=[common, broker_dir],
        help="make the CA, the server certificate and the hub's account; print the hub's URL",
    )
    init.add_argument(
        "--host",
        action="append",
        help="a name or address the devices reach the broker by (repeat; default: this "
        "machine's name, localhost, 127.0.0.1)",
    )
    init.add_argument(
        "--renew", action="store_true", help="make a new server certificate (same CA)"
    )

    devices = commands.add_parser("devices", parents=[common], help="device credentials")
    device_commands = devices.add_subparsers(dest="devices_command", required=True)
    provision = device_commands.add_parser(
        "provision",
        parents=[common, broker_dir, reload],
        help="make a device's broker login and SMS secret; print (or write) its TOML",
    )
    provision.add_argument("device_id", metavar="ID")
    provision.add_argument(
        "--mqtt-url",
        help=f"how the device reaches the broker (default: mqtts://<this machine>:{TLS_PORT})",
    )
    provision.add_argument(
        "--ca-file",
        default=DEVICE_CA_PATH,
        help=f"where the device keeps the broker's CA certificate (default: {DEVICE_CA_PATH})",
    )
    provision.add_argument(
        "--out", type=Path, help="write the device's TOML here (mode 0600) instead of stdout"
    )
    provision.add_argument(
        "--hub-number",
        help="the phone number of the hub's modem, where the device sends panic and duress by "
        "SMS when MQTT fails (without it the device has no SMS fallback and its selftest fails)",
    )
    provision.add_argument(
        "--modem-port",
        default=DEVICE_MODEM_PORT,
        help=f"the device's modem serial port (default: {DEVICE_MODEM_PORT})",
    )
    revoke = device_commands.add_parser(
        "revoke",
        parents=[common, broker_dir, reload],
        help="delete a device's broker login and SMS secret; the hub refuses it from then on",
    )
    revoke.add_argument("device_id", metavar="ID")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=config.log.level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "migrate":
            return _migrate(config)
        if args.command == "token":
            return _create_token(config, args.name, Role(args.role))
        if args.command == "user" and args.user_command == "create":
            return _create_user(config, args.name, Role(args.role))
        if args.command == "user":
            return _change_user(config, args.user_command, getattr(args, "name", ""))
        if args.command == "broker":
            return _init_broker(
                BrokerDir(args.broker_dir), args.host or default_hosts(), args.renew
            )
        if args.command == "devices" and args.devices_command == "provision":
            return _provision(config, args)
        if args.command == "devices":
            return _revoke(config, args)
        return _run(config)
    except ConfigError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SchemaTooNew as exc:
        print(f"loneguard-hub: db.url: {exc}", file=sys.stderr)
        return 1
    except (ProvisionError, ProtocolError, OSError) as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return 1


def _migrate(config: HubConfig) -> int:
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)  # opening migrates
    store.close()
    print(f"database {config.db.url} is up to date", file=sys.stderr)
    return 0


def _create_token(config: HubConfig, name: str, role: Role) -> int:
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)
    try:
        token = new_token()
        store.create_token(name, role, hash_token(token), clock.wall_ms()).result()
    finally:
        store.close()
    print(token)  # the only thing on stdout, so scripts can capture it
    return 0


def _create_user(config: HubConfig, name: str, role: Role) -> int:
    from loneguard.server.console.users import UserError, create_user

    password = _read_password()
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)
    try:
        create_user(store, name, role, password, clock.wall_ms())
    except UserError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"created console user {name} ({role})", file=sys.stderr)
    return 0


def _change_user(config: HubConfig, command: str, name: str) -> int:
    from loneguard.server.console.users import (
        UserError,
        change_password,
        set_disabled,
        user_lines,
    )

    password = _read_password() if command == "passwd" else ""
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)
    try:
        if command == "list":
            for line in user_lines(store.console_users()):
                print(line)
            return 0
        if command == "passwd":
            change_password(store, name, password, clock.wall_ms(), "cli")
        else:
            set_disabled(store, name, command == "disable", clock.wall_ms(), "cli")
    except UserError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    done = {
        "passwd": f"changed the password of console user {name}; their live logins have ended",
        "disable": f"disabled console user {name}; their live logins have ended",
        "enable": f"enabled console user {name}",
    }
    print(done[command], file=sys.stderr)
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("password: the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _init_broker(broker: BrokerDir, hosts: list[str], renew: bool) -> int:
    url = init_broker(broker, hosts, renew=renew)
    print(
        f"broker files are in {broker.path}; the hub's URL is also in {broker.hub_env}",
        file=sys.stderr,
    )
    print(url)  # the only thing on stdout: the hub's LONEGUARD_MQTT_URL
    return 0


def _provision(config: HubConfig, args: argparse.Namespace) -> int:
    broker = BrokerDir(args.broker_dir)
    device_id = check_provisionable(args.device_id)
    mqtt_url = args.mqtt_url or f"mqtts://{socket.getfqdn()}:{TLS_PORT}"
    parse_mqtt_url(mqtt_url, "--mqtt-url")
    hub_number = check_phone_number(args.hub_number, "--hub-number")
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)
    try:
        credentials = add_device_account(broker, device_id, mqtt_url, args.ca_file)
        store.provision_device(device_id, credentials.sms_secret, clock.wall_ms(), "cli").result()
    finally:
        store.close()
    toml = device_toml(credentials, hub_number=hub_number, modem_port=args.modem_port)
    if args.out is not None:
        write_private(args.out, toml)
        print(f"wrote {args.out} (mode 0600) for device {device_id}", file=sys.stderr)
    else:
        print(toml, end="")  # the one intended output: the device's TOML, with its secrets
    if mqtt_url.startswith("mqtts://"):
        print(f"copy {broker.ca_cert} to the device as {args.ca_file}", file=sys.stderr)
    if hub_number is None:
        print(
            "no --hub-number: the device has no SMS fallback until sms.hub_number is set "
            "in its TOML (its selftest fails until then)",
            file=sys.stderr,
        )
    _reload(args.mosquitto_pid)
    return 0


def _revoke(config: HubConfig, args: argparse.Namespace) -> int:
    broker = BrokerDir(args.broker_dir)
    device_id = check_provisionable(args.device_id)
    clock = SystemClock()
    store = open_store(config.db.url, clock.wall_ms)
    try:
        had_login = remove_device_account(broker, device_id)
        known = store.revoke_device(device_id, clock.wall_ms(), "cli").result()
    finally:
        store.close()
    if not had_login and not known:
        print(f"loneguard-hub: no device {device_id} to revoke", file=sys.stderr)
        return 1
    print(f"revoked device {device_id}; the hub refuses its messages", file=sys.stderr)
    _reload(args.mosquitto_pid)
    return 0


def _reload(pid: int | None) -> None:
    if pid is None:
        print(
            "reload mosquitto so it takes the change: systemctl reload mosquitto "
            "(or kill -HUP <its pid>)",
            file=sys.stderr,
        )
        return
    reload_broker(pid)
    print(f"sent SIGHUP to mosquitto ({pid})", file=sys.stderr)


def _run(config: HubConfig) -> int:
    from loneguard.server.hub import Hub  # the web stack loads only for the command that needs it

    hub = Hub(config)

    def listening(url: str) -> None:
        sys.stdout.write(f"hub listening on {url}\n")  # one write: log lines share the pipe
        sys.stdout.flush()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, hub.request_stop)
        await hub.run(on_listening=listening)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
