"""Finding 8 (Medium): with ``devices.require_provisioned = false`` by default and a broker that
let anyone in (the README's plain ``mqtt://127.0.0.1:1883``), anyone forged device messages: a
check-in that ended a visit, an offline status, panics for unknown ids.

Now ``require_provisioned`` is on by default, and the hub refuses to start on a broker that
accepts anonymous clients unless its configuration says it is a demo (``mqtt.demo``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loneguard.server.config import ConfigError, load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread


def env(mosquitto: Mosquitto, tmp_path: Path) -> dict[str, str]:
    return {
        "LONEGUARD_MQTT_URL": mosquitto.url,
        "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "LONEGUARD_HTTP": "127.0.0.1:0",
    }


def test_unprovisioned_devices_are_refused_by_default() -> None:
    assert load_config(env={}).devices.require_provisioned is True


def test_the_hub_refuses_to_start_on_a_broker_that_lets_anyone_in(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError) as stopped:
        HubThread(load_config(env=env(mosquitto, tmp_path))).start()
    reason = str(stopped.value.__cause__)
    assert "mqtt.url" in reason and "without a login" in reason and "mqtt.demo" in reason


def test_a_demo_hub_starts_on_it(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = load_config(env={**env(mosquitto, tmp_path), "LONEGUARD_MQTT_DEMO": "true"})
    with HubThread(config) as running:
        assert running.hub.ready.wait(10)


@pytest.mark.parametrize(("text", "value"), [("false", False), ("0", False), ("true", True)])
def test_a_boolean_from_the_environment_reads_the_word(text: str, value: bool) -> None:
    config = load_config(env={"LONEGUARD_REQUIRE_PROVISIONED": text})
    assert config.devices.require_provisioned is value


def test_a_boolean_from_the_environment_that_is_no_word_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"LONEGUARD_REQUIRE_PROVISIONED.*true or false"):
        load_config(env={"LONEGUARD_REQUIRE_PROVISIONED": "off-ish"})
