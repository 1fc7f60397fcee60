"""A unit loads what it uses: no simulator, web server or client, and no OpenSSL on a plain
``mqtt://`` broker; the modules put off still work the moment something uses them.

Each check runs in a fresh interpreter: what a process has imported is the point, and the test
process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from loneguard.server.devtools.private_broker import Mosquitto
from tests.broker.conftest import SecureBroker, secure_broker  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]

# What a real unit never needs: the simulator and its web page, an HTTP client, OpenSSL
# (``_ssl``, ``_hashlib``: about 5 MB of a 30 MB process) while its broker is plain MQTT, and
# ctypes.util (1 MB of modules to find the C library the process has loaded already).
NOT_ON_A_UNIT = (
    "loneguard.device.simulator",
    "http.server",
    "http.client",
    "urllib.request",
    "ssl",
    "_ssl",
    "_hashlib",
    "hmac",
    "secrets",
    "ctypes.util",
)


def _run_python(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_real_unit_runs_without_the_simulator_the_web_or_openssl(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    # The unit's own run path, ``loneguard-device --config …`` without --simulate, on gpiozero's
    # mock pins (a Pi's GPIO is not here) and stopped as soon as it has started: what it
    # imported is what a unit on a Pi holds in memory.
    loaded = _run_python(
        f"""
        import json, sys
        from gpiozero.pins.mock import MockFactory
        from loneguard.device import cli, watchdog

        cli._pin_factory = lambda simulate, name="lgpio": MockFactory()
        watchdog.serve = lambda app, notifier, stopping, interval: None
        code = cli.main(["--id", "unit-1", "--mqtt", {mosquitto.url!r},
                         "--data-dir", {str(tmp_path)!r}])
        loaded = [name for name, module in sys.modules.items()
                  if type(module).__name__ != "DeferredModule"]
        print(json.dumps({{"code": code, "loaded": loaded}}))
        """
    )
    result = json.loads(loaded.splitlines()[-1])
    assert result["code"] == 0
    assert "loneguard.device.firmware" in result["loaded"]
    assert sorted(set(NOT_ON_A_UNIT) & set(result["loaded"])) == []


def test_a_unit_on_mqtts_loads_tls_at_its_first_connection(
    tmp_path: Path,
    secure_broker: SecureBroker,  # noqa: F811 - the fixture
) -> None:
    # The shipped broker: TLS with its own CA and a password per device. The run path put a
    # stand-in for ssl in place before paho loaded; paho's TLS set-up is the first use.
    creds = secure_broker.devices["dev-a"]
    config, data_dir = tmp_path / "device.toml", tmp_path / "data"
    config.write_text(
        f'[device]\nid = "dev-a"\ndata_dir = "{data_dir}"\n'
        f'[mqtt]\nurl = "{creds.mqtt_url}"\nusername = "dev-a"\nca_file = "{creds.ca_file}"\n'
    )
    out = _run_python(
        f"""
        import sys, time
        from gpiozero.pins.mock import MockFactory
        from loneguard.device import cli, watchdog

        def serve(app, notifier, stopping, interval):
            deadline = time.monotonic() + 30
            while not app.link.connected and time.monotonic() < deadline:
                time.sleep(0.02)
            print("connected" if app.link.connected else "not connected")

        cli._pin_factory = lambda simulate, name="lgpio": MockFactory()
        watchdog.serve = serve
        code = cli.main(["--config", {str(config)!r}])
        print(code, type(sys.modules["ssl"]).__name__, "_ssl" in sys.modules)
        """,
        env={"LONEGUARD_MQTT_PASSWORD": creds.password},
    )
    assert out.splitlines()[-2:] == ["connected", "0 module True"]


def test_a_deferred_module_is_the_real_one_from_its_first_use() -> None:
    out = _run_python(
        """
        import sys
        from loneguard.device.deferred_imports import defer_unused_imports, is_deferred

        defer_unused_imports(("ssl", "urllib.request"))
        import ssl
        import urllib.request
        assert is_deferred(ssl) and "_ssl" not in sys.modules

        from ssl import SSLContext  # the first use loads the real module
        assert "_ssl" in sys.modules and not is_deferred(ssl)
        assert ssl.SSLContext is SSLContext is sys.modules["ssl"].SSLContext
        import ssl as again
        assert again is sys.modules["ssl"] and not isinstance(again, type(ssl))

        urllib.request.custom = 1  # names set on the stand-in land on the real module
        assert sys.modules["urllib.request"].custom == 1
        assert sys.modules["urllib"].request is sys.modules["urllib.request"]
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_threads_using_a_deferred_module_at_once_share_one_real_module() -> None:
    # paho's network thread and the main thread may both be first: one module, run once.
    out = _run_python(
        """
        import sys, threading
        from loneguard.device.deferred_imports import defer_unused_imports

        defer_unused_imports(("ssl",))
        import ssl
        start, seen = threading.Barrier(8), []

        def use():
            start.wait()
            seen.append(ssl.SSLContext)

        threads = [threading.Thread(target=use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(len(seen), len(set(seen)), seen[0] is sys.modules["ssl"].SSLContext)
        """
    )
    assert out.split() == ["8", "1", "True"]


def test_the_fallback_line_is_signed_the_same_with_hashlib_deferred() -> None:
    sign = """
        from loneguard.protocol.sms import FallbackLine
        event_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
        line = FallbackLine("unit-1", "panic", event_id, 1700000000000)
        print(line.encode(b"secret"))
        """
    deferred = _run_python(
        "from loneguard.device.deferred_imports import defer_unused_imports\n"
        "defer_unused_imports()\n" + textwrap.dedent(sign)
    )
    assert deferred == _run_python(sign)
    assert deferred.startswith("LG1 unit-1 PANIC ")
