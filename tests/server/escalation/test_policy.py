"""Escalation policies: durations, the TOML parser's errors, and the shipped defaults."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loneguard.server.escalation.policy import (
    CHANNELS,
    DEFAULT_POLICIES,
    ROLES,
    Policy,
    PolicyError,
    Step,
    format_duration,
    is_shipped,
    loads_policies,
    parse_duration,
    parse_policies,
    policies_to_toml,
    uses_arc_explicitly,
    with_defaults,
)
from loneguard.server.store import AlarmKind

# ---------------------------------------------------------------------------------------------
# A strategy for valid policies, shared with the ladder's tests.

_people = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs")), min_size=1, max_size=20
).map(lambda name: f"person:{name}")
# Braces are placeholders (tested on their own below): plain text here.
_messages = st.text(min_size=1, max_size=60).filter(
    lambda text: text.strip() != "" and "{" not in text and "}" not in text
)


@st.composite
def steps(draw: st.DrawFn, covert: bool = False, after: int = 0) -> Step:
    roles = [r for r in ROLES if not (covert and r == "worker")]
    notify = draw(st.lists(st.sampled_from(roles) | _people, unique=True, max_size=4))
    if notify:
        # The ARC is named by one step of a policy at most: ``policies`` adds it.
        people_channels = [c for c in CHANNELS if c != "arc"]
        channels = draw(st.lists(st.sampled_from(people_channels), unique=True, min_size=1))
    else:
        channels = ["console"]
    repeat = draw(st.none() | st.integers(1, 1800))
    return Step(after, tuple(notify), tuple(channels), draw(_messages), repeat)


@st.composite
def policies(draw: st.DrawFn, max_steps: int = 5) -> Policy:
    covert = draw(st.booleans())
    afters = sorted(draw(st.lists(st.integers(0, 7200), min_size=1, max_size=max_steps)))
    device_ack = "received" if covert else draw(st.sampled_from(["received", "help_coming"]))
    name = draw(st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True))
    drawn = [draw(steps(covert, after)) for after in afters]
    to_arc = draw(st.none() | st.integers(0, len(drawn) - 1))
    if to_arc is not None:
        drawn[to_arc] = replace(drawn[to_arc], channels=(*drawn[to_arc].channels, "arc"))
    return Policy(name, tuple(drawn), covert=covert, device_ack=device_ack)


# ---------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("0s", 0),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1m5s", 65),
        ("90m", 5400),
        ("2h0m10s", 7210),
        ("24h", 86400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "5", "5x", "m", "1.5m", "5 m", " 5m", "5m30", "30s5m", "-5m", "1d", "5M", "25h"]
)
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_duration(text, "where.after")
    assert info.value.key == "where.after"


@pytest.mark.parametrize("value", [5, 5.0, True, None, ["5m"]])
def test_a_duration_must_be_a_string(value: object) -> None:
    # A bare number could mean seconds or minutes; nobody should have to guess.
    with pytest.raises(PolicyError, match=r"^x: must be a duration string"):
        parse_duration(value, "x")


@given(st.integers(0, 86400))
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_examples() -> None:
    assert [format_duration(s) for s in (0, 30, 300, 3600, 5400, 3661)] == [
        "0s",
        "30s",
        "5m",
        "1h",
        "1h30m",
        "1h1m1s",
    ]
    with pytest.raises(ValueError):
        format_duration(1.5)


# ---------------------------------------------------------------------------------------------
# TOML errors name the exact key


def _doc(steps_toml: str, head: str = "") -> dict[str, Any]:
    table: dict[str, Any] = tomllib.loads(f"[policies.overdue]\n{head}\n{steps_toml}")["policies"]
    return table


_GOOD_STEP = """
[[policies.overdue.steps]]
after = "0s"
notify = ["worker"]
channels = ["console", "call"]
message = "Ring the worker."
"""


def test_the_documented_example_error() -> None:
    bad = _GOOD_STEP * 2 + _GOOD_STEP.replace('"0s"', '"5x"')
    with pytest.raises(PolicyError) as info:
        parse_policies(_doc(bad))
    assert str(info.value) == (
        "policies.overdue.steps[2].after: '5x' is not a duration like 30s, 5m or 1h"
    )


@pytest.mark.parametrize(
    "change, key, words",
    [
        (('after = "0s"', "after = 5"), "steps[1].after", "duration string"),
        (('after = "0s"', 'aftr = "0s"'), "steps[1].aftr", "unknown key"),
        (('message = "Ring the worker."', ""), "steps[1].message", "missing"),
        (('message = "Ring the worker."', 'message = "  "'), "steps[1].message", "what to do"),
        (('message = "Ring the worker."', "message = 3"), "steps[1].message", "string"),
        (('["worker"]', '["wrker"]'), "steps[1].notify[0]", "unknown role 'wrker'"),
        (('["worker"]', '["worker", "worker"]'), "steps[1].notify[1]", "listed twice"),
        (('["worker"]', '["person:"]'), "steps[1].notify[0]", "person:<name>"),
        (('["worker"]', '["person: Ann"]'), "steps[1].notify[0]", "person:<name>"),
        (('["worker"]', '"worker"'), "steps[1].notify", "list of strings"),
        (('["worker"]', "[1]"), "steps[1].notify[0]", "must be a string"),
        (('["worker"]', "[]"), "steps[1].notify", "only the console and arc channels"),
        (('["console", "call"]', '["console", "fax"]'), "steps[1].channels[1]", "'fax'"),
        (('["console", "call"]', "[]"), "steps[1].channels", "at least one channel"),
        (('after = "0s"', 'after = "0s"\nrepeat_every = "0s"'), "steps[1].repeat_every", "0s"),
        (('after = "0s"', 'after = "0s"\nrepeat_every = "2q"'), "steps[1].repeat_every", "'2q'"),
    ],
)
def test_step_errors_name_the_key(change: tuple[str, str], key: str, words: str) -> None:
    bad = _GOOD_STEP + _GOOD_STEP.replace(*change)
    with pytest.raises(PolicyError) as info:
        parse_policies(_doc(bad))
    assert info.value.key == f"policies.overdue.{key}"
    assert words in info.value.problem


def test_steps_must_be_in_order() -> None:
    bad = _GOOD_STEP.replace('"0s"', '"10m"') + _GOOD_STEP.replace('"0s"', '"5m"')
    with pytest.raises(PolicyError) as info:
        parse_policies(_doc(bad))
    assert str(info.value) == (
        "policies.overdue.steps[1].after: 5m is earlier than the step before (10m); "
        "steps must be in order"
    )
    # Equal times are fine: two rungs at once.
    parse_policies(_doc(_GOOD_STEP + _GOOD_STEP))


@pytest.mark.parametrize(
    "head, steps_toml, key, words",
    [
        ("colour = 1", _GOOD_STEP, "policies.overdue.colour", "unknown key"),
        ("covert = 1", _GOOD_STEP, "policies.overdue.covert", "true or false"),
        ('device_ack = "yes"', _GOOD_STEP, "policies.overdue.device_ack", "must be one of"),
        ("", "", "policies.overdue.steps", "missing"),
        ("steps = []", "", "policies.overdue.steps", "at least one step"),
        ("steps = 3", "", "policies.overdue.steps", "array of tables"),
        ("steps = [3]", "", "policies.overdue.steps[0]", "must be a table"),
        # Duress must look like a check-in, and never ring the worker openly.
        ("covert = true", _GOOD_STEP, "policies.overdue.steps[0].notify", "never contact"),
        (
            'covert = true\ndevice_ack = "help_coming"',
            _GOOD_STEP,
            "policies.overdue.device_ack",
            "covert",
        ),
    ],
)
def test_policy_errors_name_the_key(head: str, steps_toml: str, key: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(_doc(steps_toml, head))
    assert info.value.key == key
    assert words in info.value.problem


def test_section_errors() -> None:
    with pytest.raises(PolicyError, match=r"^policies.overdue: must be a table"):
        parse_policies({"overdue": 3})
    with pytest.raises(PolicyError, match=r"^policies.bad name: a policy name"):
        parse_policies({"bad name": {}})
    with pytest.raises(PolicyError, match=r"^escalation: must be a table"):
        parse_policies(3, section="escalation")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=r"^mqtt: unknown section"):
        loads_policies('[mqtt]\nurl = "x"')
    with pytest.raises(PolicyError, match=r"^policies: not valid TOML"):
        loads_policies("[policies.overdue")


def test_python_built_policies_are_checked_too() -> None:
    with pytest.raises(PolicyError, match=r"^step.notify: must be a tuple"):
        Step(0, ["worker"], ("sms",), "x")  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match=r"^step.after"):
        Step(-1, ("worker",), ("sms",), "x")
    with pytest.raises(PolicyError, match=r"^p.steps\[1\].after: 1m is earlier"):
        Policy("p", (Step(120, (), ("console",), "a"), Step(60, (), ("console",), "b")))


# ---------------------------------------------------------------------------------------------
# The shipped defaults


def test_defaults_round_trip_through_toml() -> None:
    assert loads_policies(policies_to_toml(DEFAULT_POLICIES)) == dict(DEFAULT_POLICIES)


@given(st.lists(policies(), max_size=4, unique_by=lambda p: p.name))
def test_any_policies_round_trip_through_toml(items: list[Policy]) -> None:
    by_name = {p.name: p for p in items}
    assert loads_policies(policies_to_toml(by_name)) == by_name


def test_every_alarm_kind_has_a_default() -> None:
    assert set(DEFAULT_POLICIES) == {
        "overdue",
        "panic",
        "duress",
        "device_offline",
        "missed_checkin",
        "home_working",  # a shift type's (CIC 10.2), not an alarm kind's
    }
    assert {str(kind) for kind in AlarmKind} <= set(DEFAULT_POLICIES)


def test_home_working_reaches_the_line_manager_first() -> None:
    steps = DEFAULT_POLICIES["home_working"].steps
    assert [(s.after, s.notify, s.repeat_every) for s in steps] == [
        (0, ("line_manager",), None),  # CIC 10.2: regular contact with the line manager
        (300, ("worker",), None),
        (900, ("line_manager", "on_call"), 300),  # "or other designated person"
    ]


def test_overdue_is_the_cic_home_visit_ladder() -> None:
    steps = DEFAULT_POLICIES["overdue"].steps
    assert [(s.after, s.notify, s.repeat_every) for s in steps] == [
        (0, ("worker",), None),  # 3.12 ring the mobile
        (300, ("worker",), None),  # 3.14 again after 5 minutes
        (600, ("visit_contact",), None),  # 3.15 the contact on the visit form
        (900, ("worker_home",), None),  # 3.16 the worker at home
        (1200, ("line_manager",), 300),  # 3.16 the line manager, until someone takes charge
    ]
    assert all("console" in s.channels and "call" in s.channels for s in steps)
    assert "has {worker} left, and when?" in steps[2].message.lower()


def test_panic_tells_everyone_at_once_and_says_help_is_coming() -> None:
    panic = DEFAULT_POLICIES["panic"]
    assert panic.device_ack == "help_coming" and not panic.covert
    [step] = panic.steps
    assert step.after == 0 and step.repeat_every == 120
    assert set(step.notify) == {"line_manager", "admins", "on_call"}
    assert set(step.channels) == {"console", "sms", "apprise", "arc"}


def test_duress_is_covert() -> None:
    duress = DEFAULT_POLICIES["duress"]
    assert duress.covert and duress.device_ack == "received"
    assert duress.steps[0].after == 0
    assert all("worker" not in s.notify for s in duress.steps)
    assert {"admins", "line_manager", "on_call"} <= set(duress.steps[0].notify)
    assert "code word" in duress.steps[0].message


def test_device_offline_warns_then_follows_the_overdue_ladder() -> None:
    warning, *rest = DEFAULT_POLICIES["device_offline"].steps
    assert (warning.after, warning.notify, warning.channels) == (0, (), ("console",))
    overdue = DEFAULT_POLICIES["overdue"].steps
    shift = rest[0].after
    assert shift > 0
    assert [(s.after - shift, s.notify, s.channels, s.repeat_every) for s in rest] == [
        (s.after, s.notify, s.channels, s.repeat_every) for s in overdue
    ]


def test_missed_checkin_starts_with_the_worker() -> None:
    steps = DEFAULT_POLICIES["missed_checkin"].steps
    assert steps[0].after == 0 and steps[0].notify == ("worker",)
    assert "console" in steps[0].channels
    assert steps[-1].repeat_every is not None and "line_manager" in steps[-1].notify


def test_configured_policies_replace_defaults_by_name() -> None:
    mine = parse_policies(_doc(_GOOD_STEP))
    merged = with_defaults(mine)
    assert merged["overdue"] == mine["overdue"]
    assert merged["panic"] == DEFAULT_POLICIES["panic"]


def _one_step(message: str) -> str:
    return (
        "[policies.x]\n[[policies.x.steps]]\n"
        f'after = "0s"\nnotify = ["line_manager"]\nchannels = ["sms"]\nmessage = "{message}"\n'
    )


def test_messages_may_name_the_alarms_facts() -> None:
    policy = loads_policies(_one_step("Ring {worker} on {worker_mobile}; reply {ack}. {{sic}}"))
    assert policy["x"].steps[0].message.startswith("Ring {worker}")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("Ring {boss}", "unknown placeholder {boss}; use {worker}"),
        ("Ring {worker.__class__}", "unknown placeholder {worker.__class__}"),
        ("Ring {}", "unknown placeholder {}"),
        ("Ring {worker!r}", "formatted placeholder"),
        ("Ring {worker:>9}", "formatted placeholder"),
        ("Ring { now", "unmatched {"),
    ],
)
def test_an_unknown_or_broken_placeholder_is_refused_naming_policy_step_and_placeholder(
    message: str, problem: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        loads_policies(_one_step(message))
    assert caught.value.key == "policies.x.steps[0].message"
    assert problem in caught.value.problem


def test_the_arc_channel_needs_nobody_to_notify_and_no_other_channel_does() -> None:
    ok = loads_policies(
        '[policies.p]\n[[policies.p.steps]]\nafter = "0s"\nnotify = []\n'
        'channels = ["arc"]\nmessage = "to the ARC"\n'
    )
    assert ok["p"].steps[0].channels == ("arc",)
    with pytest.raises(PolicyError) as err:
        loads_policies(
            '[policies.p]\n[[policies.p.steps]]\nafter = "0s"\nnotify = []\n'
            'channels = ["arc", "sms"]\nmessage = "x"\n'
        )
    assert err.value.key == "policies.p.steps[0].notify"


def test_the_shipped_alarms_go_to_the_arc_once_each_and_a_silent_unit_not_at_once() -> None:
    first_arc = {
        name: next((i for i, s in enumerate(p.steps) if "arc" in s.channels), None)
        for name, p in DEFAULT_POLICIES.items()
    }
    assert first_arc == {
        "overdue": 0,
        "panic": 0,
        "duress": 0,
        "device_offline": 1,  # 2 minutes: a lift or a basement should not wake the ARC
        "missed_checkin": 0,
        "home_working": 2,
    }
    assert DEFAULT_POLICIES["device_offline"].steps[1].after == 120
    assert all(is_shipped(p) and not uses_arc_explicitly(p) for p in DEFAULT_POLICIES.values())
    changed = replace(DEFAULT_POLICIES["panic"], device_ack="received")
    assert not is_shipped(changed) and uses_arc_explicitly(changed)


@pytest.mark.parametrize(
    ("steps", "key", "words"),
    [
        (
            '{ after = "0s", notify = ["worker"], channels = ["sms", "arc"], message = "a" },\n'
            '{ after = "5m", notify = [], channels = ["console", "arc"], message = "b" }',
            "policies.p.steps[1].channels[1]",
            "arc is already in steps[0]",
        ),
        (
            '{ after = "0s", repeat_every = "2m", notify = [], channels = ["arc"], message = "a" }',
            "policies.p.steps[0].channels",
            "a repeating step needs a channel besides arc",
        ),
    ],
)
def test_the_arc_is_named_in_one_step_whose_repeats_tell_someone(
    steps: str, key: str, words: str
) -> None:
    with pytest.raises(PolicyError) as err:
        loads_policies(f"[policies.p]\nsteps = [\n{steps}\n]\n")
    assert err.value.key == key and words in err.value.problem
