"""SMS-SUBMIT PDUs checked against published examples and the fake network's own decoder."""

from __future__ import annotations

import pytest

from loneguard.gsm.fake_pdu import Reassembly, decode_submit
from loneguard.gsm.pdu import count_parts, encoding_for, plain, split_parts, submit_pdus


def test_a_short_text_is_one_gsm7_submit_as_the_references_write_it() -> None:
    # "hello" to +358401234567: TP-DA 0C 91 534810325476, TP-UD E8329BFD06 (3GPP 23.038 packing;
    # the same user data in the nRF91 AT manual's AT+CMGS example and GSM 03.40 primers).
    [pdu] = submit_pdus("+358401234567", "hello", 0)
    assert pdu.hex == "0001000C91534810325476000005E8329BFD06"
    assert pdu.length == 18  # AT+CMGS=<length>: octets after the service-centre octet


def test_septets_pack_lsb_first_as_the_nordic_example() -> None:
    # nRF91 AT+CMGS example: "Testing a sms messaging over lte", 32 septets in 28 octets.
    [pdu] = submit_pdus("+358401234567", "Testing a sms messaging over lte", 0)
    assert pdu.hex.endswith("20D4F29C9E769F4161D0BC3D07B5CBF379F89C769F416F7B590E62D3CB")


def test_a_national_number_has_type_129_and_an_f_filler() -> None:
    [pdu] = submit_pdus("077009001", "hi", 0)
    assert "0981" + "70079000F1" in pdu.hex


def test_limits_of_one_part_and_of_each_concatenated_part() -> None:
    assert count_parts("a" * 160) == 1
    assert count_parts("a" * 161) == 2
    assert count_parts("a" * 306) == 2
    assert count_parts("a" * 307) == 3
    assert count_parts("{" * 80) == 1  # an escaped character takes two septets
    assert count_parts("{" * 81) == 2
    assert count_parts("Zoë " * 17) == 1  # ë is in the GSM alphabet
    assert encoding_for("Łukasz") == "ucs2"
    assert count_parts("Ł" * 70) == 1
    assert count_parts("Ł" * 71) == 2
    assert count_parts("Ł" * 134) == 2
    assert count_parts("Ł" * 135) == 3


def test_an_escape_or_a_surrogate_pair_is_never_cut_in_two() -> None:
    _, parts = split_parts("a" * 152 + "€" + "b" * 10)
    assert parts == ["a" * 152, "€" + "b" * 10]
    _, parts = split_parts("Ł" * 66 + "🙂" + "x" * 5)
    assert parts == ["Ł" * 66, "🙂" + "x" * 5]


def test_typography_stays_gsm7() -> None:
    assert plain("Ana\u2019s visit \u2014 \u201cnow\u201d\u2026") == 'Ana\'s visit - "now"...'
    assert encoding_for(plain("Ana\u2019s visit \u2014 \u201cnow\u201d\u2026")) == "gsm7"


@pytest.mark.parametrize(
    "text",
    [
        "Ana Lopez is overdue from 14 Elm Road. [Press] {check-in} ~ | ^ € \\ " * 6,
        "Zoë Łukasz O\u2019Brien 🙂 " * 9,
        "short",
    ],
)
def test_the_network_reassembles_what_was_sent(text: str) -> None:
    pdus = submit_pdus("+447700900123", text, 42)
    joined = Reassembly()
    wholes = [joined.add(decode_submit(p.hex, p.length)) for p in pdus]
    assert wholes[:-1] == [None] * (len(pdus) - 1)
    whole = wholes[-1]
    assert whole is not None
    assert (whole.number, whole.text, whole.parts) == ("+447700900123", plain(text), len(pdus))
    parts = [decode_submit(p.hex, p.length) for p in pdus]
    if len(pdus) > 1:
        assert {(p.reference, p.total) for p in parts} == {(42, len(pdus))}
        assert [p.seq for p in parts] == list(range(1, len(pdus) + 1))
