"""The event log read as sentences, pure: "ada took charge of alarm #12", not escaped JSON.

Each audit entry becomes one sentence from its actor, action, subject and detail. An action
this module does not know still reads as a sentence ("hub: session.due on session #3"), so a
new action never breaks the page; the CSV export keeps the raw fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from loneguard.server.console.alarm_now import role_words
from loneguard.server.store.records import AlarmKind, AuditEntry

EVENT_WORDS = {
    "checkin": "pressed check-in",
    "panic": "held the panic button",
    "duress": "made a check-in",  # what anyone watching the unit saw; the alarm says covert
    "session_start": "started a visit",
    "session_extend": "extended the visit",
    "session_end": "ended the visit",
    "sign_in": "signed in",
    "sign_out": "signed out",
    "prealert_ack": "answered the pre-alert",
}
ALARM_WORDS = {
    AlarmKind.PANIC: "a panic alarm",
    AlarmKind.DURESS: "a covert duress alarm",
    AlarmKind.OVERDUE: "an overdue-visit alarm",
    AlarmKind.MISSED_CHECKIN: "a missed check-in alarm",
    AlarmKind.DEVICE_OFFLINE: "a device-offline alarm",
}


def who(actor: str) -> str:
    """``user:ada`` → ada, ``device:demo-1`` → device demo-1, ``hub`` → the hub."""
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "device" and name:
        return f"device {name}"
    if kind == "token" and name:
        return f"API token {name}"
    return "the hub" if actor == "hub" else actor


def what(subject: str | None) -> str:
    """``alarm:12`` → alarm #12, ``session:3`` → visit #3, ``user:max`` → user max."""
    if not subject:
        return ""
    kind, _, name = subject.partition(":")
    if kind in ("alarm", "session") and name.isdigit():
        return f"{'visit' if kind == 'session' else kind} #{name}"
    return f"{kind} {name}" if name else subject


def _alarm_open(e: AuditEntry, d: Mapping[str, Any]) -> str:
    try:
        kind = ALARM_WORDS[AlarmKind(str(d.get("kind")))]
    except ValueError:
        kind = f"a {d.get('kind')} alarm"
    return f"{who(e.actor)} raised {kind}, {what(e.subject)} (policy {d.get('policy')})"


def _notify(e: AuditEntry, d: Mapping[str, Any]) -> str:
    done = "reached" if d.get("ok") else "could not reach"
    attempt = d.get("attempt")
    tries = f" (attempt {attempt})" if isinstance(attempt, int) and attempt > 1 else ""
    result = f": {d.get('result')}" if d.get("result") and not d.get("ok") else ""
    role = role_words(str(d.get("role")))
    return f"{what(e.subject).capitalize()}: {d.get('channel')} {done} {role}{tries}{result}"


SENTENCES: dict[str, Callable[[AuditEntry, Mapping[str, Any]], str]] = {
    "alarm.open": _alarm_open,
    "alarm.acknowledge": lambda e, d: (
        f"{d.get('by') or who(e.actor)} took charge of {what(e.subject)}"
    ),
    "alarm.resolve": lambda e, d: (
        f"{d.get('by') or who(e.actor)} resolved {what(e.subject)}: {d.get('outcome')}"
    ),
    "alarm.checkin": lambda e, d: (
        f"The worker checked in from device {d.get('device')}: {what(e.subject)} stopped escalating"
    ),
    "notify.attempt": _notify,
    "session.start": lambda e, d: f"{who(e.actor)} started {what(e.subject)}",
    "session.end": lambda e, d: f"{who(e.actor)} ended {what(e.subject)}",
    "session.checkin": lambda e, d: f"{who(e.actor)} checked in on {what(e.subject)}",
    "session.extend": lambda e, d: f"{who(e.actor)} extended {what(e.subject)}",
    "session.retime": lambda e, d: f"{who(e.actor)} started {what(e.subject)} again",
    "session.due": lambda e, d: f"{what(e.subject).capitalize()} is due: its grace period runs",
    "session.overdue": lambda e, d: f"{what(e.subject).capitalize()} is overdue",
    "register.sign_in": lambda e, d: f"{who(e.actor)} signed in to the building",
    "register.sign_out": lambda e, d: f"{who(e.actor)} signed out of the building",
    "device.online": lambda e, d: f"{who(e.actor)} came online",
    "device.offline": lambda e, d: f"{who(e.actor)} went offline",
    "device.assign": lambda e, d: f"{who(e.actor)} assigned {what(e.subject)}",
    "worker.save": lambda e, d: f"{who(e.actor)} saved {what(e.subject)}",
    "login": lambda e, d: f"{who(e.actor)} logged in{_from(d)}",
    "logout": lambda e, d: f"{who(e.actor)} logged out",
    "login.failed": lambda e, d: f"A login as {what(e.subject) or 'someone'} failed{_from(d)}",
    "login.refused": lambda e, d: f"A login as {what(e.subject) or 'someone'} was refused",
    "user.create": lambda e, d: f"{who(e.actor)} added {what(e.subject)} ({d.get('role')})",
    "user.disable": lambda e, d: f"{who(e.actor)} disabled {what(e.subject)}",
    "user.enable": lambda e, d: f"{who(e.actor)} enabled {what(e.subject)}",
    "user.passwd": lambda e, d: f"{who(e.actor)} set the password of {what(e.subject)}",
    "visit.record": lambda e, d: f"{who(e.actor)} wrote the record of {what(e.subject)}",
    "visit.purge": lambda e, d: f"The hub forgot the details of {d.get('sessions')} old visits",
}


def _from(detail: Mapping[str, Any]) -> str:
    """Where a login came from, when the entry (as the reader may see it: ``privacy``) says."""
    ip = detail.get("ip")
    return f" from {ip}" if ip else ""


def sentence(entry: AuditEntry) -> str:
    d = entry.detail
    if entry.action.startswith("event."):
        kind = entry.action.removeprefix("event.")
        return f"{who(entry.actor).capitalize()} {EVENT_WORDS.get(kind, kind.replace('_', ' '))}"
    make = SENTENCES.get(entry.action)
    text = make(entry, d) if make is not None else _fallback(entry)
    return text[:1].upper() + text[1:]


def _fallback(entry: AuditEntry) -> str:
    subject = f" on {what(entry.subject)}" if entry.subject else ""
    return f"{who(entry.actor)}: {entry.action}{subject}"
