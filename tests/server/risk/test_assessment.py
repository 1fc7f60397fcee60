"""A high rating goes accompanied, or alone on the line manager's recorded override."""

from __future__ import annotations

import pytest

from loneguard.server.risk.assessment import Arrangement, RiskRefused, check
from loneguard.server.store.safety_records import RiskRating
from tests.server.store.test_safety_rows import assessment

ALONE = Arrangement(accompanied=False, approved_by="Lena")


def test_high_and_alone_needs_a_reason_and_the_approver_signs_it() -> None:
    high = assessment(rating=RiskRating.HIGH)
    with pytest.raises(RiskRefused, match="override_reason") as refused:
        check(high, ALONE)
    assert refused.value.field == "override_reason"
    kept = check(assessment(rating=RiskRating.HIGH, override_reason=" moved away "), ALONE)
    assert (kept.override_by, kept.override_reason) == ("Lena", "moved away")
    with pytest.raises(RiskRefused, match="override_by"):
        check(high, Arrangement(accompanied=False, approved_by=None))


def test_accompanied_or_lower_ratings_carry_no_override() -> None:
    with_reason = assessment(rating=RiskRating.HIGH, override_reason="x", override_by="y")
    assert check(with_reason, Arrangement(True, None)).override_reason is None
    medium = assessment(rating=RiskRating.MEDIUM, override_reason="x")
    assert check(medium, ALONE).override_by is None


def test_a_pattern_names_its_overriding_manager_and_every_assessment_its_measures() -> None:
    pattern = assessment(pattern="evening class", rating=RiskRating.HIGH, override_reason="r")
    with pytest.raises(RiskRefused, match="override_by"):
        check(pattern, None)
    signed = check(
        assessment(rating=RiskRating.HIGH, override_reason="r", override_by="Lena"), None
    )
    assert signed.override_by == "Lena"
    with pytest.raises(RiskRefused, match="measures"):
        check(assessment(measures="  "), ALONE)


def test_every_text_is_bounded() -> None:
    with pytest.raises(RiskRefused, match="override_reason: at most 2000"):
        check(assessment(rating=RiskRating.HIGH, override_reason="x" * 2001), ALONE)
    with pytest.raises(RiskRefused, match="individuals"):
        check(assessment(individuals="x" * 2001), ALONE)
