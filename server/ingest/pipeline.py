"""Every message from a device: validate, persist, then (for events) ack.

The rules of the wire contract live here: an event is acked only after it is durably stored;
a duplicate (the same device's event id again) is acked again but stored once, and its MQTT copy
completes a record first stored from the SMS fallback line; ids are each device's own (the
store keys events by device and id); duress is acked ``received``, exactly like a
check-in; a status from an older boot is ignored; a bad message becomes a dead letter with a
reason and never raises. Many messages are in flight at once, so they share the store's group
commits instead of waiting for each other: each commit wakes the loop once for all its messages,
and one sender publishes their acks in turn. A heartbeat is taken in memory
(``heartbeats.py``): its last-seen is stored with every other device's in the next batch.

A panic or duress is urgent: it skips the in-flight limit, the store's writer takes it in its
next transaction ahead of any backlog, and its ack is published before the others waiting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from loneguard.protocol.clock import Clock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind, Heartbeat, Status
from loneguard.protocol.topics import PREFIX, Channel, DeviceTopic
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


# Calls for help: read, stored and acked ahead of everything else whenever the hub is behind.
URGENT_KINDS = frozenset({EventKind.PANIC, EventKind.DURESS})


def is_urgent(message: Event | Status | Heartbeat) -> bool:
    return isinstance(message, Event) and message.kind in URGENT_KINDS


def _may_be_urgent(payload: bytes) -> bool:
    """Cheap, before decoding: could this be a panic or duress? A yes only reads it at once;
    ``is_urgent`` on the decoded message decides."""
    return b"panic" in payload or b"duress" in payload


# Messages read, and committed messages finished, between two turns of the socket. aiomqtt has
# paho read one packet per turn when no ack awaits its PUBACK, so a light turn is what lets the
# hub read ahead of a flood to the panic inside it (bench storm: 8/32 halved the panic's p99
# against 50/200 at 3,000 devices).
READ_CHUNK = 8
AFTER_COMMIT_CHUNK = 32


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


@dataclass(slots=True)
class _Taken:
    """One message taken from the wire, on its way to the store and (an event) its ack."""

    device_id: str
    message: Event | Status
    received_ms: int
    arrived: float  # monotonic, for the ack latency
    urgent: bool


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
        self._max_in_flight = max_in_flight
        self._in_store = 0  # ordinary messages handed to the store and not yet finished
        self._waiting: deque[_Taken] = deque()  # ordinary messages over max_in_flight
        # Messages not yet decoded: (topic, payload, arrived, received ms), read in turn.
        self._unread: deque[tuple[str, bytes, float, int]] = deque()
        self._reading = False
        self._unfinished = 0  # every message taken and not yet stored and acked
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Filled by the writer's thread as commits land; emptied on the loop, one wake-up per
        # commit rather than a task and a wake-up per message.
        self._stored: list[tuple[_Taken, Future[Any]]] = []
        self._stored_lock = threading.Lock()
        self._wakeup_pending = False
        self._done: deque[tuple[_Taken, Future[Any]]] = deque()  # committed; on the loop
        # Acks to publish, a call for help's first; one sender publishes them in turn.
        self._urgent_acks: deque[tuple[_Taken, Ack]] = deque()
        self._acks: deque[tuple[_Taken, Ack]] = deque()
        self._sending = False
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
        """Take one message; returns once it is taken, not once it is stored.

        Only what may be a panic or duress is read at once: it goes to the store at once, ahead
        of everything queued there. Other messages are read in turn in chunks, between which
        the loop reads the socket again, so a call for help behind a flood is not left unread
        in the socket behind it; they go to the store while fewer than ``max_in_flight`` of them
        are there."""
        self._loop = asyncio.get_running_loop()
        arrived = self._clock.monotonic()
        received_ms = self._clock.wall_ms()
        if _may_be_urgent(payload):
            self._take(topic, payload, arrived, received_ms)
            return
        self._unread.append((topic, payload, arrived, received_ms))
        if not self._reading:
            self._reading = True
            task = asyncio.create_task(self._read_unread())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read_unread(self) -> None:
        try:
            while self._unread:
                for _ in range(min(READ_CHUNK, len(self._unread))):
                    self._take(*self._unread.popleft())
                await asyncio.sleep(0)  # the socket's turn: a panic may be waiting there
        finally:
            self._reading = False

    def _take(self, topic: str, payload: bytes, arrived: float, received_ms: int) -> None:
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
        taken = _Taken(device_id, message, received_ms, arrived, is_urgent(message))
        if taken.urgent:
            self._start_earlier_of(device_id)
        self._unfinished += 1
        self._idle.clear()
        if taken.urgent or self._in_store < self._max_in_flight:
            self._start(taken)
        else:
            self._waiting.append(taken)

    def _start_earlier_of(self, device_id: str) -> None:
        """Before a call for help: the same device's messages not yet started (its session
        start sent just before the panic, say) start now, in their order; the store's writer
        then takes them ahead with the panic, so the alarm knows the visit it belongs to."""
        prefix = f"{PREFIX}/dev/{device_id}/"
        unread = [entry for entry in self._unread if entry[0].startswith(prefix)]
        if unread:
            self._unread = deque(entry for entry in self._unread if not entry[0].startswith(prefix))
            for entry in unread:
                self._take(*entry)
        waiting = [taken for taken in self._waiting if taken.device_id == device_id]
        if waiting:
            self._waiting = deque(taken for taken in self._waiting if taken.device_id != device_id)
            for taken in waiting:
                self._start(taken)

    def _start(self, taken: _Taken) -> None:
        """Hand ``taken`` to the store; the store sees the messages in the order started."""
        if not taken.urgent:
            self._in_store += 1
        try:
            future = self._submit_to_store(taken)
        except Exception as exc:
            self.metrics.count("store_failures")
            log.error("could not queue a message of %s for the store: %s", taken.device_id, exc)
            self._forget(taken)  # not _finish: a store refusing everything must not recurse
            return
        future.add_done_callback(lambda done: self._committed(taken, done))

    def _submit_to_store(self, taken: _Taken) -> Future[Any]:
        message = taken.message
        if isinstance(message, Event):
            if message.unsynced:
                # Stamped before the device's clock was set: its ts may be days off, so the
                # event counts from when it arrived (the press was then or a little before).
                message = taken.message = replace(message, ts=taken.received_ms)
            effects = effects_of(message.kind)
            if self._extra_effects is not None:
                effects += self._extra_effects(message)
            return self._store.record_event(
                taken.device_id, message, taken.received_ms, effects, urgent=taken.urgent
            )
        assert isinstance(message, Status)
        return self._store.record_status(taken.device_id, message, taken.received_ms)

    def _committed(self, taken: _Taken, future: Future[Any]) -> None:
        """On the writer's thread (or the loop's, if already done): one wake-up per commit."""
        with self._stored_lock:
            self._stored.append((taken, future))
            if self._wakeup_pending:
                return
            self._wakeup_pending = True
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._take_stored)

    def _take_stored(self) -> None:
        with self._stored_lock:
            stored, self._stored = self._stored, []
            self._wakeup_pending = False
        for item in stored:  # calls for help ahead of whatever earlier commits left undone
            (self._done.appendleft if item[0].urgent else self._done.append)(item)
        self._after_commits()

    def _after_commits(self) -> None:
        """A chunk of the committed messages, then the loop's other work (reading the socket)
        before the next chunk: a commit of thousands must not hold a panic unread that long."""
        for _ in range(min(AFTER_COMMIT_CHUNK, len(self._done))):
            taken, future = self._done.popleft()
            try:
                self._after_commit(taken, future)
            except Exception:  # a bug here must not leave the message unfinished forever
                log.exception("ingest failed after a commit")
                self._finish(taken)
        if self._done:
            assert self._loop is not None
            self._loop.call_soon(self._after_commits)

    def _after_commit(self, taken: _Taken, future: Future[Any]) -> None:
        try:
            result = future.result()
        except Exception as exc:
            # No ack: the device keeps the event in its outbox and sends it again.
            self.metrics.count("store_failures")
            if isinstance(taken.message, Event):
                log.error(
                    "could not store event %s of %s: %s", taken.message.id, taken.device_id, exc
                )
            else:
                log.error("could not store the status of %s: %s", taken.device_id, exc)
            self._finish(taken)
            return
        if isinstance(taken.message, Event):
            ack = self._event_stored(result, taken.device_id, taken.message)
            (self._urgent_acks if taken.urgent else self._acks).append((taken, ack))
            if not self._sending:
                self._sending = True
                task = asyncio.create_task(self._send_acks())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        assert isinstance(taken.message, Status)
        self._status_stored(result, taken.device_id, taken.message)
        self._finish(taken)

    def _event_stored(self, outcome: EventOutcome, device_id: str, event: Event) -> Ack:
        """Tell whoever listens what the stored event changed; the ack it earned."""
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
        return Ack(event.id, ack_status(event.kind))

    async def _send_acks(self) -> None:
        """Publish the acks of committed events, calls for help first, one at a time: a
        publish waiting on another's return keeps aiomqtt's pending calls (which it scans on
        every publish) down to one."""
        try:
            while self._urgent_acks or self._acks:
                taken, ack = (self._urgent_acks or self._acks).popleft()
                try:
                    await self._publisher.publish(
                        str(DeviceTopic(taken.device_id, Channel.ACK)), ack.encode(), qos=ACK_QOS
                    )
                except Exception as exc:
                    # Stored but not acked: the device resends, the duplicate is acked then.
                    self.metrics.count("ack_failures")
                    log.warning("could not ack event %s to %s: %s", ack.ref, taken.device_id, exc)
                else:
                    self.metrics.observe_ack(self._clock.monotonic() - taken.arrived)
                finally:
                    self._finish(taken)
        finally:
            self._sending = False

    def _finish(self, taken: _Taken) -> None:
        """``taken`` is done with (stored and acked, or failed): its slot goes to the next."""
        self._forget(taken)
        while self._waiting and self._in_store < self._max_in_flight:
            self._start(self._waiting.popleft())

    def _forget(self, taken: _Taken) -> None:
        self._unfinished -= 1
        if not taken.urgent:
            self._in_store -= 1
        if self._unfinished == 0:
            self._idle.set()

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
        while self._unread or self._unfinished or self._tasks:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            elif self._unfinished:
                await self._idle.wait()
            else:
                await asyncio.sleep(0)
        await self.heartbeats.flush()

    @property
    def in_flight(self) -> int:
        return len(self._unread) + self._unfinished

    def _status_stored(self, applied: bool, device_id: str, status: Status) -> None:
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
