"""The hub's services and the one function that builds them: ``build_hub_services``.

Everything the hub runs besides its MQTT connection and HTTP server is built there, in
dependency order and through constructor arguments only: the scheduler, the notification
channels and dispatcher, the escalation runtime, the session timers, the offline watch, the
shared work of several hubs on PostgreSQL, ingest (with the device roster's refusal and every
listener) and the SMS gateway. ``Hub`` builds its services with it, and so does the in-process
test rig (``tests/server/rig.py``), which hands in a fake clock, a recording publisher instead of
the broker, and stand-ins for outgoing channels.

``HubServices.start`` rebuilds every timer from the store (deadlines that passed while the hub
was down fire at once) and resumes every open ladder; ``stop`` drops the in-memory timers (the
deadlines stay in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from loneguard.gsm.modem import Modem
from loneguard.gsm.voice import VoiceCalls
from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Event, Status
from loneguard.protocol.topics import Channel as Topic
from loneguard.protocol.topics import DeviceTopic
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.arc.events import ArcLinkState, ArcSink
from loneguard.server.arc.link import ArcLink, FrameTransmitter
from loneguard.server.arc.transmitter import ReceiverAddress, Transmitter
from loneguard.server.cluster.shared_work import LeaseClaims, SharedWork
from loneguard.server.config import HubConfig
from loneguard.server.escalation.alarm_acks import AlarmAcks
from loneguard.server.escalation.directory import Directory
from loneguard.server.escalation.health import (
    ChannelGap,
    arc_link_problem,
    channel_gaps,
    log_gaps,
)
from loneguard.server.escalation.notify import (
    AppriseChannel,
    Broadcaster,
    Channel,
    ConsoleCallChannel,
    ConsoleChannel,
    Dispatcher,
    ModemCallChannel,
    SmsChannel,
)
from loneguard.server.escalation.notify.arc_channel import ArcChannel
from loneguard.server.escalation.notify.dispatcher import MAX_ATTEMPTS
from loneguard.server.escalation.notify.messages import MessageStyle
from loneguard.server.escalation.runtime import Escalation, NotificationLog
from loneguard.server.escalation.unit_feedback import UnitFeedback
from loneguard.server.incidents.line_manager import TITLE as INCIDENT_TITLE
from loneguard.server.incidents.line_manager import LineManagerNotice
from loneguard.server.ingest.heartbeats import HeartbeatBook
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest, Listeners, Publisher
from loneguard.server.ingest.roster import DeviceRoster
from loneguard.server.outreach.manager_copy import ManagerCopies
from loneguard.server.outreach.signal_spots import SignalWatch
from loneguard.server.privacy import visible_dict
from loneguard.server.scheduler import Scheduler
from loneguard.server.sessions.offline_watch import OfflineWatch
from loneguard.server.sessions.rules import session_effects
from loneguard.server.sessions.timers import PolicyFor, SessionTimers
from loneguard.server.sms.gateway import OnFallback, SmsGateway
from loneguard.server.sms.responders import SmsAcks
from loneguard.server.store import Alarm, AlarmKind, AlarmState, Role, Session, Store, Worker
from loneguard.server.store.leases import LeaseRows

log = logging.getLogger(__name__)

GAP_CHECK_EVERY_S = 10.0

# Wraps each outgoing channel, e.g. to record every attempt in tests; the result is the channel's.
ChannelTap = Callable[[Channel], Channel]


@dataclass
class HubServices:
    """The hub's built services; ``build_hub_services`` makes them."""

    config: HubConfig
    scheduler: Scheduler
    broadcaster: Broadcaster
    modem: Modem | None
    dispatcher: Dispatcher
    escalation: Escalation
    timers: SessionTimers
    offline: OfflineWatch
    shared: SharedWork | None  # several hubs on one PostgreSQL
    ingest: Ingest
    gateway: SmsGateway | None  # with a modem
    unit: UnitFeedback
    copies: ManagerCopies  # the delivery manager's copy of every visit arrangement
    incident_notice: LineManagerNotice | None = None
    directory: Directory | None = None  # who a ladder role means (the console's call tasks)
    calls: ModemCallChannel | None = None  # the modem's voice calls, hung up at stop
    store: Store | None = None  # for the channel health check
    clock: Clock | None = None  # times the banner's cache of the channel health check
    arc: ArcSink | None = None  # the link to the Alarm Receiving Centre (``server/arc/``)
    _gaps: tuple[float, tuple[str, ...]] | None = field(default=None, init=False, repr=False)
    _gateway_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def alarm_changed(self, alarm: Alarm) -> None:
        """A person (or a check-in) changed an alarm: its ladder, and a panic's unit, hear."""
        self.escalation.alarm_changed(alarm)
        self.unit.alarm_changed(alarm)

    def hooks(self) -> ApiHooks:
        return ApiHooks(
            session_changed=self.timers.arm,
            alarm_changed=self.alarm_changed,
            grace_s=self.config.sessions.grace,
            prealert_s=self.config.sessions.prealert,
            broadcaster=self.broadcaster,
            scheduler=self.scheduler,
            incident_reported=self.incident_notice.report_soon if self.incident_notice else None,
            phone_of=self.directory.phone if self.directory is not None else None,
            directory=self.escalation.directory,
            calendar_reminder_min=self.config.calendar.reminder,
            shift_types=self.config.shift_types,
            visit_arranged=self.copies.arranged,
            phone_region=self.config.phones.default_region,
            message_style=message_style(self.config),
            channel_gaps=self.channel_gap_lines,
            arc_state=self.arc_state,
            arc_phone=self.config.arc.phone,
            arc_account=self.config.arc.account,
        )

    def arc_state(self) -> ArcLinkState:
        """The ARC link as the console shows it (not configured: no link)."""
        return self.arc.state() if self.arc is not None else ArcLinkState(False, False)

    def channel_gap_lines(self) -> tuple[str, ...]:
        """The channel health check for the console's banner, at most every 10 s (each page
        asks; with hundreds of workers the check reads each one's record)."""
        now = self.clock.monotonic() if self.clock is not None else 0.0
        if self._gaps is None or now - self._gaps[0] >= GAP_CHECK_EVERY_S or self.clock is None:
            self._gaps = (now, tuple(g.line() for g in self.channel_health()))
        return self._gaps[1]

    def channel_health(self, workers: list[Worker] | None = None) -> list[ChannelGap]:
        """Steps whose channel or recipients are not configured (``escalation.health``);
        ``workers``: every worker's record, if already read."""
        if self.store is None or self.directory is None:
            return []
        if workers is None:
            workers = self.store.workers()
        return channel_gaps(self.config.policies, self.dispatcher.gap, self.directory, workers)

    async def start(self) -> None:
        workers = self.store.workers() if self.store is not None else []
        log_gaps(self.channel_health(workers))
        if any(worker.apprise_urls for worker in workers):
            # apprise's worker processes start now, not at the first alarm; on a thread, so
            # starting them does not hold up the hub's own start.
            asyncio.get_running_loop().run_in_executor(None, self.dispatcher.warm_up)
        armed = self.timers.rebuild()
        await self.escalation.resume()
        if isinstance(self.arc, ArcLink):
            await self.arc.start()  # pending ARC messages go again, with their sequence numbers
        self.offline.start()
        self.ingest.heartbeats.start(self.scheduler, self.config.ingest.heartbeat_flush)
        if self.shared is not None:
            self.shared.start()
        if self.gateway is not None:
            self._gateway_task = asyncio.create_task(self.gateway.run(), name="sms")
        log.info("timers rebuilt: %d session deadlines armed", armed)

    async def stop(self) -> None:
        self.offline.stop()
        await self.ingest.heartbeats.stop()  # the last-seen still in memory is stored
        self.scheduler.cancel_all()
        if self.gateway is not None:
            self.gateway.stop()
        if self._gateway_task is not None:
            with contextlib.suppress(Exception):  # a stuck modem must not hold up the stop
                await asyncio.wait_for(self._gateway_task, timeout=10)
        if self.calls is not None:
            self.calls.close()
        await self.dispatcher.aclose()
        if self.incident_notice is not None:
            await self.incident_notice.aclose()
        await self.copies.drain()
        await self.escalation.drain()
        if isinstance(self.arc, ArcLink):
            await self.arc.stop()
        await self.unit.drain()
        if self.shared is not None:
            await self.shared.stop()
        self.scheduler.cancel_all()
        self.broadcaster.close()
        if self.modem is not None:
            self.modem.close()


def build_hub_services(
    config: HubConfig,
    store: Store,
    *,
    clock: Clock,
    publisher: Publisher,
    metrics: Metrics,
    modem: Modem | None = None,
    stand_ins: Mapping[str, Channel] | None = None,
    tap: ChannelTap | None = None,
    arc: ArcSink | None = None,
    arc_transmitter: FrameTransmitter | None = None,
) -> HubServices:
    """Build every hub service, on the running event loop, each from the ones it needs.

    ``publisher`` carries commands and acks to devices (the MQTT link). ``modem``: the GSM modem,
    else the one at ``config.modem.port``, if any. ``stand_ins`` replace outgoing channels by
    name (the hardware or network behind them); ``tap`` wraps every channel. ``arc``: the
    Alarm Receiving Centre's link (``arc.events.ArcSink``), the ``arc`` channel's way out;
    by default the ``ArcLink`` ``[arc]`` describes, sending through ``arc_transmitter`` if given.
    """
    scheduler = Scheduler(clock, asyncio.get_running_loop())
    broadcaster = Broadcaster()
    if modem is None and config.modem.port:
        modem = Modem(config.modem.port, clock=clock)
    escalation: Escalation | None = None
    unit: UnitFeedback | None = None

    def alarm_taken(alarm: Alarm) -> None:  # by a call: the escalation and unit are built below
        if escalation is not None:
            escalation.alarm_changed(alarm)
        if unit is not None:  # a panic taken in charge by phone: its unit shows help coming
            unit.alarm_changed(alarm)

    channels = _channels(broadcaster, modem, config, store, clock, alarm_taken)
    calls = channels["call"] if isinstance(channels["call"], ModemCallChannel) else None
    if arc is None:
        arc = _arc_link(config, store, clock, arc_transmitter)
    arc_channel = None
    if arc is not None:
        arc_channel = ArcChannel(arc, store)
        channels["arc"] = arc_channel
        publish_arc_link_changes(arc, broadcaster)
    channels |= dict(stand_ins or {})
    if tap is not None:
        channels = {name: tap(channel) for name, channel in channels.items()}
    notifications = NotificationLog(store, clock, MAX_ATTEMPTS, publish=broadcaster.publish)
    dispatcher = Dispatcher(
        channels,
        clock,
        notifications.record,
        max_attempts=MAX_ATTEMPTS,
        send_slots=config.escalation.send_slots,
    )
    # On PostgreSQL other hubs may share the database: claim timed work before doing it.
    claims = None
    if config.db.url.scheme == "postgresql" and isinstance(store, LeaseRows):
        claims = LeaseClaims(
            store, clock, owner=config.mqtt.client_id, lease_s=config.cluster.lease
        )
    directory = Directory(
        store,
        config.escalation.admins,
        config.escalation.on_call,
        region=config.phones.default_region,
    )
    escalation = Escalation(
        store,
        scheduler,
        config.policies,
        directory,
        clock,
        dispatcher=dispatcher,
        publish=broadcaster.publish,
        claim=claims.claim_alarm if claims is not None else None,
        style=message_style(config),
        listeners=[arc_channel.alarm_changed] if arc_channel is not None else (),
    )
    if arc is not None:
        ladders = escalation
        _listen_to_arc_link(arc, lambda _state: ladders.arc_link_changed())
    timers = SessionTimers(
        store,
        scheduler,
        publisher,
        policy_for=_team_policy(store, config),
        on_alarm=escalation.alarm_opened,
        on_change=lambda session: _session_changed(broadcaster, session),
        claim=claims.claim_session if claims is not None else None,
    )
    heartbeats = HeartbeatBook(store, clock)
    offline = OfflineWatch(
        store,
        scheduler,
        clock,
        config.sessions.offline_after,
        escalation.alarm_opened,
        heard_ms=heartbeats.last_heard_ms,
        # On PostgreSQL other hubs hear part of every device's heartbeats, stored in batches.
        others_unsaved_s=config.ingest.heartbeat_flush if claims is not None else 0.0,
    )
    unit = UnitFeedback(publisher)
    feedback = unit

    def alarm_changed(alarm: Alarm) -> None:
        escalation.alarm_changed(alarm)
        feedback.alarm_changed(alarm)

    shared = None
    if claims is not None:
        shared = SharedWork(
            claims,
            store,
            scheduler,
            clock,
            poll_s=config.cluster.poll,
            timers=timers,
            escalation=escalation,
        )
    signal = SignalWatch(store, clock, config.signal.poor_dbm)
    heartbeats.flush_with(signal.flush)
    ingest = Ingest(
        store,
        publisher,
        clock,
        metrics,
        max_in_flight=config.ingest.max_in_flight,
        extra_effects=lambda e: session_effects(e, config.sessions.grace, config.sessions.prealert),
        refusal=DeviceRoster(
            store.device_standings, clock, require_provisioned=config.devices.require_provisioned
        ).refusal,
        heartbeats=heartbeats,
        listeners=Listeners(
            alarm=[escalation.alarm_opened],
            alarm_changed=[escalation.alarm_changed],  # a check-in: the unit is told by its ack
            session=[timers.arm],
            status=[
                offline.status_changed,
                lambda device_id, status: _device_status(broadcaster, device_id, status),
            ],
            event=[lambda received: _device_event(broadcaster, received), signal.event],
            heartbeat=[signal.heartbeat],
        ),
    )
    gateway = None
    if modem is not None:
        people = config.escalation.admins + config.escalation.on_call
        acks = SmsAcks(store, clock, people, alarm_changed, region=config.phones.default_region)
        gateway = SmsGateway(
            modem,
            clock,
            on_ack=acks.on_ack,
            on_fallback=_fallback_into(ingest),
            secret_for=store.device_secret,
        )
    return HubServices(
        config,
        scheduler,
        broadcaster,
        modem,
        dispatcher,
        escalation,
        timers,
        offline,
        shared,
        ingest,
        gateway,
        unit,
        ManagerCopies(store, clock, config.delivery_manager, modem=modem),
        incident_notice=LineManagerNotice(
            store,
            clock,
            channel=_incident_channel(stand_ins, tap),
            broadcaster=broadcaster,
            when=_utc_time,
        ),
        directory=directory,
        calls=calls,
        store=store,
        clock=clock,
        arc=arc,
    )


def _arc_link(
    config: HubConfig, store: Store, clock: Clock, transmitter: FrameTransmitter | None
) -> ArcLink:
    """The ARC link ``[arc]`` describes; not configured (it sends nothing) without a primary."""
    arc = config.arc
    key = ArcKey.from_hex(arc.key.hex) if arc.key is not None else None
    if transmitter is None and arc.primary is not None:
        receivers = [ReceiverAddress("primary", arc.primary.host, arc.primary.port, arc.transport)]
        if arc.backup is not None:
            receivers.append(
                ReceiverAddress("backup", arc.backup.host, arc.backup.port, arc.transport)
            )
        transmitter = Transmitter(
            receivers,
            clock,
            key=key,
            ack_timeout_s=arc.ack_timeout,
            attempts_per_receiver=arc.attempts,
            send_location=arc.send_location,
        )
    several_hubs = config.db.url.scheme == "postgresql"
    return ArcLink(
        store,
        clock,
        arc,
        transmitter,
        owner=config.mqtt.client_id,
        encrypted=key is not None,
        poll_s=config.cluster.poll if several_hubs else None,
    )


def publish_arc_link_changes(arc: ArcSink, broadcaster: Broadcaster) -> None:
    """Every change of the ARC link's state goes to the open consoles (their red banner), and
    a link going down or coming back to the log."""
    was_down = [arc_link_problem(arc.state()) is not None]

    def changed(state: ArcLinkState) -> None:
        problem = arc_link_problem(state)
        if problem is not None and not was_down[0]:
            log.error("ARC link down: alarms are NOT reaching the ARC: %s", problem)
        elif problem is None and was_down[0]:
            log.info("ARC link up again: acked by the %s receiver", state.last_ack_receiver)
        was_down[0] = problem is not None
        broadcaster.publish("arc_link", arc_link_event(state))

    _listen_to_arc_link(arc, changed)


def _listen_to_arc_link(arc: ArcSink, callback: Callable[[ArcLinkState], None]) -> None:
    """``callback(state)`` at each change of the link's state, when the link tells of its
    changes (``ArcLink.add_listener``; ``ArcSink`` itself does not promise it)."""
    add_listener = getattr(arc, "add_listener", None)
    if callable(add_listener):
        add_listener(callback)


def arc_link_event(state: ArcLinkState) -> dict[str, object]:
    """The console stream's ``arc_link`` event: the link's state (no key, no personal data)."""
    return {**asdict(state), "down": arc_link_problem(state) is not None}


def _incident_channel(stand_ins: Mapping[str, Channel] | None, tap: ChannelTap | None) -> Channel:
    """Apprise as for alarms, with the incident's own title (or the test's stand-in)."""
    channel = (stand_ins or {}).get("apprise") or AppriseChannel(title=INCIDENT_TITLE)
    return tap(channel) if tap is not None else channel


def _utc_time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def message_style(config: HubConfig) -> MessageStyle:
    """What alarm messages take from the hub's settings."""
    return MessageStyle(
        console_url=config.messages.console_url,
        timezone=config.messages.timezone,
        sms_max_parts=config.messages.sms_max_parts,
        region=config.phones.default_region,
    )


def _channels(
    broadcaster: Broadcaster,
    modem: Modem | None,
    config: HubConfig,
    store: Store,
    clock: Clock,
    alarm_taken: Callable[[Alarm], None],
) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "console": ConsoleChannel(broadcaster),
        "call": ConsoleCallChannel(),
        "apprise": AppriseChannel(),
    }
    if modem is not None:
        channels["sms"] = SmsChannel(modem, max_parts=config.messages.sms_max_parts)
        if config.modem.calls:
            channels["call"] = ModemCallChannel(
                VoiceCalls(modem, clock=clock),
                ring_time=config.modem.ring_time,
                listen_time=config.modem.listen_time,
                take_charge=AlarmAcks(store, clock, alarm_taken).take_charge_by_call,
                still_open=lambda alarm_id: _is_open(store, alarm_id),
                recover=modem.recover,
            )
    return channels


def _is_open(store: Store, alarm_id: int) -> bool:
    alarm = store.alarm(alarm_id)
    return alarm is not None and alarm.state == AlarmState.OPEN


def _team_policy(store: Store, config: HubConfig) -> PolicyFor:
    def policy_for(kind: AlarmKind, session: Session) -> str:
        """The policy an alarm keeps: the shift type's for a missed check-in, the worker's team
        policy for overdue, else by kind."""
        if kind == AlarmKind.MISSED_CHECKIN:
            shift = config.shift_types.get(store.shift_type_of(session.id) or "")
            if shift is not None and shift.policy in config.policies:
                return shift.policy
        if kind == AlarmKind.OVERDUE and session.worker_id is not None:
            worker = store.worker(session.worker_id)
            if worker is not None and worker.policy and worker.policy in config.policies:
                return worker.policy
        return str(kind)

    return policy_for


def _fallback_into(ingest: Ingest) -> OnFallback:
    async def fallback(device_id: str, event: Event) -> None:
        # The same ingest as MQTT, so the same dedupe on the event id.
        await ingest.handle(str(DeviceTopic(device_id, Topic.EVENT)), event.encode())

    return fallback


def _device_status(broadcaster: Broadcaster, device_id: str, status: Status) -> None:
    """Open consoles show a device going online or offline at once."""
    broadcaster.publish("device", {"id": device_id, "state": str(status.state)})


def _device_event(broadcaster: Broadcaster, received: tuple[str, Event]) -> None:
    """Open consoles show a check-in (or any new event) at once: its kind, never its body."""
    device_id, event = received
    broadcaster.publish("device", {"id": device_id, "event": str(event.kind)})


def _session_changed(broadcaster: Broadcaster, session: Session) -> None:
    """Every console's stream, viewers' too: what the privacy policy lets a viewer see."""
    broadcaster.publish("session", visible_dict(Session, asdict(session), Role.VIEWER))
