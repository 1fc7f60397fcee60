"""One place and one person, however they were typed."""

from __future__ import annotations

import pytest

from loneguard.server.risk.places import address_key, contact_key, phone_key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("12a High St., AB1 2CD", "12A  high street ab12cd"),
        ("Flat 3, 4 Mill Rd", "flat 3 4 mill road"),
        ("5 Park Ave", "5 PARK AVENUE"),
    ],
)
def test_the_same_address_typed_differently_has_one_key(a: str, b: str) -> None:
    assert address_key(a) == address_key(b)


def test_different_places_and_blanks() -> None:
    assert address_key("12 High Street") != address_key("12a High Street")
    assert address_key("  ,. ") is None and address_key(None) is None


def test_phones_by_their_digits_names_when_there_is_no_number() -> None:
    assert phone_key("+44 7700 900123") == phone_key("07700-900123") == "07700900123"
    assert phone_key("0044 7700 900123") == "07700900123"
    assert phone_key("12") is None
    assert contact_key("Mrs Example", "+447700900123") == "tel:07700900123"
    assert contact_key("Mrs  Example", None) == contact_key("mrs example", "") == "name:mrs example"
    assert contact_key(None, None) is None
