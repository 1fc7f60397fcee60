"""What the console's templates show, gathered from the store: plain functions and small rows."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.templating import Jinja2Templates

from loneguard.protocol.clock import Clock
from loneguard.server.console.alarm_now import (
    CHANNEL_WORDS,
    after_words,
    duration_words,
    role_words,
)
from loneguard.server.console.arc_views import alarm_arc_entries
from loneguard.server.console.board import ALARM_TITLES, BoardRow, board_rows
from loneguard.server.console.event_sentences import sentence, who
from loneguard.server.console.roll_call import Present, present_now
from loneguard.server.escalation.notify.call_channel import CONSOLE_TASK
from loneguard.server.escalation.policy import is_shipped
from loneguard.server.privacy import Category, may_see, visible
from loneguard.server.store import Store
from loneguard.server.store.records import (
    Alarm,
    AlarmKind,
    AlarmState,
    AuditEntry,
    EventRow,
    Role,
    SessionState,
    Worker,
)

ROLES = tuple(Role)
OUTCOMES = (
    "worker safe",
    "false alarm",
    "help sent",
    "police called",
    "ambulance called",
    "other",
)
# CIC App.1 3.13: a worker in danger may not be free to speak; the office uses the code word.
DURESS_GUIDANCE = (
    "Covert alarm: the worker pressed the duress code, and the device shows nothing. Someone "
    "may be with them. Do not say an alarm was raised. Ring the worker as an ordinary office "
    "call and use the agreed code word (CIC App.1 3.13): ask questions they can answer with "
    "yes or no, and act on the answers. If there is no answer, or the answers confirm danger, "
    "call the police with the visit address."
)
PRIVILEGED = frozenset({Role.ADMIN, Role.MANAGER})  # may act on alarms


def install_filters(templates: Jinja2Templates) -> None:
    templates.env.filters["clock"] = format_time
    templates.env.filters["hhmm"] = format_hhmm
    templates.env.globals["role_words"] = role_words
    templates.env.globals["after_words"] = after_words
    templates.env.globals["duration_words"] = duration_words
    templates.env.globals["channel_words"] = lambda c: CHANNEL_WORDS.get(c, c)
    templates.env.globals["group_alarms"] = group_alarms
    templates.env.filters["utc_local"] = utc_local
    templates.env.globals["alarm_title"] = alarm_title
    templates.env.globals["may_see_contacts"] = may_see_contacts
    templates.env.globals["may_act"] = lambda login: (
        login is not None and login.user.role in PRIVILEGED
    )
    templates.env.globals["DURESS_GUIDANCE"] = DURESS_GUIDANCE
    templates.env.globals["is_shipped"] = is_shipped


def may_see_contacts(login: Any) -> bool:
    """Addresses and phone numbers: the privacy policy's ``CONTACT`` fields."""
    return may_see(login.user.role if login is not None else None, Category.CONTACT)


def format_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):  # bounded at every entry; never a 500 here
        return f"{ms} ms"


def format_hhmm(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M UTC")


def utc_local(ms: int | None) -> str:
    """A ``datetime-local`` value in UTC (the console's script shows it in local time)."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")


def alarm_title(kind: str) -> str:
    try:
        return ALARM_TITLES[AlarmKind(kind)]
    except ValueError:
        return kind


def safe_next(target: str) -> str:
    """Only a path on this hub: never an open redirect to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/console"
    return target


@dataclass(frozen=True)
class Board:
    rows: list[BoardRow]
    alarms: list[AlarmView]
    now_ms: int

    @property
    def groups(self) -> list[AlarmGroup]:
        return group_alarms(self.alarms)

    @property
    def any_covert(self) -> bool:
        return any(v.covert for v in self.alarms)


@dataclass(frozen=True)
class AlarmView:
    alarm: Alarm
    worker: Worker | None
    covert: bool

    @property
    def title(self) -> str:
        return alarm_title(str(self.alarm.kind))


@dataclass(frozen=True)
class AlarmGroup:
    """One worker's unresolved alarms of one kind: one card on the board, with a count."""

    lead: AlarmView  # the one to act on: open before acknowledged, then the newest
    others: list[AlarmView]

    @property
    def count(self) -> int:
        return 1 + len(self.others)


def group_alarms(alarms: list[AlarmView]) -> list[AlarmGroup]:
    """``alarms`` (most urgent first, as ``unresolved_alarms`` sorts them) by worker and kind."""
    groups: dict[tuple[str, str], list[AlarmView]] = {}
    for v in alarms:
        who = v.alarm.worker_id or f"device:{v.alarm.device_id}"
        groups.setdefault((who, str(v.alarm.kind)), []).append(v)
    return [AlarmGroup(views[0], views[1:]) for views in groups.values()]


def board(store: Store, clock: Clock) -> Board:
    now = clock.wall_ms()
    live = [s for s in store.sessions() if s.state != SessionState.ENDED]
    unresolved = unresolved_alarms(store)
    rows = board_rows(
        store.workers(),
        store.devices(),
        live,
        [v.alarm for v in unresolved],
        store.signed_in(),
        planned_starts(store),
        now,
    )
    return Board(rows, unresolved, now)


def planned_starts(store: Store) -> dict[int, int]:
    """Each planned visit's session id and planned start."""
    return {i: p.planned_start_ms for i, p in store.visit_plans().items()}


def unresolved_alarms(store: Store) -> list[AlarmView]:
    alarms = store.alarms(AlarmState.OPEN) + store.alarms(AlarmState.ACKNOWLEDGED)
    alarms.sort(key=lambda a: (a.state != AlarmState.OPEN, -a.opened_ms))
    return alarm_views(store, alarms)


def alarm_views(store: Store, alarms: list[Alarm]) -> list[AlarmView]:
    workers = {w.id: w for w in store.workers()}
    return [
        AlarmView(a, workers.get(a.worker_id or ""), a.kind == AlarmKind.DURESS) for a in alarms
    ]


@dataclass(frozen=True)
class TimelineEntry:
    at_ms: int
    who: str
    what: str
    detail: str


def alarm_event(store: Store, alarm: Alarm) -> EventRow | None:
    """The press that raised the alarm (a panic, a duress), if any."""
    if alarm.event_id is None:
        return None
    for row in store.events(1000, alarm.device_id):
        if row.id == alarm.event_id:
            return row
    return None


def timeline(store: Store, alarm: Alarm) -> list[TimelineEntry]:
    """The alarm's story, oldest first: its event, the ladder's sends, acknowledgement, outcome,
    and each message to the ARC with every attempt at it."""
    entries = []
    row = alarm_event(store, alarm)
    if row is not None:
        entries.append(
            TimelineEntry(
                row.received_ms,
                f"device {row.device_id}",
                f"event {row.kind}",
                f"pressed at {format_time(row.ts_ms)} over {row.link}",
            )
        )
    for a in reversed(store.audit(1000, f"alarm:{alarm.id}")):  # oldest first
        entries.append(TimelineEntry(a.at_ms, who(a.actor), _action_text(a), _detail_text(a)))
    for e in alarm_arc_entries(store, alarm.id):
        entries.append(TimelineEntry(e.at_ms, e.who, e.what, e.detail))
    entries.sort(key=lambda e: e.at_ms)
    return entries


def _action_text(entry: AuditEntry) -> str:
    if entry.action == "notify.attempt":
        ok = "delivered" if entry.detail.get("ok") else "failed"
        channel, attempt = entry.detail.get("channel"), entry.detail.get("attempt")
        if channel == "call":  # its result says how it went: answered, no answer, a task...
            return "phone call for a person to make" if _is_task(entry) else "phone call"
        return f"notification {ok} ({channel}, attempt {attempt})"
    return {
        "alarm.open": "alarm opened",
        "alarm.acknowledge": "acknowledged",
        "alarm.resolve": "resolved",
        "alarm.checkin": "checked in",
    }.get(entry.action, entry.action)


def _is_task(entry: AuditEntry) -> bool:
    return str(entry.detail.get("result", "")).startswith(CONSOLE_TASK)


def _detail_text(entry: AuditEntry) -> str:
    d = entry.detail
    if entry.action == "notify.attempt":
        return f"to {role_words(str(d.get('role')))}: {d.get('result')}"
    if entry.action == "alarm.acknowledge":
        return f"taken in charge by {d.get('by')}"
    if entry.action == "alarm.open":
        return f"{alarm_title(str(d.get('kind')))}, escalation policy {d.get('policy')}"
    if entry.action == "alarm.resolve":
        return f"outcome: {d.get('outcome')} (by {d.get('by')})"
    if entry.action == "alarm.checkin":
        return f"the worker checked in from {d.get('device')}: the escalation stopped"
    return json.dumps(d, ensure_ascii=False) if d else ""


def register(store: Store, clock: Clock) -> list[Present]:
    """The fire roll-call: who is signed in or on a visit now (``roll_call.present_now``)."""
    return present_now(
        store.workers(), store.signed_in(), store.sessions(), planned_starts(store), clock.wall_ms()
    )


EVENTS_PER_PAGE = 50
MAX_EVENT_PAGES = 200


def event_page(store: Store, q: str, page_no: int, role: Role) -> tuple[list[AuditEntry], bool]:
    """One page of the event log as ``role`` may see it, newest first, and whether an older
    page follows."""
    start = (page_no - 1) * EVENTS_PER_PAGE
    found = search_audit(store, q, start + EVENTS_PER_PAGE + 1, role)
    return found[start : start + EVENTS_PER_PAGE], len(found) > start + EVENTS_PER_PAGE


def search_audit(store: Store, q: str, limit: int, role: Role) -> list[AuditEntry]:
    """The audit log as ``role`` may see it (the privacy policy), searched for ``q``."""
    needle = q.strip().lower()
    entries = [visible(e, role) for e in store.audit(limit if not needle else 50_000)]
    if needle:
        entries = [e for e in entries if needle in _searchable(e)][:limit]
    return entries


def _searchable(e: AuditEntry) -> str:
    """What a search looks in: the raw fields and the sentence the log shows."""
    return f"{e.actor} {e.action} {e.subject or ''} {json.dumps(e.detail)} {sentence(e)}".lower()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: object) -> str:
    """A CSV cell no spreadsheet runs as a formula: one starting like one gets a leading '."""
    text = str(cell)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def audit_csv(entries: list[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", "actor", "action", "subject", "detail"])
    for e in entries:
        row = [e.id, format_time(e.at_ms), e.actor, e.action, e.subject or "", json.dumps(e.detail)]
        writer.writerow([inert(cell) for cell in row])
    return out.getvalue()
