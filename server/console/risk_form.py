"""The risk assessment section of the console's forms: read it, and what the planner shows
beside it (earlier incidents and alarms at the address or with the contact, CIC App.1 1.1, 4.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loneguard.server.risk.assessment import FACTORS, RiskRefused
from loneguard.server.store import Store
from loneguard.server.store.safety_records import PlaceHistory, RiskAssessment, RiskRating

RATINGS = tuple(RiskRating)


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(f"risk_{name}", "")
    return value.strip() if isinstance(value, str) else ""


def read_assessment(
    form: Mapping[str, Any],
    *,
    worker_id: str | None,
    assessed_by: str,
    at_ms: int,
    pattern: str | None = None,
) -> RiskAssessment:
    """The ``risk_*`` fields of a posted form; ``RiskRefused`` without a rating."""
    rating = _text(form, "rating")
    if rating not in RATINGS:
        raise RiskRefused(
            "risk_rating", "assess the risk before lone working (CIC 7.4): low, medium or high"
        )
    factors = {name: _text(form, name) for name, _label, _clause in FACTORS}
    return RiskAssessment(
        id=0,
        session_id=None,
        pattern=pattern,
        worker_id=worker_id,
        rating=RiskRating(rating),
        measures=_text(form, "measures"),
        override_by=_text(form, "override_by") or None,
        override_reason=_text(form, "override_reason") or None,
        assessed_by=assessed_by,
        assessed_ms=at_ms,
        **factors,
    )


def history_for(store: Store, form: Mapping[str, Any]) -> PlaceHistory:
    """What happened before at the form's address or with its contact."""

    def field(name: str) -> str | None:
        value = form.get(name)
        return value.strip() or None if isinstance(value, str) else None

    return store.place_history(field("address"), field("contact_name"), field("contact_phone"))


def form_context(store: Store, form: Mapping[str, Any]) -> dict[str, Any]:
    """What the risk section of a form needs to be drawn (again, after a refusal)."""
    return {"risk_factors": FACTORS, "risk_ratings": RATINGS, "history": history_for(store, form)}
