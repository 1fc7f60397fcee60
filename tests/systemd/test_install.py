"""The install scripts parse, pass shellcheck where it is installed, and keep the promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = Path(__file__).resolve().parents[2] / "install"
SCRIPTS = sorted(INSTALL.glob("*.sh"))


def test_there_is_a_script_for_each_side() -> None:
    assert [p.name for p in SCRIPTS] == ["device.sh", "hub.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bash_parses(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "set -euo pipefail" in script.read_text()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    subprocess.run(["shellcheck", str(script)], check=True)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_config_is_never_overwritten(script: Path) -> None:
    # The .toml and the .env are each written only inside an "if [ ! -e ... ]" guard.
    assert script.read_text().count('if [ ! -e "$etc/') == 2
