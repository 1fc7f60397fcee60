"""Phone numbers: national formats read in the hub's region and kept in E.164, nonsense refused
with the field named, older stored values still usable."""

from __future__ import annotations

import pytest

from loneguard.server.phone import PhoneNumber, PhoneNumberError, legacy


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("07700 900123", "GB", "+447700900123"),
        ("+44 7700 900123", "GB", "+447700900123"),
        ("0044 (0)7700-900123".replace("(0)", ""), "GB", "+447700900123"),
        ("01632 960001", "GB", "+441632960001"),
        ("087 123 4567", "IE", "+353871234567"),
        ("+1 202 555 0143", "GB", "+12025550143"),
    ],
)
def test_typed_numbers_are_kept_in_e164(typed: str, region: str, e164: str) -> None:
    number = PhoneNumber.parse(typed, region, field="mobile")
    assert number == e164
    assert isinstance(number, str)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("12", "is too short"),
        ("07700", "is too short"),
        ("077009001234567", "is too long"),
        ("call me", "may only hold digits"),
        ("07700 900123 ext 4", "may only hold digits"),
        ("", "is empty"),
        ("+999 1234 5678", "unknown country code"),
    ],
)
def test_nonsense_is_refused_naming_the_field(typed: str, problem: str) -> None:
    with pytest.raises(PhoneNumberError) as caught:
        PhoneNumber.parse(typed, "GB", field="mobile")
    assert str(caught.value).startswith("mobile: ")
    assert problem in str(caught.value)
    assert typed[3:] not in str(caught.value) or len(typed) < 6  # the number is not echoed


def test_the_type_only_holds_e164_and_prints_nationally() -> None:
    with pytest.raises(PhoneNumberError):
        PhoneNumber("07700 900123")
    number = PhoneNumber("+447700900123")
    assert number.national() == "07700 900123"
    assert number.for_region("GB") == "07700 900123"
    assert number.for_region("IE") == "+44 7700 900123"


def test_stored_numbers_from_an_older_hub_still_load() -> None:
    assert legacy("07700 900123") == "+447700900123"
    assert legacy("+447700900123") == "+447700900123"
    assert legacy("  ") is None
    assert legacy("ring reception") == "ring reception"  # kept for a person to correct
