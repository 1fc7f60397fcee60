"""``loneguard-device``: run the device firmware, on a Pi or simulated.

    loneguard-device [--config PATH] [--simulate] [--id ID] [--mqtt URL] [--data-dir DIR]
                     [--control 127.0.0.1:PORT] [--log-level LEVEL]
    loneguard-device selftest [--config PATH] [--simulate] [--id ID] [--mqtt URL]
                              [--button-timeout SECONDS] [--no-buttons] [--no-modem] [--sms]

``selftest`` checks an assembled unit (``selftest``): LED, buzzer, each button, the
modem and the broker, then prints a pass/fail table and exits 1 on any failure. With
``--simulate`` it runs on mock pins and, unless ``modem.port`` is set, a fake modem.

Without ``--simulate`` the buttons and LED are real GPIO, through the back-end ``gpio.factory``
names (``pin_factory``; lgpio by default).
``--simulate`` uses mock pins and serves the control endpoint (see ``simulator``); it needs
no config file when ``--id`` is given, and keeps its data in ``./data/devices/ID`` unless told
otherwise. When ready it prints ``control endpoint: http://HOST:PORT`` and ``simulator page:
http://HOST:PORT/``, a web page with the unit's buttons to click and its LED to watch.

Under systemd (``Type=notify``) it sends READY=1 once started, WATCHDOG=1 only while the app is
healthy, and a STATUS= line when its state changes (``watchdog``). SIGTERM or SIGINT stops
cleanly (STOPPING=1, retained offline status with a reason) and exits 0. A config error exits 2
with a message naming the key; so does a GPIO back-end that cannot start, with a message naming
the fix.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from loneguard.device.config import (
    SETTINGS,
    Config,
    ConfigError,
    config_path_from,
    load_config,
)
from loneguard.device.gestures import ButtonName
from loneguard.device.pin_factory import PinFactoryError
from loneguard.device.version import FW_VERSION

log = logging.getLogger("device")

DEFAULT_CONTROL = "127.0.0.1:8081"
EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _add_common(parser: argparse.ArgumentParser, simulate_help: str) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: $LONEGUARD_CONFIG, then "
        "/etc/loneguard/device.toml if it exists)",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help=simulate_help,
    )
    parser.add_argument("--id", metavar="ID", help="device id (overrides device.id)")
    parser.add_argument(
        "--mqtt", metavar="URL", help="broker URL (overrides mqtt.url and $LONEGUARD_MQTT_URL)"
    )
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (overrides device.data_dir)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loneguard-device",
        description="Run a loneguard lone-worker device. "
        "'loneguard-device selftest --help' describes the self-test.",
    )
    _add_common(parser, "mock pins, a local web page and control endpoint instead of GPIO")
    parser.add_argument(
        "--control",
        metavar="HOST:PORT",
        default=None,
        help=f"control endpoint of --simulate (default {DEFAULT_CONTROL}; port 0 picks a free one)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {FW_VERSION}")
    return parser


def resolve_config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    path = config_path_from(env, args.config)
    overrides = {"device.id": args.id, "mqtt.url": args.mqtt, "device.data_dir": args.data_dir}
    config = load_config(path, env=env, overrides=overrides)
    default_dir = next(s.default for s in SETTINGS if s.name == "device.data_dir")
    if args.simulate and args.data_dir is None and config.device.data_dir == Path(default_dir):
        folder = Path("data") / "devices" / config.device.id
        config = dataclasses.replace(
            config, device=dataclasses.replace(config.device, data_dir=folder)
        )
    return config


def parse_control(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError("--control", f"must be HOST:PORT, got {text!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        # The endpoint has no authentication: anyone who reaches it can press panic.
        raise ConfigError("--control", f"must be a loopback address, got {host!r}")
    return host, int(port_text)


def build_selftest_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loneguard-device selftest",
        description="Check an assembled unit: LED, buzzer, buttons, modem and broker.",
    )
    _add_common(parser, "mock pins and, unless modem.port is set, a fake modem")
    parser.add_argument(
        "--button-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for each button press (default 30)",
    )
    parser.add_argument(
        "--no-buttons",
        action="store_true",
        help="skip the button checks (a unit checked with nobody at its buttons)",
    )
    parser.add_argument(
        "--no-modem",
        action="store_true",
        help="a unit built without a modem: skip the modem checks instead of failing them",
    )
    parser.add_argument(
        "--sms",
        action="store_true",
        help="send a test SMS to sms.hub_number; the hub records it as a test, not an alarm",
    )
    parser.set_defaults(log_level="WARNING")
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["selftest"]:
        return selftest_main(argv[1:])
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        config = resolve_config(args, os.environ)
        if args.control is not None and not args.simulate:
            raise ConfigError("--control", "only applies with --simulate")
        control_at = parse_control(args.control or DEFAULT_CONTROL) if args.simulate else None
    except ConfigError as exc:
        print(f"loneguard-device: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return _run(config, control_at)
    except PinFactoryError as exc:
        print(f"loneguard-device: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, ValueError, RuntimeError) as exc:
        log.debug("startup failed", exc_info=True)
        print(f"loneguard-device: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def selftest_main(
    argv: Sequence[str],
    *,
    pin_factory: Any = None,
    on_prompt: Callable[[ButtonName], None] | None = None,
) -> int:
    """``loneguard-device selftest``; ``pin_factory`` and ``on_prompt`` are for tests."""
    args = build_selftest_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        config = resolve_config(args, os.environ)
    except ConfigError as exc:
        print(f"loneguard-device: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from loneguard.device.selftest import SelfTest, exit_status, render

    with contextlib.ExitStack() as stack:
        if pin_factory is None:
            try:
                pin_factory = _pin_factory(args.simulate, config.gpio.factory)
            except PinFactoryError as exc:
                print(f"loneguard-device: {exc}", file=sys.stderr)
                return EXIT_CONFIG
        modem = None
        port = None if args.no_modem else config.modem.port
        if port is None and args.simulate and not args.no_modem:
            from loneguard.gsm.fake import FakeModem

            port = stack.enter_context(FakeModem()).path
        if port is not None:
            from loneguard.gsm.modem import Modem

            modem = stack.enter_context(Modem(port, sweep_interval=None))
        battery = None
        if config.battery.board == "pisugar3" and not args.simulate:
            from loneguard.device.battery import I2cBus, PiSugar3

            battery = PiSugar3(
                stack.enter_context(contextlib.closing(I2cBus(config.battery.i2c_bus)))
            )
        test = SelfTest(
            config,
            battery=battery,
            pin_factory=pin_factory,
            modem=modem,
            out=sys.stdout,
            button_timeout=args.button_timeout,
            on_prompt=on_prompt,
            buttons=not args.no_buttons,
            no_modem=args.no_modem,
            send_sms=args.sms,
        )
        checks = test.run()
    print(render(checks), flush=True)
    return exit_status(checks)


def _pin_factory(simulate: bool, name: str = "lgpio") -> Any:
    """Mock pins with ``--simulate``, else the ``gpio.factory`` back-end (``pin_factory``)."""
    from loneguard.device.pin_factory import make_pin_factory
    from loneguard.protocol.clock import SystemClock

    return make_pin_factory("mock" if simulate else name, SystemClock())


def _run(config: Config, control_at: tuple[str, int] | None) -> int:
    from loneguard.device.deferred_imports import defer_unused_imports

    # Before paho loads: what it imports for TLS, websockets and proxies is loaded when used.
    defer_unused_imports()
    # Imported here so --help and config errors work without gpiozero's start-up cost.
    from loneguard.device.firmware import DeviceApp
    from loneguard.device.heap import return_freed_heap
    from loneguard.device.watchdog import Notifier, serve, watchdog_interval
    from loneguard.protocol.clock import SystemClock

    clock = SystemClock()
    if control_at is not None:
        from loneguard.device.simulator import ClockedMockFactory

        factory: Any = ClockedMockFactory(clock, max_states=10_000)
    else:
        factory = _pin_factory(simulate=False, name=config.gpio.factory)

    stopping = threading.Event()
    reason = ["stopped"]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reason[0] = f"stopped by {signal.Signals(signum).name}"
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    modem = None
    if config.modem.port is not None:
        from loneguard.gsm.modem import Modem

        # A modem missing at boot does not stop the device: its health says "failed" and the
        # periodic check keeps trying to recover it.
        modem = Modem(config.modem.port, clock=clock, sweep_interval=None)
    # A simulated unit runs on a host whose clock is that host's business.
    clock_synced: Callable[[], bool] | None = None
    if control_at is None:
        from loneguard.device.clock_sync import clock_synchronised

        clock_synced = clock_synchronised

    app = DeviceApp(
        config, pin_factory=factory, clock=clock, modem=modem, clock_synced=clock_synced
    )
    app.start()
    control = None
    try:
        if control_at is not None:
            from loneguard.device.simulator import ControlServer

            control = ControlServer(app, *control_at).start()
            # One write per line: log lines from other threads share the pipe, and print()
            # writes the text and its newline separately when Python runs unbuffered.
            sys.stdout.write(f"control endpoint: {control.url}\nsimulator page: {control.url}/\n")
            sys.stdout.flush()
        return_freed_heap()
        notifier = Notifier.from_env(os.environ)
        try:
            serve(app, notifier, stopping, interval=watchdog_interval(os.environ))
        finally:
            notifier.close()
    finally:
        if control is not None:
            control.stop()
        app.stop(reason[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
