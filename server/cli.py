"""``loneguard-hub``: run the hub, manage API tokens, migrate the database.

    loneguard-hub [run] [--config PATH]
    loneguard-hub token create --name NAME --role admin|manager|viewer
    loneguard-hub migrate

Configuration errors go to stderr naming the key, with exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from protocol.clock import SystemClock
from server.config import ConfigError, HubConfig, load_config
from server.store import Role, open_store
from server.store.migrations import SchemaTooNew
from server.tokens import hash_token, new_token

log = logging.getLogger("server.cli")

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=config.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "migrate":
            return _migrate(config)
        if args.command == "token":
            return _create_token(config, args.name, Role(args.role))
        return _run(config)
    except ConfigError as exc:
        print(f"loneguard-hub: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SchemaTooNew as exc:
        print(f"loneguard-hub: db.url: {exc}", file=sys.stderr)
        return 1


def _migrate(config: HubConfig) -> int:
    clock = SystemClock()
    store = open_store(config.db, clock.wall_ms)  # opening migrates
    store.close()
    print(f"database {config.db} is up to date", file=sys.stderr)
    return 0


def _create_token(config: HubConfig, name: str, role: Role) -> int:
    clock = SystemClock()
    store = open_store(config.db, clock.wall_ms)
    try:
        token = new_token()
        store.create_token(name, role, hash_token(token), clock.wall_ms()).result()
    finally:
        store.close()
    print(token)  # the only thing on stdout, so scripts can capture it
    return 0


def _run(config: HubConfig) -> int:
    from server.app import Hub  # the web stack loads only for the command that needs it

    hub = Hub(config)

    def listening(url: str) -> None:
        print(f"hub listening on {url}", flush=True)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, hub.request_stop)
        await hub.run(on_listening=listening)

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
