"""The facts an alarm's messages are made from, gathered from the store.

Who (the worker's name and mobile), since when (the alarm's start; a visit's expected end), where
(the visit's address; the last GNSS fix), the visit contact. The last fix is the location of the
alarm's own event (a panic or duress carries the device's fix) or else of the newest located event
of the same device during the alarm's session: a device reports its position with alarms only
(``protocol.messages.KINDS_WITH_LOCATION``), so an overdue alarm usually has none, and a fix
from before the session is never shown as where the worker is now.
"""

from __future__ import annotations

from typing import Any

from loneguard.server.escalation.notify.messages import AlarmFacts, Fix
from loneguard.server.store import Alarm, EventRow, Store

_EVENTS_LOOKED_AT = 50


def alarm_facts(store: Store, alarm: Alarm, *, covert: bool) -> AlarmFacts:
    worker = store.worker(alarm.worker_id) if alarm.worker_id else None
    session = store.session(alarm.session_id) if alarm.session_id else None
    due = None
    if session is not None:
        due = session.expected_end_ms
        if due is None and session.checkin_interval_s is not None:
            last = session.last_checkin_ms or session.started_ms
            due = last + session.checkin_interval_s * 1000
    return AlarmFacts(
        alarm_id=alarm.id,
        kind=str(alarm.kind),
        started_ms=alarm.started_ms if alarm.started_ms is not None else alarm.opened_ms,
        covert=covert,
        worker_name=worker.name if worker else None,
        worker_mobile=worker.mobile if worker else None,
        worker_home=worker.home_phone if worker else None,
        device_id=alarm.device_id,
        due_ms=due,
        address=session.address if session else None,
        contact_name=session.contact_name if session else None,
        contact_phone=session.contact_phone if session else None,
        fix=_last_fix(store, alarm, session.started_ms if session else None),
    )


def _last_fix(store: Store, alarm: Alarm, since_ms: int | None) -> Fix | None:
    if alarm.device_id is None:
        return None
    events = store.events(limit=_EVENTS_LOOKED_AT, device_id=alarm.device_id)
    own = next((e for e in events if e.id == alarm.event_id), None)
    if own is not None and (fix := _fix(own)) is not None:
        return fix
    if since_ms is None:
        return None
    for event in events:  # newest first
        if event.received_ms < since_ms:
            break
        if (fix := _fix(event)) is not None:
            return fix
    return None


def _fix(event: EventRow) -> Fix | None:
    where: Any = event.body.get("location")
    if not isinstance(where, dict):
        return None
    try:
        accuracy = where.get("acc")
        return Fix(
            float(where["lat"]),
            float(where["lon"]),
            float(accuracy) if accuracy is not None else None,
            event.ts_ms,
        )
    except (KeyError, TypeError, ValueError):
        return None


__all__ = ["alarm_facts"]
