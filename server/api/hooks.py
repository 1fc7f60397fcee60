"""What the API tells the running hub when people change things, and what it may read from it.

The API alone (tests, tools) works with the defaults: changes are stored and audited, and the
hub's timers pick them up at its next start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loneguard.server.arc.events import ArcLinkState
from loneguard.server.escalation.directory import Directory
from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.escalation.notify.messages import MessageStyle
from loneguard.server.phone import DEFAULT_REGION
from loneguard.server.sessions.shift_types import DEFAULT_SHIFT_TYPES, ShiftType
from loneguard.server.store import Alarm, Session

if TYPE_CHECKING:
    from loneguard.server.scheduler import Scheduler
    from loneguard.server.store.outreach_records import ArrangementChange
    from loneguard.server.store.safety_records import Incident


def _ignore(_: object) -> None:
    return None


def _no_arc() -> ArcLinkState:
    return ArcLinkState(configured=False, up=False)


def _ignore_arranged(_change: ArrangementChange, _visit: Session, _by: str) -> None:
    return None


@dataclass(frozen=True)
class ApiHooks:
    session_changed: Callable[[Session], None] = _ignore  # re-arm its deadline
    alarm_changed: Callable[[Alarm], None] = _ignore  # acknowledged/resolved: stop the ladder
    grace_s: int = 300  # defaults for sessions started over the API
    prealert_s: int = 300
    broadcaster: Broadcaster | None = None  # GET /api/stream when set
    scheduler: Scheduler | None = None  # the hub's timers, for the console's housekeeping
    # An incident was reported: tell the line manager (``incidents.line_manager``).
    incident_reported: Callable[[Incident], Awaitable[object]] | None = None
    # The phone of the person a stored notification row names (ref, role, alarm): the numbers
    # the console's call tasks show; None: the console asks the store alone (no config people).
    phone_of: Callable[[str, str, Alarm], str | None] | None = None
    directory: Directory | None = None  # who a ladder role means (the hub's configured people)
    # A visit planned, changed or cancelled: the delivery manager's copy (outreach/manager_copy)
    visit_arranged: Callable[[ArrangementChange, Session, str], None] = _ignore_arranged
    calendar_reminder_min: int = 30  # the VALARM of the calendar feeds
    shift_types: Mapping[str, ShiftType] = field(default_factory=lambda: dict(DEFAULT_SHIFT_TYPES))
    phone_region: str = DEFAULT_REGION  # where a nationally written number is read
    # How messages read (time zone, console link): the alarm page fills a step's guidance so.
    message_style: MessageStyle = field(default_factory=MessageStyle)
    # Lines for the console's banner: policy steps whose channel is not configured.
    channel_gaps: Callable[[], tuple[str, ...]] = tuple
    # The Alarm Receiving Centre's link: its state for the console's ARC page and red banner.
    arc_state: Callable[[], ArcLinkState] = _no_arc
    arc_phone: str = ""  # the ARC's phone number, for the red banner (arc.phone)
    arc_account: str = ""  # the ARC account number, for the zone sheet (arc.account)
