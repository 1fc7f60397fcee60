"""The risk assessment's rules, pure: which factors it asks about and what a high rating needs.

The factors are the policies' own (CIC 8.1.1-8.1.5, school §6 adds the risk of allegation).
Where there is reasonable doubt, a second worker goes (CIC 8.2, App.1 4.4): a visit rated high
is accompanied, or the line manager who approves the unaccompanied visit (App.1 5.1.1) records
an override with a reason. The two approvals are one: the override is the approver's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loneguard.server.store.safety_records import RiskAssessment, RiskRating

# (field, label, policy clause) in the order the form asks them.
FACTORS: tuple[tuple[str, str, str], ...] = (
    ("environment", "The environment: location, security, access", "CIC 8.1.1"),
    ("context", "The context: nature of the task, special circumstances", "CIC 8.1.2"),
    ("individuals", "The individuals: indicators of potential or actual risk", "CIC 8.1.3"),
    ("history", "History: previous incidents in similar situations", "CIC 8.1.4, App.1 4.1"),
    ("allegation", "Risk of allegation", "school §6"),
    ("other", "Any other special circumstances", "CIC 8.1.5"),
)
MAX_TEXT = 2000


class RiskRefused(ValueError):
    """An assessment the policy does not allow; names the form field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True)
class Arrangement:
    """How the visit is to be made: with a second worker, or alone with whose approval."""

    accompanied: bool
    approved_by: str | None


def check(assessment: RiskAssessment, arrangement: Arrangement | None) -> RiskAssessment:
    """The assessment as it may be kept (the override's author filled in), or ``RiskRefused``.

    ``arrangement`` is None for a shift pattern, which has no second worker to send: a high
    rating there needs the override all the same.
    """
    if not assessment.measures.strip():
        raise RiskRefused("measures", "say what is done to reduce the risk (CIC 7.9.3)")
    for name in (*(f[0] for f in FACTORS), "measures", "override_reason", "override_by"):
        if len(getattr(assessment, name) or "") > MAX_TEXT:
            raise RiskRefused(name, f"at most {MAX_TEXT} characters")
    if assessment.rating != RiskRating.HIGH or (arrangement and arrangement.accompanied):
        return _without_override(assessment)
    reason = (assessment.override_reason or "").strip()
    by = (arrangement.approved_by if arrangement else assessment.override_by) or ""
    if not by.strip():
        raise RiskRefused(
            "override_by", "a high risk needs the line manager's override (or a second worker)"
        )
    if not reason:
        raise RiskRefused(
            "override_reason",
            "a high-rated visit goes accompanied (CIC 8.2, App.1 4.4); to go alone the line"
            " manager records why",
        )
    return replace(assessment, override_by=by.strip(), override_reason=reason)


def _without_override(assessment: RiskAssessment) -> RiskAssessment:
    return replace(assessment, override_by=None, override_reason=None)
