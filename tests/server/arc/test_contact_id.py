"""Contact ID events: the text DC-09 carries, the code for each alarm kind, and what a receiver
(pysiaalarm's ADM-CID table) makes of each."""

from __future__ import annotations

import pytest
from pysiaalarm.data.adm_mapping import ADM_MAPPING

from loneguard.server.arc import contact_id
from loneguard.server.arc.contact_id import ContactIdEvent


def test_the_text_is_qualifier_code_group_zone() -> None:
    assert ContactIdEvent(1, 120, 1, 15).text() == "1120 01 015"
    assert ContactIdEvent(3, 602, 0, 0).text() == "3602 00 000"
    assert ContactIdEvent(6, 121, 99, 999).text() == "6121 99 999"


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("panic", 120),
        ("duress", 121),
        ("overdue", 102),
        ("missed_checkin", 102),
        ("device_offline", 381),
    ],
)
def test_each_alarm_kind_has_its_code_new_and_restored(kind: str, code: int) -> None:
    assert contact_id.for_alarm(kind, zone=4, group=1) == ContactIdEvent(1, code, 1, 4)
    assert contact_id.for_alarm(kind, zone=4, group=1, restore=True) == ContactIdEvent(
        3, code, 1, 4
    )


def test_the_periodic_test_concerns_the_link_not_a_worker() -> None:
    assert contact_id.periodic_test(group=2) == ContactIdEvent(1, 602, 2, 0)


def test_an_unknown_kind_is_named() -> None:
    with pytest.raises(KeyError, match="no Contact ID code for alarm kind 'fire'"):
        contact_id.code_for_alarm("fire")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ((2, 120, 1, 1), "qualifier must be 1, 3 or 6"),
        ((1, 1000, 1, 1), "event code must be 0-999"),
        ((1, 120, 100, 1), "group"),
        ((1, 120, 1, 1000), "zone or user must be 0-999"),
    ],
)
def test_out_of_range_fields_are_refused(fields: tuple[int, int, int, int], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        ContactIdEvent(*fields)


def test_a_receivers_table_knows_the_alarm_codes() -> None:
    """pysiaalarm's ADM-CID → SIA table: panic PA/PH, duress HA/HH, loss of supervision YC/YK,
    test RP. 102 and 384 are missing from it (it reads them as YN, "invalid report", and acks):
    an ARC whose software is built like it shows the raw code; docs/arc.md says so."""
    assert ADM_MAPPING["120"] == {"1": "PA", "3": "PH"}
    assert ADM_MAPPING["121"] == {"1": "HA", "3": "HH"}
    assert ADM_MAPPING["381"] == {"1": "YC", "3": "YK"}
    assert ADM_MAPPING["602"]["1"] == "RP"
    assert "102" not in ADM_MAPPING and "384" not in ADM_MAPPING
