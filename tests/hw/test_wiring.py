"""The pin map is the one source of truth: the firmware's defaults and the drawing come from it."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from loneguard.device.config import SETTINGS, pinmap_defaults

ROOT = Path(__file__).resolve().parents[2]
PINMAP = ROOT / "device" / "pinmap.toml"
WIRING = ROOT / "hw" / "wiring.svg"


def pinmap() -> dict[str, Any]:
    return tomllib.loads(PINMAP.read_text())


def load_drawer() -> ModuleType:
    pytest.importorskip("schemdraw", reason="schemdraw (the dev extra) draws hw/wiring.svg")
    spec = importlib.util.spec_from_file_location("draw_wiring", ROOT / "hw" / "draw_wiring.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_wiring_drawing_matches_the_pin_map(tmp_path: Path) -> None:
    drawer = load_drawer()
    out = tmp_path / "wiring.svg"
    assert drawer.main(["--pinmap", str(PINMAP), "--output", str(out)]) == 0
    assert out.read_bytes() == WIRING.read_bytes(), (
        "hw/wiring.svg is stale: run .venv/bin/python hw/draw_wiring.py and commit it"
    )


def test_drawing_is_deterministic(tmp_path: Path) -> None:
    drawer = load_drawer()
    data = drawer.load_pinmap(PINMAP)
    assert drawer.draw(data) == drawer.draw(data)


def test_a_changed_pin_changes_the_drawing() -> None:
    drawer = load_drawer()
    data = drawer.load_pinmap(PINMAP)
    before = drawer.draw(data)
    data["pins"]["led"]["bcm"] = 5
    assert drawer.draw(data) != before


def test_firmware_defaults_come_from_the_pin_map() -> None:
    from_map = {e["setting"]: e["bcm"] for e in pinmap()["pins"].values() if "setting" in e}
    assert pinmap_defaults() == from_map
    defaults = {s.name: s.default for s in SETTINGS if s.section == "pins"}
    assert defaults == from_map
    assert from_map == {
        "pins.checkin": 17,
        "pins.panic": 27,
        "pins.led": 22,
        "pins.buzzer": 23,
        "pins.modem_pwrkey": 24,
        "pins.modem_flight": 4,
    }


# BCM GPIO -> physical pin on the 40-pin header (every Pi since the B+).
HEADER = {
    2: 3,
    3: 5,
    4: 7,
    14: 8,
    15: 10,
    17: 11,
    18: 12,
    27: 13,
    22: 15,
    23: 16,
    24: 18,
    10: 19,
    9: 21,
    25: 22,
    11: 23,
    8: 24,
    7: 26,
    5: 29,
    6: 31,
    12: 32,
    13: 33,
    19: 35,
    16: 36,
    26: 37,
    20: 38,
    21: 40,
}
GROUND = {6, 9, 14, 20, 25, 30, 34, 39}


def test_header_numbers_grounds_and_uart_are_right() -> None:
    data = pinmap()
    assert set(data["supply"]["gnd"]) == GROUND
    assert data["supply"]["5v"] == [2, 4]
    used: dict[int, str] = {}
    for key, entry in data["pins"].items():
        assert HEADER[entry["bcm"]] == entry["header"], key
        assert entry["ground"] in GROUND, key
        assert entry["bcm"] not in used, f"{key} reuses GPIO{entry['bcm']}"
        used[entry["bcm"]] = key
    # UART0 is fixed in silicon: TXD on GPIO14, RXD on GPIO15.
    assert (data["pins"]["modem_txd"]["bcm"], data["pins"]["modem_rxd"]["bcm"]) == (14, 15)
    for bcm, header in zip(
        data["reserved"]["i2c"]["bcm"], data["reserved"]["i2c"]["header"], strict=True
    ):
        assert HEADER[bcm] == header
        assert bcm not in used


def test_led_resistor_keeps_the_gpio_current_safe() -> None:
    data = pinmap()
    led = data["pins"]["led"]
    milliamps = (data["board"]["logic_volts"] - led["led_vf"]) / led["resistor_ohms"] * 1000
    assert 3 <= milliamps <= data["board"]["gpio_max_ma"]
    assert f"{milliamps:.1f} mA" in led["note"]


def test_transistor_base_current_saturates_the_buzzer() -> None:
    data = pinmap()
    buzzer = data["pins"]["buzzer"]
    base_ma = (data["board"]["logic_volts"] - 0.7) / buzzer["base_ohms"] * 1000
    # A 40 mA buzzer with a forced beta of 20 needs 2 mA into the base; the GPIO gives ~2.6 mA.
    assert 2.0 <= base_ma <= data["board"]["gpio_max_ma"]


def test_hw_readme_points_at_the_pin_map_and_lists_every_pin() -> None:
    text = (ROOT / "hw" / "README.md").read_text()
    assert "device/pinmap.toml" in text
    for key, entry in pinmap()["pins"].items():
        assert f"| {entry['bcm']} | {entry['header']} |" in text, key
