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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Event, Status
from loneguard.protocol.topics import Channel as Topic
from loneguard.protocol.topics import DeviceTopic
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.cluster.shared_work import LeaseClaims, SharedWork
from loneguard.server.config import HubConfig
from loneguard.server.escalation.directory import Directory
from loneguard.server.escalation.notify import (
    AppriseChannel,
    Broadcaster,
    CallChannel,
    Channel,
    ConsoleChannel,
    Dispatcher,
    SmsChannel,
)
from loneguard.server.escalation.notify.dispatcher import MAX_ATTEMPTS
from loneguard.server.escalation.runtime import Escalation, NotificationLog
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest, Listeners, Publisher
from loneguard.server.ingest.roster import DeviceRoster
from loneguard.server.privacy import visible_dict
from loneguard.server.scheduler import Scheduler
from loneguard.server.sessions.offline_watch import OfflineWatch
from loneguard.server.sessions.rules import session_effects
from loneguard.server.sessions.timers import PolicyFor, SessionTimers
from loneguard.server.sms.gateway import OnFallback, SmsGateway
from loneguard.server.sms.responders import SmsAcks
from loneguard.server.store import AlarmKind, Role, Session, Store
from loneguard.server.store.leases import LeaseRows

log = logging.getLogger(__name__)

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
    _gateway_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def hooks(self) -> ApiHooks:
        return ApiHooks(
            session_changed=self.timers.arm,
            alarm_changed=self.escalation.alarm_changed,
            grace_s=self.config.sessions.grace,
            prealert_s=self.config.sessions.prealert,
            broadcaster=self.broadcaster,
            scheduler=self.scheduler,
        )

    async def start(self) -> None:
        armed = self.timers.rebuild()
        await self.escalation.resume()
        self.offline.start()
        if self.shared is not None:
            self.shared.start()
        if self.gateway is not None:
            self._gateway_task = asyncio.create_task(self.gateway.run(), name="sms")
        log.info("timers rebuilt: %d session deadlines armed", armed)

    async def stop(self) -> None:
        self.offline.stop()
        self.scheduler.cancel_all()
        if self.gateway is not None:
            self.gateway.stop()
        if self._gateway_task is not None:
            with contextlib.suppress(Exception):  # a stuck modem must not hold up the stop
                await asyncio.wait_for(self._gateway_task, timeout=10)
        await self.dispatcher.aclose()
        await self.escalation.drain()
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
) -> HubServices:
    """Build every hub service, on the running event loop, each from the ones it needs.

    ``publisher`` carries commands and acks to devices (the MQTT link). ``modem``: the GSM modem,
    else the one at ``config.modem.port``, if any. ``stand_ins`` replace outgoing channels by
    name (the hardware or network behind them); ``tap`` wraps every channel.
    """
    scheduler = Scheduler(clock, asyncio.get_running_loop())
    broadcaster = Broadcaster()
    if modem is None and config.modem.port:
        modem = Modem(config.modem.port, clock=clock)
    channels = _channels(broadcaster, modem) | dict(stand_ins or {})
    if tap is not None:
        channels = {name: tap(channel) for name, channel in channels.items()}
    notifications = NotificationLog(store, clock, MAX_ATTEMPTS, publish=broadcaster.publish)
    dispatcher = Dispatcher(channels, clock, notifications.record, max_attempts=MAX_ATTEMPTS)
    # On PostgreSQL other hubs may share the database: claim timed work before doing it.
    claims = None
    if config.db.url.scheme == "postgresql" and isinstance(store, LeaseRows):
        claims = LeaseClaims(
            store, clock, owner=config.mqtt.client_id, lease_s=config.cluster.lease
        )
    escalation = Escalation(
        store,
        scheduler,
        config.policies,
        Directory(store, config.escalation.admins, config.escalation.on_call),
        clock,
        dispatcher=dispatcher,
        publish=broadcaster.publish,
        claim=claims.claim_alarm if claims is not None else None,
    )
    timers = SessionTimers(
        store,
        scheduler,
        publisher,
        policy_for=_team_policy(store, config),
        on_alarm=escalation.alarm_opened,
        on_change=lambda session: _session_changed(broadcaster, session),
        claim=claims.claim_session if claims is not None else None,
    )
    offline = OfflineWatch(
        store, scheduler, clock, config.sessions.offline_after, escalation.alarm_opened
    )
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
        listeners=Listeners(
            alarm=[escalation.alarm_opened],
            session=[timers.arm],
            status=[
                offline.status_changed,
                lambda device_id, status: _device_status(broadcaster, device_id, status),
            ],
            event=[lambda received: _device_event(broadcaster, received)],
        ),
    )
    gateway = None
    if modem is not None:
        people = config.escalation.admins + config.escalation.on_call
        acks = SmsAcks(store, clock, people, escalation.alarm_changed)
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
    )


def _channels(broadcaster: Broadcaster, modem: Modem | None) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "console": ConsoleChannel(broadcaster),
        "call": CallChannel(),
        "apprise": AppriseChannel(),
    }
    if modem is not None:
        channels["sms"] = SmsChannel(modem)
    return channels


def _team_policy(store: Store, config: HubConfig) -> PolicyFor:
    def policy_for(kind: AlarmKind, session: Session) -> str:
        """The policy an alarm keeps: the worker's team policy for overdue, else by kind."""
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
