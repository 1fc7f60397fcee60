"""Alarm messages from the alarm's facts, per channel and per recipient's role. Pure.

``render(facts, guidance, role, channel, now_ms, style)`` is the whole contract: no store, clock
or I/O (the time is handed in), so every message every shipped policy can send is tested by
calling it. The escalation runtime gathers the facts (``escalation.facts``) and stores what this
returns as the notification's text, so a resend after a restart says the same thing.

A message to a responder, read by someone woken at 3 a.m., says in this order::

    OVERDUE: Ann Example was due back at 13:00 and has not checked in (alarm 12).
    Mobile 07700 900001. At 14 Elm Road. Last fix https://www.openstreetmap.org/?mlat=...
    (within 12 m, 3 min old). Visit contact: Mrs Patel 01632 960999.
    Now: <the step's guidance>
    Reply ACK 12 to take charge, or open https://hub.example.org/console/alarms/12

An SMS stays within ``style.sms_max_parts`` parts (``gsm.pdu``): when it would not, the console
link goes first, then the guidance is shortened, then the contact, the mobile and the address;
the name, the kind of alarm and the ACK instruction always stay. A message to the worker speaks
to the worker ("Ann, you are overdue from 14 Elm Road ... Press check-in if you are safe") and
never carries the ACK instruction, which is for the people looking for them. A covert alarm
(duress) is never rendered for the worker, and every one of its texts says it is covert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from loneguard.gsm.pdu import count_parts, plain
from loneguard.server.escalation.policy import message_pieces
from loneguard.server.phone import DEFAULT_REGION, PhoneNumber, PhoneNumberError

ELLIPSIS = "..."
MAX_NAME = 40  # a name longer than this is shortened in messages
NO_LOCATION = "No location"
# People asked for news of the worker, not responders: no address, location or ACK for them.
THIRD_PARTIES = frozenset({"visit_contact", "worker_home"})


@dataclass(frozen=True)
class Fix:
    """The last GNSS fix the worker's device sent (with a panic or duress) and when."""

    lat: float
    lon: float
    accuracy_m: float | None
    at_ms: int


@dataclass(frozen=True)
class AlarmFacts:
    """What is known about an alarm when a message is made (``escalation.facts`` gathers it)."""

    alarm_id: int
    kind: str  # the AlarmKind's value: panic, duress, overdue, missed_checkin, device_offline
    started_ms: int
    covert: bool = False
    worker_name: str | None = None
    worker_mobile: str | None = None
    worker_home: str | None = None
    device_id: str | None = None
    due_ms: int | None = None  # a visit's expected end, a shift's missed check-in
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    fix: Fix | None = None
    # Numbers and places left out (text every console shows, viewers' included): placeholders
    # for them say where they are instead (``privacy``: contacts are for managers and admins).
    contacts_hidden: bool = False


HIDDEN = "(on the alarm page, for managers)"


def without_contacts(facts: AlarmFacts) -> AlarmFacts:
    """The facts anyone logged in may read: names and times, no numbers, address or position."""
    return replace(
        facts,
        worker_mobile=None,
        worker_home=None,
        address=None,
        contact_phone=None,
        fix=None,
        contacts_hidden=True,
    )


@dataclass(frozen=True)
class MessageStyle:
    """The hub's settings messages depend on (``[messages]`` and ``phones.default_region``)."""

    console_url: str = ""
    timezone: str = "Europe/London"
    sms_max_parts: int = 3
    region: str = DEFAULT_REGION


class CovertMessageRefused(ValueError):
    """A covert alarm's message was asked for the worker: it must never be made."""


def render(
    facts: AlarmFacts,
    guidance: str,
    role: str,
    channel: str,
    now_ms: int,
    style: MessageStyle = MessageStyle(),
) -> str:
    """The text ``channel`` carries to the recipient in ``role`` for this step of the alarm."""
    if facts.covert and (role == "worker" or role in THIRD_PARTIES):
        raise CovertMessageRefused(f"alarm {facts.alarm_id} is covert: it goes to responders only")
    parts = _Parts(facts, now_ms, style)
    now_text = fill(guidance, facts, now_ms, style)
    if channel == "console":
        # Every console shows it, viewers' included: names and times, no numbers or places.
        public = without_contacts(facts)
        now_text = fill(guidance, public, now_ms, style)
        return " ".join([_Parts(public, now_ms, style).headline(), f"Now: {now_text}"])
    if role == "worker":
        return parts.to_worker()
    if role in THIRD_PARTIES:
        return parts.to_third_party()
    segments = _Segments(
        headline=parts.headline(),
        mobile=parts.mobile(),
        where=parts.where(),
        contact=parts.contact(),
        now=f"Now: {now_text}",
        ack=f"Reply ACK {facts.alarm_id} to take charge",
        link=parts.link(),
    )
    if channel != "sms":
        return segments.text()
    return _fit(segments, style.sms_max_parts)


def fill(guidance: str, facts: AlarmFacts, now_ms: int, style: MessageStyle) -> str:
    """A step's guidance with its placeholders (``policy.PLACEHOLDERS``) filled in."""
    values = _Parts(facts, now_ms, style).placeholders()
    return "".join(
        literal + (values[name] if name is not None else "")
        for literal, name in message_pieces(guidance)
    )


def map_link(lat: float, lon: float) -> str:
    """An OpenStreetMap link with a marker on the fix (5 decimals: about a metre)."""
    return f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}&zoom=17"


# ---------------------------------------------------------------------------------------------


class _Parts:
    """The sentences a message is made of, for one alarm at one time."""

    def __init__(self, facts: AlarmFacts, now_ms: int, style: MessageStyle) -> None:
        self.f = facts
        self.now_ms = now_ms
        self.style = style
        self.name = _short(" ".join((facts.worker_name or "").split()), MAX_NAME) or "The worker"

    def time(self, ms: int) -> str:
        zone = ZoneInfo(self.style.timezone)
        at = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
        today = datetime.fromtimestamp(self.now_ms / 1000, UTC).astimezone(zone).date()
        return at.strftime("%H:%M") if at.date() == today else at.strftime("%H:%M on %d %b")

    def phone(self, number: str | None) -> str | None:
        if not number:
            return None
        try:
            return PhoneNumber.parse(number, self.style.region).for_region(self.style.region)
        except PhoneNumberError:
            return number  # a legacy value as it was stored

    def headline(self) -> str:
        f, name = self.f, self.name
        since = self.time(f.started_ms)
        due = self.time(f.due_ms) if f.due_ms is not None else None
        kind = f.kind
        if kind == "panic":
            text = f"PANIC: {name} pressed the panic button at {since}."
        elif kind == "duress":
            text = f"COVERT DURESS: {name} gave the duress code at {since}. Keep it covert."
        elif kind == "overdue":
            text = (
                f"OVERDUE: {name} was due back at {due} and has not checked in."
                if due
                else f"OVERDUE: {name} has not checked in (alarm since {since})."
            )
        elif kind == "missed_checkin":
            text = f"MISSED CHECK-IN: {name} missed the check-in due at {due or since}."
        elif kind == "device_offline":
            text = f"DEVICE SILENT: {name}'s alarm unit went silent at {since}."
        else:
            text = f"ALARM ({kind}): {name}, since {since}."
        if f.covert and "COVERT" not in text:
            text = "COVERT " + text
        return text

    def mobile(self) -> str:
        number = self.phone(self.f.worker_mobile)
        return f"Mobile {number}." if number else ""

    def location(self) -> str | None:
        fix = self.f.fix
        if fix is None:
            return None
        details = []
        if fix.accuracy_m is not None:
            details.append(f"within {round(fix.accuracy_m)} m")  # "±" would need UCS-2
        details.append(f"{_age(self.now_ms - fix.at_ms)} old")
        return f"{map_link(fix.lat, fix.lon)} ({', '.join(details)})"

    def where(self) -> str:
        address = " ".join((self.f.address or "").split())
        found = self.location()
        if not address and found is None:
            return f"{NO_LOCATION}."
        text = f"At {address}." if address else ""
        if found is not None:
            text += (" " if text else "") + f"Last fix {found}."
        return text

    def contact(self) -> str:
        name = _short(" ".join((self.f.contact_name or "").split()), MAX_NAME)
        number = self.phone(self.f.contact_phone)
        if not name and not number:
            return ""
        return f"Visit contact: {' '.join(filter(None, [name, number]))}."

    def link(self) -> str:
        if not self.style.console_url:
            return ""
        return f"{self.style.console_url}/console/alarms/{self.f.alarm_id}"

    def to_worker(self) -> str:
        f = self.f
        first = (f.worker_name or "").split()
        hello = f"{_short(first[0], MAX_NAME)}, you" if first else "You"
        place = " ".join((f.address or "").split())
        due = f" (due back {self.time(f.due_ms)})" if f.due_ms is not None else ""
        safe = "Press check-in if you are safe. Hold the panic button if you need help."
        if f.kind == "overdue":
            where = f" from {place}" if place else ""
            return f"{hello} are overdue{where}{due}. {safe}"
        if f.kind == "missed_checkin":
            return f"{hello} missed your check-in{due.replace('due back', 'due at')}. {safe}"
        if f.kind == "device_offline":
            return (
                f"{hello}r alarm unit has gone silent since {self.time(f.started_ms)}. "
                f"{safe.replace('the panic button', 'panic')} If the unit is dead, ring the office."
            )
        if f.kind == "panic":
            return f"{hello}r panic alarm at {self.time(f.started_ms)} is raised: help is coming."
        return f"{hello} have an alarm open since {self.time(f.started_ms)}. {safe}"

    def to_third_party(self) -> str:
        f = self.f
        first = (f.worker_name or "").split()
        who = _short(first[0], MAX_NAME) if first else "our colleague"
        due = f" (due at {self.time(f.due_ms)})" if f.due_ms is not None else ""
        return (
            f"loneguard safety check: we cannot reach {who}, who has not checked in after a "
            f"visit{due}. If you know where {who} is or that they are safe, please tell their "
            "office. Thank you."
        )

    def placeholders(self) -> dict[str, str]:
        f = self.f
        if f.contacts_hidden:
            hidden = dict.fromkeys(
                ("worker_mobile", "worker_home", "address", "location", "contact_phone"), HIDDEN
            )
            return {**self._placeholders(), **hidden}
        return self._placeholders()

    def _placeholders(self) -> dict[str, str]:
        f = self.f
        return {
            "worker": self.name if f.worker_name else "the worker",
            "worker_mobile": self.phone(f.worker_mobile) or "(no mobile on record)",
            "worker_home": self.phone(f.worker_home) or "(no home number on record)",
            "address": " ".join((f.address or "").split()) or "(no address)",
            "location": self.location() or NO_LOCATION.lower(),
            "contact": _short(" ".join((f.contact_name or "").split()), MAX_NAME)
            or "(no visit contact)",
            "contact_phone": self.phone(f.contact_phone) or "(no number)",
            "since": self.time(f.started_ms),
            "alarm": str(f.alarm_id),
            "ack": f"ACK {f.alarm_id}",
        }


@dataclass(frozen=True)
class _Segments:
    headline: str
    mobile: str
    where: str
    contact: str
    now: str
    ack: str
    link: str

    def text(self) -> str:
        ack = self.ack + (f", or open {self.link}" if self.link else "") + "."
        lines = [
            self.headline,
            " ".join(filter(None, [self.mobile, self.where, self.contact])),
            self.now,
            ack,
        ]
        return "\n".join(line for line in lines if line)


def _fit(segments: _Segments, max_parts: int) -> str:
    """The longest form of the message that fits in ``max_parts`` SMS."""

    def fits(s: _Segments) -> bool:
        return count_parts(plain(s.text())) <= max_parts

    if fits(segments):
        return segments.text()
    segments = replace(segments, link="")  # the console link first: the ACK reply stays
    if fits(segments):
        return segments.text()
    # Shorten, one field at a time, each as little as needed, before the next one goes.
    for name, keep in (("now", 0), ("contact", 0), ("mobile", 0), ("where", 8), ("headline", 24)):
        value: str = getattr(segments, name)
        cut = _longest(value, keep, _fits_with(segments, name, fits))
        segments = replace(segments, **{name: cut})
        if fits(segments):
            return segments.text()
    return segments.text()  # only a max_parts of 1 with a very long name gets here


def _fits_with(
    segments: _Segments, name: str, fits: Callable[[_Segments], bool]
) -> Callable[[str], bool]:
    """Whether ``segments`` fit with the field ``name`` set to a given value."""

    def check(value: str) -> bool:
        return fits(replace(segments, **{name: value}))

    return check


def _longest(value: str, keep: int, fits: Callable[[str], bool]) -> str:
    """``value`` cut at a word (ending in "...") to the longest prefix that fits; ``""`` if
    none does and ``keep`` is 0, else its first ``keep`` characters and "..."."""
    low, high = keep, len(value)
    best = None
    while low <= high:
        mid = (low + high) // 2
        candidate = _at_word(value[:mid]) + ELLIPSIS
        if fits(candidate):
            best, low = candidate, mid + 1
        else:
            high = mid - 1
    if best is not None:
        return best
    return value[:keep].rstrip() + ELLIPSIS if keep else ""


def _at_word(text: str) -> str:
    """``text`` without a last word cut in two (a cut mid-word reads as a different word)."""
    head, space, _ = text.rpartition(" ")
    return (head if space and head.strip() else text).rstrip(" ,;:")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _age(ms: int) -> str:
    seconds = max(0, ms) // 1000
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds // 3600} h {round(seconds % 3600 / 60)} min"


__all__ = [
    "THIRD_PARTIES",
    "AlarmFacts",
    "CovertMessageRefused",
    "Fix",
    "MessageStyle",
    "fill",
    "map_link",
    "render",
]
