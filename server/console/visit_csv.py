"""Visits as CSV, each with its risk assessment (for spreadsheets and the review's evidence).

Viewers get no addresses, contacts or free text (which may name people and places): the rating,
who assessed and whether a high rating was overridden. Cells a spreadsheet would run as a
formula (starting ``=``, ``+``, ``-``, ``@``) are written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence

from loneguard.server.console.views import format_time
from loneguard.server.risk.assessment import FACTORS
from loneguard.server.store import Session
from loneguard.server.store.safety_records import RiskAssessment

_VISIT = ["visit", "worker", "state", "started_utc", "expected_end_utc", "accompanied"]
_PERSONAL = ["approved_by", "address", "contact_name", "contact_phone"]
_RISK = ["risk_rating", "risk_assessed_by", "risk_assessed_utc", "risk_overridden"]
_RISK_TEXT = [
    "risk_override_by",
    "risk_override_reason",
    "risk_measures",
    *(f"risk_{name}" for name, _label, _clause in FACTORS),
]


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def visits_csv(
    visits: Sequence[Session],
    names: Mapping[str, str],
    assessment_of: Callable[[int], RiskAssessment | None],
    *,
    personal: bool,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        _VISIT + (_PERSONAL if personal else []) + _RISK + (_RISK_TEXT if personal else [])
    )
    for s in visits:
        risk = assessment_of(s.id)
        row: list[object] = [
            s.id,
            names.get(s.worker_id or "", s.worker_id or ""),
            s.state,
            format_time(s.started_ms),
            format_time(s.expected_end_ms),
            "yes" if s.accompanied else "no",
        ]
        if personal:
            row += [s.approved_by, s.address, s.contact_name, s.contact_phone]
        if risk is None:
            row += ["not assessed", "", "", ""]
        else:
            row += [
                risk.rating,
                risk.assessed_by,
                format_time(risk.assessed_ms),
                "yes" if risk.override_reason else "no",
            ]
        if personal:
            if risk is None:
                row += [""] * len(_RISK_TEXT)
            else:
                row += [risk.override_by, risk.override_reason, risk.measures]
                row += [getattr(risk, name) for name, _label, _clause in FACTORS]
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
