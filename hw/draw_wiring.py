"""Draw the unit's wiring (hw/wiring.svg) from the pin map, device/pinmap.toml.

    .venv/bin/python hw/draw_wiring.py [--pinmap FILE] [--output FILE]

The pin map is the one source of truth: the firmware reads its default pins from the same file,
and tests/hw/test_wiring.py fails when the committed drawing no longer matches it. The output is
deterministic (same pin map, same schemdraw version: same bytes). schemdraw is a development
tool only (the `dev` extra); the firmware never imports this script.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PINMAP = ROOT / "device" / "pinmap.toml"
OUTPUT = ROOT / "hw" / "wiring.svg"

# Vertical room (schemdraw units) each kind of circuit needs above and below its header pin.
ROOM = {"button": (1.0, 1.0), "led": (1.0, 1.0), "uart": (0.7, 0.7), "power": (0.7, 0.7)}
NPN_ROOM = (1.4, 2.0)
LOAD_ROOM = (5.6, 2.0)
LOAD_LENGTH = 2.5
RIGHT_EDGE = 16.5


def load_pinmap(path: Path = PINMAP) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def rows(pinmap: dict[str, Any]) -> list[dict[str, Any]]:
    """Every wire leaving the header, in header-pin order, each with its circuit kind."""
    out = [dict(entry, key=key) for key, entry in pinmap["pins"].items()]
    out += [dict(entry, key=key, circuit="power") for key, entry in pinmap["power"].items()]
    return sorted(out, key=lambda r: int(r["header"]))


def pin_label(row: dict[str, Any]) -> str:
    return (
        f"GPIO{row['bcm']}"
        if "bcm" in row
        else ("5V" if row["circuit"] == "power" and "5" in row["part"] else "GND")
    )


def draw(pinmap: dict[str, Any]) -> bytes:
    import schemdraw
    import schemdraw.elements as elm

    schemdraw.use("svg")
    items = rows(pinmap)
    drawers: dict[str, Callable[[Any, dict[str, Any]], None]] = {
        "button": _button,
        "led": _led,
        "uart": _uart,
        "npn": _npn,
        "power": _power,
    }
    with schemdraw.Drawing(show=False) as d:
        d.config(fontsize=11, unit=2.5)
        # Rows run top to bottom in header order; each circuit hangs off a short stub at its y.
        y = 0.0
        ys: list[float] = []
        below = 0.0
        for row in items:
            above, next_below = _room(row)
            y -= above + below if ys else 0.0
            ys.append(y)
            below = next_below
        top, bottom = ROOM["uart"][0] + 0.5, y - below
        board = pinmap["board"]["name"]
        d += elm.Line().at((0, top)).to((0, bottom))
        d += elm.Line().at((0, bottom)).to((-3.2, bottom))
        d += elm.Line().at((-3.2, bottom)).to((-3.2, top))
        d += elm.Line().at((-3.2, top)).to((0, top))
        d += (
            elm.Label()
            .at((-3.2, top + 0.5))
            .label(f"{board}: 40-pin header", halign="left", fontsize=12)
        )
        for row, row_y in zip(items, ys, strict=True):
            d += (
                elm.Label()
                .at((-0.2, row_y))
                .label(f"{pin_label(row)} · pin {row['header']}", halign="right", valign="center")
            )
            d += elm.Dot().at((0, row_y))
            d.here = (0, row_y)
            d.push()
            drawers[row["circuit"]](d, row)
            d.pop()
        # Labels do not count towards the picture's bounds: an invisible gap keeps them inside.
        d += elm.Gap().at((RIGHT_EDGE, top)).to((RIGHT_EDGE, top - 0.1))
        notes_y = bottom - 1.0
        for line in (w for note in _notes(pinmap) for w in textwrap.wrap(note, 90)):
            d += elm.Label().at((-3.2, notes_y)).label(line, halign="left", fontsize=10)
            notes_y -= 0.5
    return bytes(d.get_imagedata("svg"))


def _room(row: dict[str, Any]) -> tuple[float, float]:
    if row["circuit"] == "npn":
        return LOAD_ROOM if "supply" in row else NPN_ROOM
    return ROOM[row["circuit"]]


def _ground(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Ground().label(f"GND pin {row['ground']}", loc="right", fontsize=9)


def _button(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Line().right().length(3)
    d += elm.Button().right().label(row["part"])
    _ground(d, row)


def _led(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Line().right().length(1.5)
    d += elm.Resistor().right().label(f"{row['resistor_ohms']} Ω")
    d += elm.LED().right().label(row["part"], loc="bottom", ofst=0.3)
    _ground(d, row)


def _uart(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Line().right().length(6)
    d += elm.Arrow().right().length(1.5)
    d += elm.Label().label(f"to {row['part']}", halign="left", valign="center")


def _power(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Line().right().length(6)
    d += elm.Arrow().right().length(1.5)
    d += elm.Label().label(f"to {row['part']}", halign="left", valign="center")


def _npn(d: Any, row: dict[str, Any]) -> None:
    import schemdraw.elements as elm

    d += elm.Line().right().length(1.5)
    d += elm.Resistor().right().label(_ohms(row["base_ohms"]))
    q = elm.BjtNpn(circle=True).anchor("base").label(row["transistor"], loc="right", fontsize=9)
    d += q
    d += elm.Line().at(q.emitter).down().length(0.5)
    _ground(d, row)
    if "supply" in row:
        # Low-side switch: the load sits between the collector and the supply.
        d += elm.Line().at(q.collector).up().length(0.5)
        d.push()
        d += elm.Line().left().length(1.5)
        d += elm.Diode().up().length(LOAD_LENGTH).reverse().label(row["diode"], loc="bottom")
        d += elm.Line().right().length(1.5)
        d.pop()
        d += elm.RBox().up().length(LOAD_LENGTH).label(f"{row['part']} (+ at top)", loc="bottom")
        d += elm.Line().up().length(0.5)
        d += elm.Vdd().label(f"+5V pin {row['supply']}", fontsize=9)
    else:
        d += elm.Line().at(q.collector).up().length(0.4)
        d += elm.Arrow().right().length(1.5)
        d += elm.Label().label(f"to {row['part']}", halign="left", valign="center")


def _ohms(value: int) -> str:
    return f"{value // 1000}k Ω" if value % 1000 == 0 else f"{value} Ω"


def _notes(pinmap: dict[str, Any]) -> list[str]:
    lines = ["Generated from device/pinmap.toml by hw/draw_wiring.py: do not edit by hand."]
    for key, entry in pinmap.get("reserved", {}).items():
        pins = ", ".join(
            f"GPIO{b} (pin {h})" for b, h in zip(entry["bcm"], entry["header"], strict=True)
        )
        lines.append(f"Reserved ({key}): {pins}. {entry['note']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pinmap", type=Path, default=PINMAP)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.output.write_bytes(draw(load_pinmap(args.pinmap)))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
