"""The hub's timed half, wired together: sessions, escalation, device supervision, notifiers.

``HubServices`` is built on the hub's event loop once ingest exists. ``start`` rebuilds every
timer from the store (deadlines that passed while the hub was down fire at once) and resumes
every open ladder; ``stop`` drops the in-memory timers (the deadlines stay in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Event, Status
from loneguard.protocol.topics import Channel as Topic
from loneguard.protocol.topics import DeviceTopic
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.cluster.shared_work import SharedWork
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
from loneguard.server.escalation.runtime import Escalation
from loneguard.server.ingest.pipeline import Ingest, Publisher
from loneguard.server.scheduler import Scheduler
from loneguard.server.sessions.offline_watch import OfflineWatch
from loneguard.server.sessions.timers import SessionTimers
from loneguard.server.sms.gateway import SmsGateway
from loneguard.server.sms.responders import SmsAcks
from loneguard.server.store import AlarmKind, Session, Store
from loneguard.server.store.leases import LeaseRows

log = logging.getLogger(__name__)


class HubServices:
    def __init__(
        self,
        config: HubConfig,
        store: Store,
        clock: Clock,
        publisher: Publisher,
        *,
        channels: Mapping[str, Channel] | None = None,
        modem: Modem | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        loop = asyncio.get_running_loop()
        self.scheduler = Scheduler(clock, loop)
        self.broadcaster = Broadcaster()
        self.escalation = Escalation(
            store,
            self.scheduler,
            config.policies,
            Directory(store, config.escalation.admins, config.escalation.on_call),
            clock,
            publish=self.broadcaster.publish,
        )
        self.modem = modem
        if self.modem is None and config.modem.port:
            self.modem = Modem(config.modem.port, clock=clock)
        self.dispatcher = Dispatcher(
            channels if channels is not None else self._channels(), clock, self.escalation.record
        )
        self.escalation.dispatcher = self.dispatcher
        self.timers = SessionTimers(
            store,
            self.scheduler,
            publisher,
            policy_for=self.policy_for,
            on_alarm=self.escalation.alarm_opened,
            on_change=self._session_changed,
        )
        self.offline = OfflineWatch(
            store,
            self.scheduler,
            clock,
            config.sessions.offline_after,
            self.escalation.alarm_opened,
        )
        self.gateway: SmsGateway | None = None
        self._gateway_task: asyncio.Task[None] | None = None
        # On PostgreSQL other hubs may share the database: claim timed work before doing it.
        self.shared: SharedWork | None = None
        if config.db.url.scheme == "postgresql" and isinstance(store, LeaseRows):
            self.shared = SharedWork(
                store,
                store,
                self.scheduler,
                clock,
                owner=config.mqtt.client_id,
                lease_s=config.cluster.lease,
                poll_s=config.cluster.poll,
                timers=self.timers,
                escalation=self.escalation,
            )

    def attach(self, ingest: Ingest) -> None:
        """Hear what devices do: alarms, session changes, last wills."""
        ingest.alarm_listeners.append(self.escalation.alarm_opened)
        ingest.session_listeners.append(self.timers.arm)
        ingest.status_listeners.append(self.offline.status_changed)
        ingest.status_listeners.append(self._device_status)
        ingest.event_listeners.append(self._device_event)
        if self.modem is not None:
            people = self._config.escalation.admins + self._config.escalation.on_call
            acks = SmsAcks(self._store, self._clock, people, self.escalation.alarm_changed)

            async def fallback(device_id: str, event: Event) -> None:
                # The same ingest as MQTT, so the same dedupe on the event id.
                await ingest.handle(str(DeviceTopic(device_id, Topic.EVENT)), event.encode())

            self.gateway = SmsGateway(
                self.modem,
                self._clock,
                on_ack=acks.on_ack,
                on_fallback=fallback,
                secret_for=self._store.device_secret,
            )

    def hooks(self) -> ApiHooks:
        return ApiHooks(
            session_changed=self.timers.arm,
            alarm_changed=self.escalation.alarm_changed,
            grace_s=self._config.sessions.grace,
            prealert_s=self._config.sessions.prealert,
            broadcaster=self.broadcaster,
            scheduler=self.scheduler,
        )

    def policy_for(self, kind: AlarmKind, session: Session) -> str:
        """The policy an alarm keeps: the worker's team policy for overdue, else by kind."""
        if kind == AlarmKind.OVERDUE and session.worker_id is not None:
            worker = self._store.worker(session.worker_id)
            if worker is not None and worker.policy and worker.policy in self._config.policies:
                return worker.policy
        return str(kind)

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

    def _channels(self) -> dict[str, Channel]:
        channels: dict[str, Channel] = {
            "console": ConsoleChannel(self.broadcaster),
            "call": CallChannel(),
            "apprise": AppriseChannel(),
        }
        if self.modem is not None:
            channels["sms"] = SmsChannel(self.modem)
        return channels

    def _device_status(self, device_id: str, status: Status) -> None:
        """Open consoles show a device going online or offline at once."""
        self.broadcaster.publish("device", {"id": device_id, "state": str(status.state)})

    def _device_event(self, received: tuple[str, Event]) -> None:
        """Open consoles show a check-in (or any new event) at once: its kind, never its body."""
        device_id, event = received
        self.broadcaster.publish("device", {"id": device_id, "event": str(event.kind)})

    def _session_changed(self, session: Session) -> None:
        data: dict[str, Any] = {
            k: v for k, v in asdict(session).items() if k not in _PERSONAL_SESSION_FIELDS
        }
        self.broadcaster.publish("session", data)


# The console reads these over the JSON API; the stream carries no addresses or numbers.
_PERSONAL_SESSION_FIELDS = frozenset({"address", "contact_name", "contact_phone"})
