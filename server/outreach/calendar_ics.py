"""The planned visits of one calendar feed as an iCalendar document (RFC 5545), with reminders.

Pure: the visits, plans and names are handed in. Outlook and Google Calendar subscribe to the
feed's secret URL and poll it; each visit is one ``VEVENT`` whose ``UID`` stays the same when the
visit is changed, so a calendar updates it instead of adding a second. A feed without addresses
(a viewer's) carries the worker and the times only: no ``LOCATION``, no contact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar, Event

from loneguard.server.store import Session, SessionKind, SessionState, VisitPlan, Worker
from loneguard.server.store.outreach_records import CalendarFeed, FeedScope

PRODID = "-//loneguard//visit calendar//EN"
REFRESH = timedelta(minutes=15)  # how often a subscribed calendar is asked to look again


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def feed_workers(feed: CalendarFeed, workers: Sequence[Worker]) -> set[str]:
    """The ids of the workers whose visits the feed shows."""
    if feed.scope == FeedScope.WORKER:
        return {w.id for w in workers if w.id == feed.subject}
    if feed.scope == FeedScope.TEAM:
        return {w.id for w in workers if w.line_manager == feed.subject or w.id == feed.subject}
    return {w.id for w in workers}


def visits_calendar(
    feed: CalendarFeed,
    sessions: Sequence[Session],
    plans: Mapping[int, VisitPlan],
    workers: Sequence[Worker],
    reminder_min: int,
    now_ms: int,
) -> bytes:
    """The feed's calendar: every visit not ended of the feed's workers."""
    shown = feed_workers(feed, workers)
    names = {w.id: w.name for w in workers}
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"loneguard: {feed.label}")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    for visit in sessions:
        if visit.kind != SessionKind.VISIT or visit.state == SessionState.ENDED:
            continue
        if visit.worker_id not in shown or visit.expected_end_ms is None:
            continue
        plan = plans.get(visit.id)
        start_ms = plan.planned_start_ms if plan is not None else visit.started_ms
        cal.add_component(
            _event(feed, visit, names, start_ms, visit.expected_end_ms, reminder_min, now_ms)
        )
    return bytes(cal.to_ical())


def _event(
    feed: CalendarFeed,
    visit: Session,
    names: Mapping[str, str],
    start_ms: int,
    end_ms: int,
    reminder_min: int,
    now_ms: int,
) -> Event:
    worker = names.get(visit.worker_id or "", "a worker")
    company = "accompanied" if visit.accompanied else "lone"
    summary = f"Home visit ({company}): {worker}"
    event = Event()
    event.add("uid", f"loneguard-visit-{visit.id}")
    event.add("dtstamp", _time(now_ms))
    event.add("dtstart", _time(start_ms))
    event.add("dtend", _time(max(end_ms, start_ms)))
    event.add("summary", summary)
    event.add("status", "CONFIRMED")
    lines = [f"loneguard visit {visit.id}: {worker}, {company}."]
    if not visit.accompanied and visit.approved_by:
        lines.append(f"Approved by {visit.approved_by}.")
    if feed.with_addresses:
        if visit.address:
            event.add("location", visit.address)
        contact = " ".join(p for p in (visit.contact_name, visit.contact_phone) if p)
        if contact:
            lines.append(f"Contact: {contact}.")
    event.add("description", "\n".join(lines))
    reminder = Alarm()
    reminder.add("action", "DISPLAY")
    reminder.add("trigger", timedelta(minutes=-reminder_min))
    reminder.add("description", f"Reminder: {summary}")
    event.add_component(reminder)
    return event
