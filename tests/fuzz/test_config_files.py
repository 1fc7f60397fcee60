"""Hub and device config files with wrong types, unknown keys and missing sections.

Every setting of both tables, given a value of the wrong TOML type, is refused with an error
that starts with its ``section.key``; an unknown key or section is named; a missing section
falls back to defaults (or, for the device's required id, says ``device.id: is required``).
Then hypothesis writes arbitrary files from known and unknown names: the loaders either accept
them or raise their ``ConfigError``, never anything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.device import config as device_config
from loneguard.server import config as hub_config
from tests.fuzz.conftest import FUZZ, count

HUB_SECTIONS = sorted({s.section for s in hub_config.SETTINGS})
DEVICE_SECTIONS = sorted({s.section for s in device_config.SETTINGS})
DEVICE_REQUIRED = {"device": {"id": "unit-01", "data_dir": "/tmp/loneguard-unit-01"}}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def toml(data: dict[str, dict[str, Any]]) -> str:
    lines = []
    for section, table in data.items():
        lines.append(f"[{json.dumps(section)}]")
        lines.extend(f"{json.dumps(key)} = {toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def wrong_value(kind: type) -> Any:
    """A TOML value of another type than ``kind``."""
    return {str: 12, int: "12", float: "1.5", bool: "yes", list: "not a list", dict: "not a table"}[
        kind
    ]


def load_hub(tmp_path: Path, data: dict[str, dict[str, Any]]) -> hub_config.HubConfig:
    path = tmp_path / "hub.toml"
    path.write_text(toml(data))
    return hub_config.load_config(path, env={})


def load_device(tmp_path: Path, data: dict[str, dict[str, Any]]) -> device_config.Config:
    path = tmp_path / "device.toml"
    path.write_text(toml(data))
    return device_config.load_config(path, env={})


@pytest.mark.parametrize("setting", hub_config.SETTINGS, ids=lambda s: s.name)
def test_hub_wrong_type_names_the_key(tmp_path: Path, setting: hub_config.Setting) -> None:
    with pytest.raises(hub_config.ConfigError) as caught:
        load_hub(tmp_path, {setting.section: {setting.key: wrong_value(setting.type)}})
    assert str(caught.value).startswith(f"{setting.name}: must be ")


@pytest.mark.parametrize("setting", device_config.SETTINGS, ids=lambda s: s.name)
def test_device_wrong_type_names_the_key(tmp_path: Path, setting: device_config.Setting) -> None:
    data = json.loads(json.dumps(DEVICE_REQUIRED))
    data.setdefault(setting.section, {})[setting.key] = wrong_value(setting.type)
    with pytest.raises(device_config.ConfigError) as caught:
        load_device(tmp_path, data)
    assert caught.value.key == f"{setting.section}.{setting.key}"
    assert "must be " in caught.value.problem


@pytest.mark.parametrize("section", HUB_SECTIONS)
def test_hub_unknown_key_is_named(tmp_path: Path, section: str) -> None:
    with pytest.raises(hub_config.ConfigError, match=rf"^{section}\.colour: unknown key"):
        load_hub(tmp_path, {section: {"colour": "blue"}})


@pytest.mark.parametrize("section", DEVICE_SECTIONS)
def test_device_unknown_key_is_named(tmp_path: Path, section: str) -> None:
    data = {**DEVICE_REQUIRED, section: {**DEVICE_REQUIRED.get(section, {}), "colour": "blue"}}
    with pytest.raises(device_config.ConfigError) as caught:
        load_device(tmp_path, data)
    assert caught.value.key == f"{section}.colour"
    assert caught.value.problem.startswith("unknown setting")


def test_unknown_sections_are_named(tmp_path: Path) -> None:
    with pytest.raises(hub_config.ConfigError, match=r"^mqqt: unknown section"):
        load_hub(tmp_path, {"mqqt": {"url": "mqtt://127.0.0.1:1883"}})
    with pytest.raises(device_config.ConfigError) as caught:
        load_device(tmp_path, {**DEVICE_REQUIRED, "mqqt": {"url": "mqtt://127.0.0.1:1883"}})
    assert caught.value.key == "mqqt"


@pytest.mark.parametrize("section", HUB_SECTIONS)
def test_hub_missing_sections_take_the_defaults(tmp_path: Path, section: str) -> None:
    # Only one section given: every other one is missing and takes its defaults.
    one = next(s for s in hub_config.SETTINGS if s.section == section)
    config = load_hub(tmp_path, {section: {one.key: one.default}})
    assert config.values == {s.name: s.default for s in hub_config.SETTINGS}


def test_device_missing_required_section_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(device_config.ConfigError) as caught:
        load_device(tmp_path, {"mqtt": {"url": "mqtt://127.0.0.1:1883"}})
    assert str(caught.value) == "device.id: is required"
    config = load_device(tmp_path, DEVICE_REQUIRED)  # every other section is optional
    assert config.device.id == "unit-01"


toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3))


def files(sections: list[str], names: list[str]) -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    section = st.one_of(st.sampled_from(sections), st.text(min_size=1, max_size=10))
    key = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=12))
    return st.dictionaries(section, st.dictionaries(key, toml_values, max_size=4), max_size=4)


def test_any_hub_file_loads_or_names_the_problem(tmp_path: Path) -> None:
    names = [s.key for s in hub_config.SETTINGS]

    @settings(FUZZ, max_examples=400)
    @given(files(HUB_SECTIONS + list(hub_config.OPAQUE_SECTIONS), names))
    def check(data: dict[str, dict[str, Any]]) -> None:
        count("config")
        try:
            load_hub(tmp_path, data)
        except hub_config.ConfigError as err:
            assert ": " in str(err)

    check()


def test_any_device_file_loads_or_names_the_problem(tmp_path: Path) -> None:
    names = [s.key for s in device_config.SETTINGS]

    @settings(FUZZ, max_examples=400)
    @given(files(DEVICE_SECTIONS, names))
    def check(data: dict[str, dict[str, Any]]) -> None:
        count("config")
        merged = {**DEVICE_REQUIRED, **data}
        try:
            load_device(tmp_path, merged)
        except device_config.ConfigError as err:
            assert err.key and err.problem

    check()
