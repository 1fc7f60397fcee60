"""Alarm messages rendered from the alarm's facts: pure, so every case is a call."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loneguard.gsm.pdu import count_parts, encoding_for, plain
from loneguard.server.escalation.notify.messages import (
    AlarmFacts,
    CovertMessageRefused,
    Fix,
    MessageStyle,
    fill,
    map_link,
    render,
)
from loneguard.server.escalation.policy import DEFAULT_POLICIES

# 2026-12-01 14:00 UTC (GMT in London).
NOW = 1_796_133_600_000
MIN = 60_000
STYLE = MessageStyle(console_url="https://hub.example.org")
FACTS = AlarmFacts(
    alarm_id=12,
    kind="overdue",
    started_ms=NOW - 8 * MIN,
    worker_name="Ana Lopez",
    worker_mobile="+447700900101",
    worker_home="+441632960101",
    device_id="demo-1",
    due_ms=NOW - 13 * MIN,
    address="14 Elm Road, Leeds LS6 2AB",
    contact_name="Mrs Patel",
    contact_phone="01632 960999",  # as an older hub stored it
)


def sms(facts: AlarmFacts, guidance: str, role: str = "line_manager", **style: object) -> str:
    return render(facts, guidance, role, "sms", NOW, replace(STYLE, **style))  # type: ignore[arg-type]


def test_a_responder_reads_who_what_since_when_where_what_now_and_how_to_take_charge() -> None:
    text = sms(FACTS, "Ring {worker} on {worker_mobile} now.")
    assert text == (
        "OVERDUE: Ana Lopez was due back at 13:47 and has not checked in.\n"
        "Mobile 07700 900101. At 14 Elm Road, Leeds LS6 2AB. "
        "Visit contact: Mrs Patel 01632 960999.\n"
        "Now: Ring Ana Lopez on 07700 900101 now.\n"
        "Reply ACK 12 to take charge, or open https://hub.example.org/console/alarms/12."
    )


def test_the_last_fix_is_a_map_link_with_its_accuracy_and_age() -> None:
    facts = replace(FACTS, kind="panic", fix=Fix(53.80076, -1.54908, 12.4, NOW - 3 * MIN))
    text = sms(facts, "Send help.")
    assert f"Last fix {map_link(53.80076, -1.54908)} (within 12 m, 3 min old)." in text
    assert map_link(53.80076, -1.54908).startswith("https://www.openstreetmap.org/?mlat=53.80076")


def test_no_address_and_no_fix_says_no_location() -> None:
    text = sms(replace(FACTS, address=None, contact_name=None, contact_phone=None), "Ring.")
    assert "No location." in text and "Visit contact" not in text


def test_the_worker_is_spoken_to_and_not_told_to_take_charge() -> None:
    text = sms(FACTS, "Ring {worker}.", role="worker")
    assert text == (
        "Ana, you are overdue from 14 Elm Road, Leeds LS6 2AB (due back 13:47). "
        "Press check-in if you are safe. Hold the panic button if you need help."
    )
    # The same step on the console is the office's task.
    console = render(FACTS, "Ring {worker} on {worker_mobile}.", "worker", "console", NOW, STYLE)
    assert console.endswith("Now: Ring Ana Lopez on (on the alarm page, for managers).")


def test_the_visit_contact_and_home_are_asked_for_news_only() -> None:
    for role in ("visit_contact", "worker_home"):
        text = sms(FACTS, "Ring the contact.", role=role)
        assert text.startswith("loneguard safety check: we cannot reach Ana")
        assert "ACK" not in text and "Elm Road" not in text and "07700" not in text


def test_a_covert_alarm_is_never_rendered_for_the_worker_and_says_covert() -> None:
    duress = replace(FACTS, kind="duress", covert=True)
    for role in ("worker", "visit_contact", "worker_home"):
        with pytest.raises(CovertMessageRefused):
            sms(duress, "x", role=role)
    assert sms(duress, "Do not ring openly.").startswith("COVERT DURESS: Ana Lopez")
    assert "COVERT" in render(duress, "x", "admins", "console", NOW, STYLE)


def test_times_are_in_the_hubs_zone_and_the_day_is_said_when_not_today() -> None:
    summer = replace(FACTS, due_ms=NOW - 180 * 24 * 60 * MIN)
    assert "due back at 15:00 on 04 Jun" in sms(summer, "x")  # 14:00 UTC, BST then
    assert "due back at 14:47" in sms(FACTS, "x", timezone="Europe/Paris")


def test_placeholders_without_facts_say_so() -> None:
    bare = AlarmFacts(alarm_id=3, kind="panic", started_ms=NOW)
    assert fill(
        "{worker} {worker_mobile} {address} {location} {contact} {ack}", bare, NOW, STYLE
    ) == ("the worker (no mobile on record) (no address) no location (no visit contact) ACK 3")


def test_a_long_message_loses_the_link_then_guidance_never_the_facts_or_the_ack() -> None:
    long_guidance = "Ring everyone you can think of. " * 20
    text = sms(FACTS, long_guidance)
    assert count_parts(plain(text)) <= 3
    assert "https://hub.example.org" not in text
    assert text.endswith("Reply ACK 12 to take charge.")
    assert "Ana Lopez" in text and "14 Elm Road" in text and "Now: Ring everyone" in text
    assert "..." in text
    assert text.split("...")[0].split()[-1] in long_guidance.split()  # cut between words
    assert count_parts(plain(sms(FACTS, long_guidance, sms_max_parts=1))) == 1


@pytest.mark.parametrize("policy", sorted(DEFAULT_POLICIES))
def test_every_shipped_step_fits_three_parts_even_for_a_long_ucs2_name(policy: str) -> None:
    worst = replace(
        FACTS,
        kind=policy,
        covert=DEFAULT_POLICIES[policy].covert,
        worker_name="Łucja Żółkiewska-Brzęczyszczykiewicz",
        address="Flat 12b, Ashbourne Court, 145-147 Ecclesall Road South, Sheffield S11 9PJ",
        fix=Fix(53.36, -1.5, 35.0, NOW - 50 * MIN),
    )
    for step in DEFAULT_POLICIES[policy].steps:
        for role in step.notify or ("console",):
            if worst.covert and role == "worker":
                continue
            text = sms(worst, step.message, role=role)
            assert count_parts(plain(text)) <= 3, text
            assert encoding_for(plain(text)) == "ucs2"
            assert "Łucja" in text
            if role not in ("worker", "visit_contact", "worker_home"):
                assert "Łucja Żółkiewska-Brzęczyszczykiewicz" in text
                assert "Flat 12b" in text
                assert text.endswith("Reply ACK 12 to take charge.")


def test_the_console_text_every_console_shows_holds_no_number_address_or_position() -> None:
    # Viewers' consoles get it too (docs/security.md): names and times only.
    facts = replace(FACTS, kind="panic", fix=Fix(53.80076, -1.54908, 12.4, NOW - 3 * MIN))
    guidance = "Ring {worker} on {worker_mobile}, then {contact} on {contact_phone} at {address}."
    text = render(facts, guidance, "line_manager", "console", NOW, STYLE)
    assert "Ana Lopez" in text and "Mrs Patel" in text
    for personal in ("900101", "960999", "960101", "Elm Road", "openstreetmap", "53.8"):
        assert personal not in text
