from pathlib import Path

import pytest

from loneguard.server.config import (
    SETTINGS,
    ConfigError,
    DbUrl,
    HttpListen,
    MqttUrl,
    load_config,
    settings_markdown,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    config = load_config(env={})
    assert config.mqtt.url == MqttUrl("127.0.0.1", 1883)
    assert config.mqtt.client_id == "loneguard-hub"
    assert config.db.url == DbUrl("sqlite", "loneguard.db")
    assert config.http.listen == HttpListen("127.0.0.1", 8080)
    assert config.values == {s.name: s.default for s in SETTINGS}


def test_file_then_environment_on_top(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mqtt]\nurl = "mqtt://broker:1884"\nkeepalive = 10\n[http]\nlisten = "0.0.0.0:9000"\n',
    )
    config = load_config(env={"LONEGUARD_CONFIG": str(path), "LONEGUARD_HTTP": "127.0.0.1:0"})
    assert config.mqtt.url == MqttUrl("broker", 1884)
    assert config.mqtt.keepalive == 10
    assert config.http.listen == HttpListen("127.0.0.1", 0)  # the environment wins


def test_explicit_path_beats_the_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[db]\nurl = "sqlite:////var/lib/hub.db"\n')
    config = load_config(path, env={"LONEGUARD_CONFIG": str(tmp_path / "missing.toml")})
    assert config.db.url == DbUrl("sqlite", "/var/lib/hub.db")


def test_mqtt_url_forms() -> None:
    config = load_config(env={"LONEGUARD_MQTT_URL": "mqtts://hub:s%40cret@example.org"})
    assert config.mqtt.url == MqttUrl(
        "example.org", 8883, tls=True, username="hub", password="s@cret"
    )
    assert "s@cret" not in repr(config.mqtt.url) and "s@cret" not in str(config.mqtt.url)


def test_postgresql_is_recognised() -> None:
    config = load_config(env={"LONEGUARD_DB_URL": "postgresql://u@db/loneguard"})
    assert config.db.url.scheme == "postgresql"


@pytest.mark.parametrize(
    "toml, message",
    [
        ('[http]\nlisten = "nonsense"\n', "http.listen: "),
        ('[http]\nlisten = "host:99999"\n', "http.listen: "),
        ('[mqtt]\nurl = "http://x:1"\n', "mqtt.url: "),
        ("[mqtt]\nkeepalive = 1\n", "mqtt.keepalive: must be at least"),
        ('[mqtt]\nkeepalive = "30"\n', "mqtt.keepalive: must be int"),
        ("[mqtt]\nkeepalive = true\n", "mqtt.keepalive: "),
        ('[db]\nurl = "mysql://x"\n', "db.url: "),
        ('[log]\nlevel = "loud"\n', "log.level: must be one of"),
        ('[mqtt]\nulr = "mqtt://x:1"\n', "mqtt.ulr: unknown key"),
        ("[mqttt]\n", "mqttt: unknown section"),
        ('mqtt = "x"\n', "mqtt: must be a table"),
        ("[mqtt]\nreconnect_min = 5\nreconnect_max = 1\n", "mqtt.reconnect_max: "),
    ],
)
def test_errors_name_section_and_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, toml), env={})
    assert str(info.value).startswith(message)


def test_environment_errors_name_the_key_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"^http\.listen \(from LONEGUARD_HTTP\): "):
        load_config(env={"LONEGUARD_HTTP": "8080"})


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^config: cannot read"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match=r"^config: .* not valid TOML"):
        load_config(write(tmp_path, "[mqtt\n"), env={})


def test_policies_are_parsed_at_load_and_errors_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[policies.panic]\nsteps = []\nextra = "kept"\n')
    with pytest.raises(ConfigError, match=r"^policies\.panic\.extra: unknown key"):
        load_config(path, env={})
    path = write(
        tmp_path,
        '[[policies.panic.steps]]\nafter = "0s"\nchannels = ["console"]\nmessage = "Go"\n',
    )
    config = load_config(path, env={})
    assert [s.message for s in config.policies["panic"].steps] == ["Go"]
    assert config.policies["overdue"].steps[1].after == 300  # the default, kept


def test_session_and_escalation_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[sessions]\ngrace = "90s"\nprealert = "0s"\n'
        '[escalation]\nadmins = ["Office: +44 7700 900001", "worker:w-1"]\n',
    )
    config = load_config(path, env={})
    assert (config.sessions.grace, config.sessions.prealert) == (90, 0)
    assert [(p.name, p.phone, p.worker_id) for p in config.escalation.admins] == [
        ("Office", "+447700900001", None),
        ("w-1", None, "w-1"),
    ]
    with pytest.raises(ConfigError, match=r"^sessions\.grace: "):
        load_config(write(tmp_path, '[sessions]\ngrace = "5"\n'), env={})
    with pytest.raises(ConfigError, match=r"^escalation\.on_call\[0\]: "):
        load_config(write(tmp_path, '[escalation]\non_call = ["nobody"]\n'), env={})


def test_with_values_checks_what_it_changes() -> None:
    config = load_config(env={}).with_values({"http.listen": "127.0.0.1:0"})
    assert config.http.listen.port == 0
    with pytest.raises(ConfigError, match=r"^http\.nope: unknown key"):
        config.with_values({"http.nope": 1})


def test_markdown_lists_every_setting() -> None:
    text = settings_markdown()
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in text
        if setting.env:
            assert f"`{setting.env}`" in text


def test_cluster_settings_are_checked(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[mqtt]\nshared_group = "loneguard-hub"\n'))
    assert (config.mqtt.shared_group, config.cluster.lease, config.cluster.poll) == (
        "loneguard-hub",
        30.0,
        2.0,
    )
    with pytest.raises(ConfigError, match=r"mqtt\.shared_group: must be letters"):
        load_config(write(tmp_path, '[mqtt]\nshared_group = "a/#"\n'))
    with pytest.raises(ConfigError, match=r"cluster\.poll: must be shorter than cluster\.lease"):
        load_config(write(tmp_path, "[cluster]\nlease = 5\npoll = 5\n"))
    env = {"LONEGUARD_MQTT_CLIENT_ID": "hub-b"}
    assert load_config(env=env).mqtt.client_id == "hub-b"
