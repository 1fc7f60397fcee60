"""The store's interface: what ingest, the API, the console and the CLI may ask of any database.

Writes return ``concurrent.futures.Future``s that resolve after the change is durable; async
code wraps them with ``asyncio.wrap_future``. Reads are plain calls from any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from loneguard.protocol.messages import Event, Status
from loneguard.server.store.records import (
    Alarm,
    AlarmKind,
    AlarmState,
    ApiToken,
    AuditEntry,
    ConsoleLogin,
    ConsoleUser,
    DeadLetter,
    Device,
    DeviceStanding,
    Effect,
    EventOutcome,
    EventRow,
    LastHeard,
    NewNotification,
    NotificationAttempt,
    NotificationRow,
    NotificationState,
    RegisterEntry,
    Role,
    Session,
    SessionState,
    VisitPlan,
    VisitRecord,
    Worker,
)
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentStatus,
    PlaceHistory,
    RiskAssessment,
)

if TYPE_CHECKING:
    from loneguard.server.sessions.rules import SessionPlan
    from loneguard.server.store.arc_records import (
        ArcAttemptRecord,
        ArcAttemptRow,
        ArcMessage,
        ArcMessageState,
        ArcZone,
        NewArcMessage,
    )
    from loneguard.server.store.outreach_records import (
        ArrangementChange,
        ArrangementCopy,
        CalendarFeed,
        FeedScope,
        SignalMinute,
        SignalSpot,
        VisitChange,
    )
    from loneguard.server.store.sqlite_sessions import PolicyFor, Reached


class Store(Protocol):
    # -- writes ---------------------------------------------------------------------------------
    def record_event(
        self,
        device_id: str,
        event: Event,
        received_ms: int,
        effects: Sequence[Effect],
        *,
        urgent: bool = False,
    ) -> Future[EventOutcome]:
        """Insert the event unless its id is known; if new, apply ``effects`` and audit it.
        ``urgent`` (a call for help) is written ahead of whatever else is queued."""
        ...

    def record_status(self, device_id: str, status: Status, received_ms: int) -> Future[bool]:
        """Apply a status unless its boot is older than the newest seen; True if applied."""
        ...

    def record_last_seen(self, heard: Sequence[LastHeard]) -> Future[None]:
        """Each device's newest heartbeat since the last batch, in one transaction; a stored
        time newer than the batch's (a status, another hub's batch) is kept."""
        ...

    def add_dead_letter(
        self, received_ms: int, topic: str, payload: bytes, reason: str
    ) -> Future[int]: ...

    def acknowledge_alarm(self, alarm_id: int, by: str, at_ms: int, actor: str) -> Future[Alarm]:
        """Raises (through the future) ``AlarmNotFound`` or ``AlarmConflict``."""
        ...

    def resolve_alarm(
        self, alarm_id: int, by: str, outcome: str, notes: str, at_ms: int, actor: str
    ) -> Future[Alarm]:
        """Close an alarm with its outcome; an open alarm is acknowledged by ``by`` first."""
        ...

    def start_session(self, plan: SessionPlan, actor: str) -> Future[Session]: ...

    def change_session(
        self,
        session_id: int,
        change: Callable[[Session], Session],
        at_ms: int,
        actor: str,
        action: str,
    ) -> Future[Session]:
        """Apply a pure rule of ``sessions.rules`` to a stored session and audit it."""
        ...

    def reach_session_deadline(
        self, session_id: int, now_ms: int, policy_for: PolicyFor
    ) -> Future[Reached | None]: ...

    def open_session_alarm(
        self, session_id: int, kind: AlarmKind, policy: str, now_ms: int
    ) -> Future[Alarm | None]:
        """Open ``kind`` for a live session unless one is already open; None if not opened."""
        ...

    def add_notifications(
        self,
        alarm_id: int,
        rows: Sequence[NewNotification],
        next_step_ms: int | None,
        at_ms: int,
    ) -> Future[list[NotificationRow] | None]:
        """Create the rows not yet known, in one transaction; those created (None: the alarm is
        no longer open, nothing was written)."""
        ...

    def record_attempt(
        self, key: str, attempt: int, ok: bool, final: bool, detail: str, at_ms: int
    ) -> Future[None]: ...

    def record_attempts(self, attempts: Sequence[NotificationAttempt]) -> Future[None]:
        """Several attempts in one writer item (many alarms' sends recorded together)."""
        ...

    def set_device_secret(self, device_id: str, secret: str, actor: str) -> Future[None]: ...

    def provision_device(
        self, device_id: str, sms_secret: str, at_ms: int, actor: str
    ) -> Future[None]:
        """Mark the device provisioned (clearing any revocation) with a new SMS secret."""
        ...

    def revoke_device(self, device_id: str, at_ms: int, actor: str) -> Future[bool]:
        """Mark the device revoked and forget its SMS secret; False if it was unknown."""
        ...

    def append_audit(
        self, at_ms: int, actor: str, action: str, subject: str | None, detail: dict[str, Any]
    ) -> Future[int]: ...

    def save_worker(self, worker: Worker, actor: str | None = None) -> Future[None]: ...

    def assign_device(
        self, device_id: str, worker_id: str | None, actor: str | None = None
    ) -> Future[None]: ...

    def create_token(
        self, name: str, role: Role, token_hash: str, created_ms: int
    ) -> Future[int]: ...

    def revoke_token(self, token_id: int, at_ms: int) -> Future[bool]: ...

    def create_console_user(
        self, name: str, role: Role, password_hash: str, at_ms: int, actor: str
    ) -> Future[None]:
        """Raises (through the future) ``ConsoleUserExists`` if the name is taken."""
        ...

    def set_console_user_disabled(
        self, name: str, disabled: bool, at_ms: int, actor: str
    ) -> Future[bool]:
        """Disable (ending the user's live logins) or enable a user; False if there is none."""
        ...

    def set_console_password(
        self, name: str, password_hash: str, at_ms: int, actor: str
    ) -> Future[bool]:
        """Change a user's password and end their live logins; False if there is no such user."""
        ...

    def start_console_login(
        self, token_hash: str, user_name: str, csrf: str, at_ms: int, expires_ms: int, ip: str
    ) -> Future[None]: ...

    def end_console_login(self, token_hash: str, user_name: str, at_ms: int) -> Future[None]: ...

    def plan_visit(self, session_id: int, planned_start_ms: int, by: str) -> Future[None]:
        """Keep (or replace) when a visit is meant to start."""
        ...

    def save_visit_record(self, record: VisitRecord, actor: str) -> Future[None]:
        """Write (or rewrite) a visit's record; the audit log says who, never what."""
        ...

    def purge_visit_details(self, before_ms: int, at_ms: int) -> Future[int]:
        """Forget the address, contact and record of visits that ended before ``before_ms``;
        how many visits were purged."""
        ...

    # -- reads ----------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise if the database cannot answer."""
        ...

    def devices(self) -> list[Device]: ...

    def device(self, device_id: str) -> Device | None: ...

    def workers(self) -> list[Worker]: ...

    def worker(self, worker_id: str) -> Worker | None: ...

    def alarms(self, state: AlarmState | None = None) -> list[Alarm]: ...

    def alarm(self, alarm_id: int) -> Alarm | None: ...

    def events(
        self, limit: int = 100, device_id: str | None = None, kind: str | None = None
    ) -> list[EventRow]:
        """Newest first."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    def audit(self, limit: int = 100, subject: str | None = None) -> list[AuditEntry]: ...

    def sessions(self, state: SessionState | None = None) -> list[Session]:
        """Newest first."""
        ...

    def session(self, session_id: int) -> Session | None: ...

    def sessions_with_deadlines(self) -> list[Session]: ...

    def live_session(self, device_id: str) -> Session | None: ...

    def signed_in(self) -> list[RegisterEntry]: ...

    def notifications(
        self, alarm_id: int | None = None, state: NotificationState | None = None
    ) -> list[NotificationRow]: ...

    def action_keys(self, alarm_id: int) -> frozenset[str]: ...

    def ladders_begun(self) -> frozenset[int]: ...

    def device_secret(self, device_id: str) -> bytes | None: ...

    def device_standings(self) -> dict[str, DeviceStanding]:
        """Every known device's provisioning state, by id."""
        ...

    def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The live (unrevoked) token with this hash."""
        ...

    def audit_since(self, since_ms: int, actions: Sequence[str]) -> list[AuditEntry]:
        """Audit entries after ``since_ms`` with one of ``actions``, oldest first."""
        ...

    def console_user(self, name: str) -> ConsoleUser | None: ...

    def console_users(self) -> list[ConsoleUser]:
        """By name."""
        ...

    def console_login(self, token_hash: str, now_ms: int) -> ConsoleLogin | None:
        """The live login with this cookie hash: not ended, not expired, its user enabled."""
        ...

    def visit_plans(self) -> dict[int, VisitPlan]:
        """Every visit plan, by session id."""
        ...

    def visit_record(self, session_id: int) -> VisitRecord | None: ...

    def visits_with_records(self) -> frozenset[int]:
        """The session ids of visits that have a record."""
        ...

    # -- risk assessments and incidents (``store.safety_rows``) ---------------------------------
    def save_risk_assessment(
        self, assessment: RiskAssessment, actor: str
    ) -> Future[RiskAssessment]:
        """Write (or rewrite) the assessment of a visit or of a lone-working pattern."""
        ...

    def risk_assessment(self, session_id: int) -> RiskAssessment | None: ...

    def risk_assessments(self) -> list[RiskAssessment]:
        """Newest first, visits' and patterns' alike."""
        ...

    def report_incident(self, incident: Incident, actor: str) -> Future[Incident]: ...

    def change_incident(
        self,
        incident_id: int,
        change: Callable[[Incident], Incident],
        at_ms: int,
        actor: str,
        action: str,
    ) -> Future[Incident]:
        """Raises (through the future) ``IncidentNotFound``, or what ``change`` raises."""
        ...

    def incident(self, incident_id: int) -> Incident | None: ...

    def incidents(self, status: IncidentStatus | None = None) -> list[Incident]:
        """Newest first (by when they happened)."""
        ...

    def incident_for_alarm(self, alarm_id: int) -> Incident | None: ...

    def add_incident_action(
        self, action: IncidentAction, at_ms: int, actor: str
    ) -> Future[IncidentAction]: ...

    def complete_incident_action(
        self, action_id: int, at_ms: int, by: str, actor: str
    ) -> Future[IncidentAction | None]:
        """Mark an action done; None if there is none open with that id."""
        ...

    def incident_actions(self, incident_id: int | None = None) -> list[IncidentAction]:
        """By due date."""
        ...

    def place_history(
        self, address: str | None, contact_name: str | None, contact_phone: str | None
    ) -> PlaceHistory: ...
    # -- the delivery manager's copies, calendar feeds, signal black spots, shift types ----------
    # (store/outreach_rows.py)
    def create_calendar_feed(
        self,
        label: str,
        scope: FeedScope,
        subject: str | None,
        with_addresses: bool,
        token_hash: str,
        at_ms: int,
        actor: str,
    ) -> Future[CalendarFeed]: ...

    def revoke_calendar_feed(self, feed_id: int, at_ms: int, actor: str) -> Future[bool]:
        """False if there is no such live feed."""
        ...

    def calendar_feeds(self) -> list[CalendarFeed]: ...

    def calendar_feed_by_hash(self, token_hash: str) -> CalendarFeed | None: ...

    def add_arrangement_copy(
        self, session_id: int, change: ArrangementChange, channel: str, recipient: str, at_ms: int
    ) -> Future[int]: ...

    def finish_arrangement_copy(
        self, copy_id: int, ok: bool, detail: str, at_ms: int
    ) -> Future[None]: ...

    def arrangement_copies(self, session_id: int | None = None) -> list[ArrangementCopy]: ...

    def change_visit(
        self, session_id: int, change: VisitChange, at_ms: int, actor: str
    ) -> Future[Session]:
        """Raises (through the future) ``SessionNotFound`` or ``SessionConflict``."""
        ...

    def record_signal_minutes(self, minutes: Sequence[SignalMinute]) -> Future[int]: ...

    def flag_poor_signal(
        self, at_ms: int, actor: str, *, device_id: str | None = None, session_id: int | None = None
    ) -> Future[str | None]: ...

    def signal_spots(self) -> list[SignalSpot]: ...

    def signal_spot(self, address: str) -> SignalSpot | None: ...

    def purge_signal_spots(self, before_ms: int, at_ms: int) -> Future[int]: ...

    def set_shift_type(self, session_id: int, shift_type: str) -> Future[None]: ...

    def shift_type_of(self, session_id: int) -> str | None: ...

    # -- the ARC link's messages, attempts and zones (store/arc_rows.py) ------------------------
    def add_arc_message(self, new: NewArcMessage, at_ms: int) -> Future[tuple[ArcMessage, bool]]:
        """Store a message for the ARC unless its key is known, with its sequence number and the
        worker's zone allocated in the same transaction; (the stored message, whether new)."""
        ...

    def claim_arc_message(
        self, owner: str, now_ms: int, lease_ms: int, message_id: int | None = None
    ) -> Future[ArcMessage | None]:
        """Claim the next pending message due by ``now_ms`` (alarms first) for ``lease_ms``."""
        ...

    def record_arc_attempt(
        self, message_id: int, attempt: ArcAttemptRecord, lease_until_ms: int | None = None
    ) -> Future[None]:
        """One try at one receiver, as it ends (the round's record follows it); the sender's
        claim on the message renewed to ``lease_until_ms``."""
        ...

    def record_arc_round(
        self, message_id: int, acked_by: str | None, retry_at_ms: int | None, at_ms: int
    ) -> Future[ArcMessage]:
        """End a round and let go of the message: acked, pending until ``retry_at_ms``, or
        (both None) failed."""
        ...

    def claim_arc_test(self, now_ms: int, interval_ms: int) -> Future[tuple[bool, int]]:
        """(whether this hub sends the supervision test due now, when the next one is due)."""
        ...

    def arc_zone(self, worker_id: str, at_ms: int) -> Future[int]: ...

    def arc_message(self, key: str) -> ArcMessage | None: ...

    def arc_messages(
        self,
        state: ArcMessageState | None = None,
        alarm_id: int | None = None,
        limit: int = 100,
    ) -> list[ArcMessage]:
        """Newest first."""
        ...

    def arc_pending_alarm_count(self) -> int:
        """Alarm messages (not supervision tests) stored and not yet acked."""
        ...

    def arc_next_due_ms(self) -> int | None: ...

    def arc_attempts(self, message_id: int) -> list[ArcAttemptRow]:
        """Oldest first."""
        ...

    def arc_zones(self) -> list[ArcZone]:
        """By zone: the ARC's account sheet."""
        ...

    def close(self) -> None:
        """Finish queued writes, then release the database."""
        ...
