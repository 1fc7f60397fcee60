"""The house stays walkable: within each part of loneguard no two modules share a name, and no
module is named like one of the part's rooms (a stack trace names the file, and three files called
``app.py`` make every one a riddle)."""

from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("protocol", "gsm", "device", "server")


@pytest.mark.parametrize("part", PARTS)
def test_module_names_are_unique_within_each_part(part: str) -> None:
    modules = [p for p in (ROOT / part).rglob("*.py") if p.name != "__init__.py"]
    rooms = {p.name for p in (ROOT / part).rglob("*") if (p / "__init__.py").is_file()}
    names = Counter(p.stem for p in modules)
    assert [name for name, n in names.items() if n > 1] == []
    assert sorted(rooms & set(names)) == []
