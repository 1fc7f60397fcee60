"""Phone numbers: one E.164 value type, parsed once at entry with ``phonenumbers``.

``PhoneNumber.parse("07700 900123", "GB", field="mobile")`` gives ``PhoneNumber("+447700900123")``:
national formats are read in the hub's default region (``phones.default_region``), international
ones (``+33 1 …``, ``0044 …``) as written. Nonsense is refused with a ``PhoneNumberError`` that
names the field and says what is wrong, never the whole number (numbers are personal data).

A ``PhoneNumber`` is a ``str`` holding the E.164 form, so the store, the modem and JSON take it
as they are; constructing one from text that is not already E.164 raises. ``legacy`` reads what an
older hub stored (free text, national formats) without ever failing: a number it cannot read is
kept as it was, for the channel health check to report and a person to correct.

Validity: the check is ``phonenumbers.is_possible_number`` (a length the country's numbering plan
allows), not ``is_valid_number``. Ofcom's drama ranges (07700 900xxx, 01632 960xxx), which the
demo and the tests use, are possible but deliberately never allocated, so "valid" would refuse
them; a real but unallocated number would still pass either check.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

DEFAULT_REGION: Final = "GB"
MAX_TEXT: Final = 40  # what a person may type, spaces and brackets included

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What a typed number may contain: digits, a leading +, spaces and the usual separators.
_TYPED = re.compile(r"\+?[0-9][0-9 ().-]*")
_REASONS: Final = {
    ValidationResult.TOO_SHORT: "is too short",
    ValidationResult.TOO_LONG: "is too long",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
    ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
}


class PhoneNumberError(ValueError):
    """A number that cannot be used. ``field`` names the setting or form field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def is_region(code: str) -> bool:
    """Whether ``code`` is a region ``phonenumbers`` knows (``GB``, ``IE``, ``DE``, ...)."""
    return code in phonenumbers.SUPPORTED_REGIONS


class PhoneNumber(str):
    """A phone number in E.164 form (``+447700900123``). Build one with ``parse``."""

    __slots__ = ()

    def __new__(cls, e164: str) -> PhoneNumber:
        if not isinstance(e164, str) or not _E164.fullmatch(e164):
            raise PhoneNumberError("phone", "must be in E.164 form, like +447700900123")
        return super().__new__(cls, e164)

    @classmethod
    def parse(cls, text: str, region: str = DEFAULT_REGION, *, field: str = "phone") -> PhoneNumber:
        """The number ``text`` means, read in ``region`` when it is written nationally."""
        typed = " ".join(str(text).split())
        if not typed:
            raise PhoneNumberError(field, "is empty")
        if len(typed) > MAX_TEXT:
            raise PhoneNumberError(field, f"is longer than {MAX_TEXT} characters")
        if typed.startswith("00"):
            typed = "+" + typed[2:]
        if not _TYPED.fullmatch(typed):
            raise PhoneNumberError(
                field, "may only hold digits, spaces, brackets, dashes and a leading +"
            )
        try:
            number = phonenumbers.parse(typed, region)
        except NumberParseException as exc:
            unknown = exc.error_type == NumberParseException.INVALID_COUNTRY_CODE
            problem = "has an unknown country code" if unknown else "is not a phone number"
            raise PhoneNumberError(field, problem) from None
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
            problem = _REASONS.get(reason, "is not a phone number")
            raise PhoneNumberError(field, f"{problem} (e.g. 07700 900123 or +447700900123)")
        if reason == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            raise PhoneNumberError(field, "is too short: give the whole number, area code too")
        return cls(phonenumbers.format_number(number, PhoneNumberFormat.E164))

    @classmethod
    def optional(
        cls, text: str | None, region: str = DEFAULT_REGION, *, field: str = "phone"
    ) -> PhoneNumber | None:
        """``parse`` for a field that may be left empty: blank text is None."""
        if text is None or not text.strip():
            return None
        return cls.parse(text, region, field=field)

    def national(self) -> str:
        """As written at home: ``07700 900123`` for a GB number, ``+33 1 …`` for others."""
        number = phonenumbers.parse(str(self), None)
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)

    def for_region(self, region: str) -> str:
        """Nationally in its own region, internationally elsewhere: how a person dials it."""
        number = phonenumbers.parse(str(self), None)
        if region in phonenumbers.region_codes_for_country_code(number.country_code or 0):
            return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def legacy(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """A stored number as E.164 if it can be read, else the stored text unchanged."""
    if text is None or not text.strip():
        return None
    try:
        return PhoneNumber.parse(text, region)
    except PhoneNumberError:
        return text


__all__ = [
    "DEFAULT_REGION",
    "PhoneNumber",
    "PhoneNumberError",
    "is_region",
    "legacy",
]
