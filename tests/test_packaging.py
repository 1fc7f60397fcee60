"""The distribution as an install builds it: one top-level import name, ``loneguard``, with the
files the code reads at run time; and its dependencies bounded and pinned.

The wheel is built from a copy of the checkout's files (tracked and untracked, not ignored) with
this environment's setuptools and no network, then installed without dependencies into a fresh
venv, where nothing of the checkout is on ``sys.path``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("protocol", "gsm", "device", "server")


def _checkout_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A copy, so the build's egg-info and build/ never land in the checkout.
    tree = tmp_path_factory.mktemp("source")
    for name in _checkout_files():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(tree)),
        ],
        capture_output=True,
        check=True,
    )
    (built,) = out.glob("loneguard-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What the fresh venv's own Python says about the installed distribution."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        capture_output=True,
        check=True,
    )
    probe = """
import importlib.metadata, importlib.resources, json
import loneguard.protocol.messages as messages
from loneguard.device.config import pinmap_defaults
from loneguard.server.escalation.policy import DEFAULT_POLICIES
from loneguard.server.sessions.shift_types import DEFAULT_SHIFT_TYPES
files = importlib.metadata.files("loneguard") or []
print(json.dumps({
    "files": [f.as_posix() for f in files],
    "messages": messages.__file__,
    "pins": len(pinmap_defaults()),
    "policies": sorted(DEFAULT_POLICIES),
    "shift_types": sorted(DEFAULT_SHIFT_TYPES),
}))
"""
    # Run from the venv's own directory: the checkout must not be importable from the cwd.
    result = subprocess.run(
        [str(python), "-I", "-c", probe],
        cwd=env_dir,
        capture_output=True,
        check=True,
        text=True,
    )
    found: dict[str, object] = json.loads(result.stdout)
    found["env"] = str(env_dir)
    return found


def _expected_data_files() -> set[str]:
    expected = {f"loneguard/{part}/py.typed" for part in PARTS}
    expected |= {"loneguard/device/pinmap.toml", "loneguard/device/simulator.html"}
    expected.add("loneguard/server/escalation/shipped_policies.toml")
    expected.add("loneguard/server/sessions/shift_types.toml")
    console = ROOT / "server" / "console"
    templates = sorted((console / "templates").glob("*.html"))
    static = sorted(p for p in (console / "static").iterdir() if p.is_file())
    assert templates and static
    expected |= {f"loneguard/server/console/templates/{p.name}" for p in templates}
    expected |= {f"loneguard/server/console/static/{p.name}" for p in static}
    return expected


def test_the_wheel_has_one_top_level_name_and_no_namespace_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"loneguard"}
    assert "loneguard/__init__.py" not in names  # a namespace: the parts install side by side
    assert {n.split("/")[1] for n in names if n.startswith("loneguard/")} == set(PARTS)


def test_the_wheel_carries_the_files_the_code_reads(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert _expected_data_files() <= names


def test_installed_into_a_fresh_venv_it_imports_from_there(installed: dict[str, object]) -> None:
    files = installed["files"]
    assert isinstance(files, list)
    # Entry-point scripts are recorded outside site-packages, as ../../../bin/...
    inside = [f for f in files if not f.startswith("..")]
    top = {f.split("/", 1)[0] for f in inside}
    assert {t for t in top if not t.endswith(".dist-info")} == {"loneguard"}
    assert _expected_data_files() <= set(inside)
    assert str(installed["messages"]).startswith(str(installed["env"]))
    # The firmware reads its pin map as a resource of loneguard.device, which in the checkout a
    # top-level "device" would also find (the repository's root is on the tests' sys.path).
    assert isinstance(installed["pins"], int) and installed["pins"] > 0
    # The hub reads its shipped escalation policies the same way.
    assert installed["policies"] == [
        "device_offline",
        "duress",
        "home_working",
        "missed_checkin",
        "overdue",
        "panic",
    ]
    assert installed["shift_types"] == ["building", "home_working"]  # and its shift types


def _requirements() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    every = {"": project["dependencies"], **extras}
    return {
        extra: [r for r in map(Requirement, reqs) if r.name != "loneguard"]
        for extra, reqs in every.items()
    }


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: not a pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_dependency_is_bounded_below_an_untested_major() -> None:
    for extra, reqs in _requirements().items():
        for req in reqs:
            ops = {spec.operator for spec in req.specifier}
            assert ops & {"<", "==", "~="}, f"{extra}: {req} has no upper bound"


def test_constraints_pin_every_dependency_within_its_bounds() -> None:
    pins = _pins()
    for extra, reqs in _requirements().items():
        for req in reqs:
            pinned = pins.get(canonicalize_name(req.name))
            assert pinned is not None, f"{extra}: {req.name} not in constraints.txt (scripts/lock)"
            assert req.specifier.contains(pinned, prereleases=True), f"{req} vs =={pinned}"
