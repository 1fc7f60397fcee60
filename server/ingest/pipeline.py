"""Every message from a device: validate, persist, then (for events) ack.

The rules of the wire contract live here: an event is acked only after it is durably stored;
a duplicate (the same device's event id again) is acked again but stored once, and its MQTT copy
completes a record first stored from the SMS fallback line; ids are each device's own (the
store keys events by device and id); duress is acked ``received``, exactly like a
check-in; a status from an older boot is ignored; a bad message becomes a dead letter with a
reason and never raises. Many messages are in flight at once, so they share the store's group
commits instead of waiting for each other. A heartbeat is taken in memory (``heartbeats.py``):
its last-seen is stored with every other device's in the next batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from loneguard.protocol.clock import Clock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind, Heartbeat, Status
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.ingest.heartbeats import HeartbeatBook
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.store import (
    Alarm,
    AlarmKind,
    Effect,
    EventOutcome,
    OpenAlarm,
    RecordCheckin,
    Session,
    Store,
)

T = TypeVar("T")

log = logging.getLogger(__name__)

ACK_QOS = 1

_EFFECTS: dict[EventKind, tuple[Effect, ...]] = {
    EventKind.PANIC: (OpenAlarm(AlarmKind.PANIC),),
    EventKind.DURESS: (OpenAlarm(AlarmKind.DURESS),),
    EventKind.CHECKIN: (RecordCheckin(),),
}


def effects_of(kind: EventKind) -> tuple[Effect, ...]:
    """What storing an event of ``kind`` changes besides the event log."""
    return _EFFECTS.get(kind, ())


def ack_status(kind: EventKind) -> AckStatus:
    # Duress must be indistinguishable from a check-in on the device: only panic says help.
    return AckStatus.HELP_COMING if kind == EventKind.PANIC else AckStatus.RECEIVED


class Publisher(Protocol):
    async def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False
    ) -> None: ...


AlarmListener = Callable[[Alarm], None]
SessionListener = Callable[[Session], None]
StatusListener = Callable[[str, Status], None]
EventListener = Callable[[tuple[str, Event]], None]  # (device id, event), once per new event
# (device id, heartbeat, received ms), once it is taken (its last-seen is stored in batches)
HeartbeatListener = Callable[[tuple[str, Heartbeat, int]], None]
# Extra effects of an event beyond ``effects_of`` (the hub adds the session rules).
ExtraEffects = Callable[[Event], tuple[Effect, ...]]
# Why a device's messages must be refused (revoked, not provisioned), or None to take them.
Refusal = Callable[[str], str | None]


@dataclass(frozen=True)
class Listeners:
    """Who hears what ingest stored: new alarms, alarms a check-in answered, session changes,
    statuses, new events."""

    alarm: Sequence[AlarmListener] = ()
    alarm_changed: Sequence[AlarmListener] = ()
    session: Sequence[SessionListener] = ()
    status: Sequence[StatusListener] = ()
    event: Sequence[EventListener] = ()
    heartbeat: Sequence[HeartbeatListener] = ()


class Ingest:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        clock: Clock,
        metrics: Metrics,
        *,
        max_in_flight: int = 10_000,
        extra_effects: ExtraEffects | None = None,
        refusal: Refusal | None = None,
        listeners: Listeners | None = None,
        heartbeats: HeartbeatBook | None = None,
    ) -> None:
        self._store = store
        # Heartbeats' last-seen, flushed by the book's timer and by ``drain``.
        self.heartbeats = heartbeats or HeartbeatBook(store, clock)
        self._publisher = publisher
        self._clock = clock
        self.metrics = metrics
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        listeners = listeners or Listeners()
        self.alarm_listeners: list[AlarmListener] = list(listeners.alarm)
        self.alarm_changed_listeners: list[AlarmListener] = list(listeners.alarm_changed)
        self.session_listeners: list[SessionListener] = list(listeners.session)
        self.status_listeners: list[StatusListener] = list(listeners.status)
        self.event_listeners: list[EventListener] = list(listeners.event)
        self.heartbeat_listeners: list[HeartbeatListener] = list(listeners.heartbeat)
        self._extra_effects = extra_effects
        self._refusal = refusal

    async def handle(self, topic: str, payload: bytes) -> None:
        """Take one message; returns once it is queued for the store, not once it is stored."""
        arrived = self._clock.monotonic()
        received_ms = self._clock.wall_ms()
        try:
            device_id, message = _decode(topic, payload)
        except ProtocolError as err:
            self._reject(topic, payload, err.field, str(err), received_ms)
            return
        except Exception as exc:  # a decoder bug must not take ingest down with it
            log.exception("could not decode a message on %s", topic[:120])
            self._reject(topic, payload, "internal", f"internal: {type(exc).__name__}", received_ms)
            return
        # The device id comes from the topic, which the broker's ACL ties to the login; this
        # refuses the logins the hub no longer (or never) trusted.
        reason = self._refusal(device_id) if self._refusal is not None else None
        if reason is not None:
            self._reject(topic, payload, "device", reason, received_ms)
            return
        if isinstance(message, Heartbeat):
            # Held in memory, stored in batches: no slot, task or store write of its own.
            self._take_heartbeat(device_id, message, received_ms)
            return
        await self._slots.acquire()
        try:
            # Submitted here, not in the task, so the store sees messages in arrival order.
            work = self._submit(device_id, message, received_ms, arrived)
        except Exception as exc:
            self._slots.release()
            self.metrics.count("store_failures")
            log.error("could not queue a message of %s for the store: %s", device_id, exc)
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _submit(
        self, device_id: str, message: Event | Status, received_ms: int, arrived: float
    ) -> Coroutine[Any, Any, None]:
        if isinstance(message, Event):
            if message.unsynced:
                # Stamped before the device's clock was set: its ts may be days off, so the
                # event counts from when it arrived (the press was then or a little before).
                message = replace(message, ts=received_ms)
            effects = effects_of(message.kind)
            if self._extra_effects is not None:
                effects += self._extra_effects(message)
            stored = self._store.record_event(device_id, message, received_ms, effects)
            return self._finish_event(stored, device_id, message, arrived)
        applied = self._store.record_status(device_id, message, received_ms)
        return self._finish_status(applied, device_id, message)

    def _reject(
        self, topic: str, payload: bytes, field: str, reason: str, received_ms: int
    ) -> None:
        """Count, log (the reason only: the payload may hold personal data) and dead-letter."""
        self.metrics.count_rejected(field)
        log.warning("rejected a message on %s: %s", topic[:120], reason)
        try:
            future = self._store.add_dead_letter(received_ms, topic, payload, reason)
        except Exception as exc:
            log.error("could not keep a dead letter: %s", exc)
            return
        # No in-flight slot: a flood of junk must not hold up the events behind it.
        task = asyncio.create_task(_logged(future, "keep a dead letter"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message taken so far is stored and acked."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.heartbeats.flush()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("ingest task failed", exc_info=task.exception())

    async def _finish_event(
        self, stored: Future[EventOutcome], device_id: str, event: Event, arrived: float
    ) -> None:
        try:
            outcome = await asyncio.wrap_future(stored)
        except Exception as exc:
            # No ack: the device keeps the event in its outbox and sends it again.
            self.metrics.count("store_failures")
            log.error("could not store event %s from %s: %s", event.id, device_id, exc)
            return
        self.metrics.count_event(str(event.kind), outcome.inserted)
        if outcome.completed:
            self.metrics.count("events_completed")
            log.info("event %s of %s completed by its %s copy", event.id, device_id, event.link)
        for alarm in outcome.alarms:
            log.info("alarm %d opened: %s on %s", alarm.id, alarm.kind, device_id)
            _tell(self.alarm_listeners, alarm)
        for alarm in outcome.checked_in:
            log.info("alarm %d: the worker checked in on %s", alarm.id, device_id)
            _tell(self.alarm_changed_listeners, alarm)
        for session in outcome.sessions:
            _tell(self.session_listeners, session)
        if outcome.inserted:
            _tell(self.event_listeners, (device_id, event))
        ack = Ack(event.id, ack_status(event.kind))
        try:
            await self._publisher.publish(
                str(DeviceTopic(device_id, Channel.ACK)), ack.encode(), qos=ACK_QOS
            )
        except Exception as exc:
            # Stored but not acked: the device resends, the duplicate is acked then.
            self.metrics.count("ack_failures")
            log.warning("could not ack event %s to %s: %s", event.id, device_id, exc)
            return
        self.metrics.observe_ack(self._clock.monotonic() - arrived)

    async def _finish_status(self, stored: Future[bool], device_id: str, status: Status) -> None:
        try:
            applied = await asyncio.wrap_future(stored)
        except Exception as exc:
            self.metrics.count("store_failures")
            log.error("could not store the status of %s: %s", device_id, exc)
            return
        self.metrics.count("statuses")
        if applied:
            for listener in self.status_listeners:
                try:
                    listener(device_id, status)
                except Exception:
                    log.exception("status listener failed")
        else:
            self.metrics.count("stale_statuses")
            log.info(
                "ignored a stale %s status of %s (boot %d)", status.state, device_id, status.boot
            )

    def _take_heartbeat(self, device_id: str, heartbeat: Heartbeat, received_ms: int) -> None:
        self.heartbeats.heard(device_id, heartbeat, received_ms)
        self.metrics.count("heartbeats")
        _tell(self.heartbeat_listeners, (device_id, heartbeat, received_ms))


def _decode(topic: str, payload: bytes) -> tuple[str, Event | Status | Heartbeat]:
    device = DeviceTopic.parse(topic)
    if device.channel == Channel.EVENT:
        return device.device_id, Event.decode(payload)
    if device.channel == Channel.STATUS:
        return device.device_id, Status.decode(payload)
    if device.channel == Channel.HEARTBEAT:
        return device.device_id, Heartbeat.decode(payload)
    raise ProtocolError("topic", f"the hub does not accept {device.channel} messages")


def _tell(listeners: list[Callable[[T], None]], value: T) -> None:
    for listener in listeners:
        try:
            listener(value)
        except Exception:
            log.exception("listener failed")


async def _logged(future: Future[Any], what: str) -> None:
    try:
        await asyncio.wrap_future(future)
    except Exception as exc:
        log.error("could not %s: %s", what, exc)
