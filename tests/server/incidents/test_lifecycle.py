"""reported → investigating → closed, and nothing else."""

from __future__ import annotations

import pytest

from loneguard.server.incidents import lifecycle
from loneguard.server.store.safety_records import IncidentConflict, IncidentStatus
from tests.server.store.test_safety_rows import incident


def test_the_only_way_is_forward() -> None:
    reported = incident(id=7)
    with pytest.raises(lifecycle.IncidentRefused, match="investigator"):
        lifecycle.investigate(reported, "  ")
    with pytest.raises(IncidentConflict, match="incident 7 is reported"):
        lifecycle.close(reported, "found", "max", 1)
    with pytest.raises(IncidentConflict):
        lifecycle.write_findings(reported, "early")
    going = lifecycle.investigate(reported, " Lena ")
    assert (going.status, going.investigator) == (IncidentStatus.INVESTIGATING, "Lena")
    noted = lifecycle.write_findings(going, " dog loose ")
    with pytest.raises(lifecycle.IncidentRefused, match="findings"):
        lifecycle.close(going, "", "max", 1)
    closed = lifecycle.close(noted, "", "max", 9)  # the findings written before stand
    assert (closed.status, closed.findings, closed.closed_by, closed.closed_ms) == (
        IncidentStatus.CLOSED,
        "dog loose",
        "max",
        9,
    )
    for change in (
        lambda i: lifecycle.investigate(i, "x"),
        lambda i: lifecycle.close(i, "x", "y", 1),
        lambda i: lifecycle.write_findings(i, "x"),
    ):
        with pytest.raises(IncidentConflict):
            change(closed)
