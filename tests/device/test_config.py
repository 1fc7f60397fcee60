from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from loneguard.device.config import (
    SETTINGS,
    ConfigError,
    config_path_from,
    example_toml,
    load_config,
    parse_config,
)


def parse(data: dict[str, Any], env: dict[str, str] | None = None, **overrides: Any) -> Any:
    data = {"device": {"id": "unit-01", **data.pop("device", {})}, **data}
    return parse_config(data, env=env or {}, overrides=overrides)


def error(data: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    return info.value


def test_defaults() -> None:
    config = parse({})
    assert config.device.id == "unit-01"
    assert config.device.data_dir == Path("/var/lib/loneguard-device")
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("127.0.0.1", 1883, False)
    assert config.mqtt.keepalive == 30
    assert (config.pins.checkin, config.pins.panic, config.pins.led, config.pins.buzzer) == (
        17,
        27,
        22,
        23,
    )
    assert config.timing.hold_time == 3.0
    assert config.timing.heartbeat_interval == 30.0


def test_device_id_is_required_and_checked() -> None:
    with pytest.raises(ConfigError, match=r"^device\.id: is required$"):
        parse_config({}, env={})
    assert error({"device": {"id": "a/b"}}).key == "device.id"


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"mqtt": {"keepalive": "30"}}, "mqtt.keepalive", "must be an integer, got a string"),
        ({"mqtt": {"keepalive": 2.5}}, "mqtt.keepalive", "must be an integer, got a float"),
        ({"timing": {"hold_time": True}}, "timing.hold_time", "must be a number, got a boolean"),
        ({"mqtt": {"url": 1883}}, "mqtt.url", "must be a string, got an integer"),
        ({"pins": {"led": [22]}}, "pins.led", "must be an integer, got an array"),
        ({"timing": {"hold_time": 0.1}}, "timing.hold_time", "must be between 0.5 and 10"),
        ({"timing": {"hold_time": 11}}, "timing.hold_time", "must be between 0.5 and 10"),
        ({"mqtt": {"keepalive": 241}}, "mqtt.keepalive", "must be between 5 and 240"),
        ({"timing": {"heartbeat_interval": 4}}, "timing.heartbeat_interval", "between 5 and 3600"),
        ({"pins": {"checkin": 40}}, "pins.checkin", "must be between 2 and 27"),
        ({"pins": {"buzzer": 1}}, "pins.buzzer", "must be 0 (none) or between 2 and 27"),
        ({"mqtt": {"url": "http://x:1883"}}, "mqtt.url", "must start with mqtt:// or mqtts://"),
        ({"mqtt": {"url": "mqtt://"}}, "mqtt.url", "has no host"),
        ({"mqtt": {"url": "mqtt://h:99999"}}, "mqtt.url", "has a bad port"),
        ({"mqtt": {"url": "mqtt://h/x"}}, "mqtt.url", "no path"),
        ({"mqtt": {"ca_file": "/ca.pem"}}, "mqtt.ca_file", "needs an mqtts://"),
        (
            {"mqtt": {"reconnect_min_delay": 9, "reconnect_max_delay": 5}},
            "mqtt.reconnect_min_delay",
            "must not be more than mqtt.reconnect_max_delay",
        ),
        ({"device": {"wheels": 4}}, "device.wheels", "unknown setting (known: id, data_dir, mode)"),
        (
            {"radio": {"x": 1}},
            "radio",
            "unknown section (known: device, mqtt, pins, gpio, timing, session, desk, outbox, "
            "modem, battery, sms, cellular)",
        ),
        ({"pins": 17}, "pins", "must be a table"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], key: str, problem: str) -> None:
    exc = error(data)
    assert exc.key == key
    assert problem in exc.problem
    assert str(exc).startswith(f"{key}: ")


def test_a_pin_used_twice_names_both_keys() -> None:
    exc = error({"pins": {"led": 17}})
    assert str(exc) == "pins.led: GPIO 17 is already used by pins.checkin"


def test_buzzer_zero_means_none() -> None:
    assert parse({"pins": {"buzzer": 0}}).pins.buzzer is None


def test_mqtts_and_credentials() -> None:
    config = parse(
        {"mqtt": {"url": "mqtts://broker.example", "username": "u", "ca_file": "/c"}},
        env={"LONEGUARD_MQTT_PASSWORD": "s3cret"},
    )
    assert (config.mqtt.port, config.mqtt.tls) == (8883, True)
    assert (config.mqtt.username, config.mqtt.password) == ("u", "s3cret")
    assert config.mqtt.ca_file == Path("/c")
    assert "s3cret" not in repr(config)
    from_url = parse({"mqtt": {"url": "mqtt://a%40b:pw@h:1884"}}).mqtt
    assert (from_url.username, from_url.password, from_url.port) == ("a@b", "pw", 1884)


def test_environment_and_overrides_take_precedence() -> None:
    env = {"LONEGUARD_MQTT_URL": "mqtt://env-host:1"}
    assert parse({"mqtt": {"url": "mqtt://file:1"}}, env).mqtt.host == "env-host"
    assert parse({}, env, **{"mqtt.url": "mqtt://flag:1"}).mqtt.host == "flag"
    assert parse({}, env, **{"mqtt.url": None}).mqtt.host == "env-host"
    exc = error({}, {"LONEGUARD_MQTT_URL": "tcp://x"})
    assert str(exc).startswith("mqtt.url (from LONEGUARD_MQTT_URL): ")


def test_load_config_reads_toml_and_reports_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('[device]\nid = "desk-2"\n[timing]\nhold_time = 2\n')
    config = load_config(path, env={})
    assert (config.device.id, config.timing.hold_time) == ("desk-2", 2.0)
    path.write_text("[device\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env={})


def test_config_path_comes_from_flag_then_environment(tmp_path: Path) -> None:
    assert config_path_from({"LONEGUARD_CONFIG": "/e.toml"}, "/f.toml") == Path("/f.toml")
    assert config_path_from({"LONEGUARD_CONFIG": "/e.toml"}) == Path("/e.toml")


def test_the_example_documents_every_setting_and_parses_to_the_defaults() -> None:
    text = example_toml()
    for s in SETTINGS:
        assert re.search(rf"^#? ?{s.key} = ", text, re.M), s.name
        assert s.help in text
    # Uncommenting every line gives a valid file equal to the defaults.
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M)
    assert parse_config(tomllib.loads(uncommented), env={}) == parse_config(
        {"device": {"id": "unit-01"}}, env={}
    )


def test_gesture_session_desk_outbox_and_sms_settings() -> None:
    config = parse_config(
        {
            "device": {"id": "unit-01", "mode": "desk"},
            "timing": {"duress_gesture": "off", "long_hold": 1.5, "step_window": 2},
            "session": {"preset_minutes": 45, "step_minutes": 15},
            "desk": {"reminder_interval": 20},
            "outbox": {"max_events": 50},
            "modem": {"port": "/dev/ttyUSB2"},
            "sms": {"hub_number": "+447700900001", "ack_timeout": 10},
        },
        env={"LONEGUARD_SMS_SECRET": "from-env"},
    )
    assert config.device.desk and config.device.mode == "desk"
    assert (config.timing.duress_gesture, config.timing.long_hold) == ("off", 1.5)
    assert (config.session.preset_minutes, config.session.step_minutes) == (45, 15)
    assert (config.desk.reminder_interval, config.outbox.max_events) == (20, 50)
    assert config.modem.port == "/dev/ttyUSB2"
    assert (config.sms.hub_number, config.sms.secret, config.sms.ack_timeout) == (
        "+447700900001",
        "from-env",
        10.0,
    )
    assert "from-env" not in repr(config)
    defaults = parse_config({"device": {"id": "unit-01"}}, env={})
    assert (defaults.device.mode, defaults.timing.duress_gesture, defaults.sms.hub_number) == (
        "pocket",
        "chord",
        None,
    )
    assert defaults.timing.duress_lead == 0.25
    assert (defaults.sms.ack_timeout, defaults.outbox.max_events) == (20.0, 1000)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"device": {"mode": "wall"}}, "device.mode"),
        ({"sms": {"hub_number": "call me"}}, "sms.hub_number"),
        ({"sms": {"hub_number": "+447700900001"}}, "sms.secret"),
        ({"timing": {"duress_gesture": "double"}}, "timing.duress_gesture"),
        ({"timing": {"duress_lead": 3}}, "timing.duress_lead"),
        ({"timing": {"hold_time": 1.0, "duress_lead": 1.2}}, "timing.duress_lead"),
    ],
)
def test_new_settings_are_checked(data: dict[str, Any], key: str) -> None:
    data = {**data, "device": {"id": "unit-01", **data.get("device", {})}}
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == key


def test_the_retired_duress_window_is_ignored_so_an_old_file_still_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config({"device": {"id": "unit-01"}, "timing": {"duress_window": 0.6}}, env={})
    assert config.timing.duress_gesture == "chord"
    assert "timing.duress_window is no longer used" in caplog.text
