"""The fuzzing profile: many examples, no per-example deadline (the machine is shared), no
example database (each CI run explores afresh), and a count of every payload generated."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fuzz",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
FUZZ = settings.get_profile("fuzz")

GENERATED: dict[str, int] = {}  # test module → payloads generated in this run


def count(module: str, n: int = 1) -> None:
    GENERATED[module] = GENERATED.get(module, 0) + n


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many inputs this run generated, in pytest's summary (the issue asks for 10,000+)."""
    if GENERATED:
        total = sum(GENERATED.values())
        parts = ", ".join(f"{m}={n}" for m, n in sorted(GENERATED.items()))
        terminalreporter.section("fuzzing: inputs generated")
        terminalreporter.write_line(f"{total} ({parts})")
