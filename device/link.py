"""The device's MQTT link: presence, events out, acks and commands in, heartbeats.

``Link`` is the small interface the app uses; ``MqttLink`` implements it on paho-mqtt 2.x with
its own network thread, and unit tests hand the app a fake. The link owns no state worth
keeping: the app's outbox is asked for the pending events at every (re)connect.

Presence follows the Sparkplug birth/death pattern: a retained ``online`` status with this
boot's counter on connect, the retained ``offline`` status of the same boot as the last will,
and an ``offline`` status with a reason on a clean stop.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from loneguard.device.bearer import bearer_of
from loneguard.device.config import Config, MqttSettings
from loneguard.device.version import FW_VERSION
from loneguard.protocol.clock import Clock, Timer
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import (
    Ack,
    Command,
    DeviceState,
    Event,
    Heartbeat,
    HubStatus,
    Status,
)
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, DeviceTopic

log = logging.getLogger(__name__)

STOP_PUBLISH_TIMEOUT = 3.0  # seconds a clean stop waits for the broker to take the offline status


@dataclass(frozen=True)
class ModemReport:
    """What the heartbeat says about the modem: dBm, registered, driver health."""

    rssi: int | None
    registered: bool | None
    health: str  # "ok", "recovering", "failed"


class LinkListener(Protocol):
    """What the link needs from the app. Called on the link's own thread."""

    def pending_events(self) -> list[Event]: ...

    def modem_report(self) -> ModemReport | None: ...

    def battery_percent(self) -> int | None: ...

    def outbox_replaced(self) -> bool: ...

    def on_connection(self, connected: bool) -> None: ...

    def on_ack(self, ack: Ack) -> None: ...

    def on_command(self, command: Command) -> None: ...

    def on_hub_status(self, status: HubStatus) -> None: ...


class Link(Protocol):
    """What the app needs from a link."""

    @property
    def connected(self) -> bool: ...

    @property
    def hub_online(self) -> bool | None: ...

    def start(self, listener: LinkListener, boot: int) -> None: ...

    def publish_event(self, event: Event) -> None: ...

    def stop(self, reason: str) -> None: ...


def new_client(settings: MqttSettings, client_id: str, *, clean_session: bool) -> mqtt.Client:
    """A paho client with the configured credentials and TLS (MQTT 3.1.1)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None)
    return client


def disable_nagle(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """paho leaves Nagle's algorithm on; with delayed ACKs that adds ~40 ms to every ack."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttLink:
    """``Link`` over paho-mqtt: persistent session, QoS 1 events, capped reconnect backoff with
    jitter."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        *,
        fw: str = FW_VERSION,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._fw = fw
        self._id = config.device.id
        self._lock = threading.Lock()
        self._connected = False
        self._hub_online: bool | None = None
        self._listener: LinkListener | None = None
        self._boot = 0
        self._started_at = clock.monotonic()
        self._heartbeat: Timer | None = None
        self._stopped = False
        # Before each reconnect attempt, on top of paho's doubling backoff: a random pause up to
        # the first delay, so a fleet does not come back in one burst after a broker restart.
        min_delay = config.mqtt.reconnect_min_delay
        self.jitter: Callable[[], float] = jitter or (lambda: random.uniform(0.0, min_delay))
        self._stop_waiting = threading.Event()
        # Ids of the events still unacknowledged at the last heartbeat (see _resend_overdue).
        self._unacked_at_last_beat: frozenset[str] = frozenset()
        self.client = self._make_client()

    def topic(self, channel: Channel) -> str:
        return str(DeviceTopic(self._id, channel))

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    @property
    def hub_online(self) -> bool | None:
        """What the hub's retained status says; None until one arrives."""
        with self._lock:
            return self._hub_online

    def start(self, listener: LinkListener, boot: int) -> None:
        self._listener = listener
        self._boot = boot
        self._started_at = self._clock.monotonic()
        will = Status(DeviceState.OFFLINE, boot)
        self.client.will_set(self.topic(Channel.STATUS), will.encode(), qos=1, retain=True)
        mqtt_config = self._config.mqtt
        # connect_async: a broker that is down at boot is retried by the network thread.
        self.client.connect_async(mqtt_config.host, mqtt_config.port, mqtt_config.keepalive)
        self.client.loop_start()
        self._schedule_heartbeat()

    def publish_event(self, event: Event) -> None:
        # Offline, the outbox keeps the event and the next connect publishes it; queueing it in
        # paho as well would only send it twice.
        with self._lock:
            if not self._connected:
                return
        self._send(event)

    def _send(self, event: Event) -> None:
        """Hand one event to paho at QoS 1; every send, first or again, goes this way."""
        self.client.publish(self.topic(Channel.EVENT), event.encode(), qos=1)

    def stop(self, reason: str) -> None:
        """Publish a retained ``offline`` status with ``reason``, then disconnect cleanly."""
        self._stop_heartbeats()
        self._stop_waiting.set()
        if self.connected:
            status = Status(DeviceState.OFFLINE, self._boot, reason=reason[:200] or None)
            info = self.client.publish(
                self.topic(Channel.STATUS), status.encode(), qos=1, retain=True
            )
            try:
                info.wait_for_publish(STOP_PUBLISH_TIMEOUT)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not delivered: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()

    def abort(self) -> None:
        """Drop the connection without a DISCONNECT, as a power cut would.

        The broker then publishes the last will. For tests and the simulator.
        """
        self._stop_heartbeats()
        self._stop_waiting.set()
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    # -- paho plumbing -------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        settings = self._config.mqtt
        client = new_client(settings, f"loneguard-{self._id}", clean_session=False)
        client.reconnect_delay_set(settings.reconnect_min_delay, settings.reconnect_max_delay)
        client.on_socket_open = disable_nagle
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = lambda client, userdata: self._pause_before_retry()
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        log.info("connected to %s", self._config.mqtt.url)
        with self._lock:
            # Set before reading the outbox: an event added from now on is either in the list
            # below or published directly by publish_event (or both; the hub dedupes).
            self._connected = True
        online = Status(DeviceState.ONLINE, self._boot, self._fw, self._clock.wall_ms())
        client.publish(self.topic(Channel.STATUS), online.encode(), qos=1, retain=True)
        client.subscribe(
            [(self.topic(Channel.ACK), 1), (self.topic(Channel.CMD), 1), (HUB_STATUS_TOPIC, 1)]
        )
        listener = self._listener
        if listener is None:
            return
        try:
            self._publish_pending(listener)
            listener.on_connection(True)
        except Exception:  # an exception would end paho's network thread
            log.exception("connect handling failed")

    def _publish_pending(self, listener: LinkListener) -> int:
        """Publish every event not yet acked (the hub dedupes); how many."""
        pending = listener.pending_events()
        for event in pending:
            self._send(event)
        return len(pending)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
        if was_connected:
            level = logging.WARNING if reason.is_failure else logging.INFO
            log.log(level, "disconnected from the broker: %s", reason)
            if self._listener is not None:
                try:
                    self._listener.on_connection(False)
                except Exception:
                    log.exception("disconnect handling failed")
        if reason.is_failure:
            self._pause_before_retry()  # after the app heard: its SMS path must not wait

    def _pause_before_retry(self) -> None:
        """Runs on paho's network thread just before its backoff wait; a stop cuts it short."""
        self._stop_waiting.wait(max(0.0, self.jitter()))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        listener = self._listener
        if listener is None:
            return
        payload = bytes(message.payload)
        try:
            if message.topic == HUB_STATUS_TOPIC:
                hub = HubStatus.decode(payload)
                with self._lock:
                    self._hub_online = hub.state == DeviceState.ONLINE
                if hub.state == DeviceState.ONLINE and not message.retain:
                    self._republish_for_hub()
                listener.on_hub_status(hub)
                return
            channel = DeviceTopic.parse(message.topic).channel
            if channel == Channel.ACK:
                listener.on_ack(Ack.decode(payload))
            elif channel == Channel.CMD:
                listener.on_command(Command.decode(payload))
        except ProtocolError as exc:
            log.warning("rejected message on %s: %s", message.topic, exc)
        except Exception:
            log.exception("message handling failed on %s", message.topic)

    def _republish_for_hub(self) -> None:
        """A hub announced itself while this device is connected: send the unacked events again.

        The broker sets the retain flag only on the copy a new subscription gets (the one at
        each connect, when the outbox is published anyway); a live ``online`` is a hub that came
        back, or one answering another hub's last will. With several hubs on a shared
        subscription the broker goes on handing part of the events to a dead hub's session and
        holds them there until it returns, so an event sent just before a hub died may wait in
        that session: a copy sent now reaches a live hub, which dedupes.
        """
        listener = self._listener
        if listener is None or not self.connected:
            return
        count = self._publish_pending(listener)
        if count:
            log.info("hub announced itself: sent %d unacknowledged events again", count)

    # -- heartbeats ----------------------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        with self._lock:
            if self._stopped:
                return
            interval = self._config.timing.heartbeat_interval
            self._heartbeat = self._clock.call_later(interval, self._send_heartbeat)

    def _send_heartbeat(self) -> None:
        try:
            if self.connected and self._listener is not None:
                modem = self._listener.modem_report()
                pending = self._listener.pending_events()
                beat = Heartbeat(
                    ts=self._clock.wall_ms(),
                    uptime=round(self._clock.monotonic() - self._started_at, 3),
                    rssi=modem.rssi if modem else None,
                    battery=self._listener.battery_percent(),
                    queued=len(pending),
                    registered=modem.registered if modem else None,
                    modem=modem.health if modem else None,
                    bearer=bearer_of(self.client.socket()),
                    outbox_reset=True if self._listener.outbox_replaced() else None,
                )
                self.client.publish(self.topic(Channel.HEARTBEAT), beat.encode(), qos=0)
                self._resend_overdue(pending)
        except Exception:
            log.exception("heartbeat failed")
        finally:
            self._schedule_heartbeat()

    def _resend_overdue(self, pending: list[Event]) -> None:
        """Send again the events still unacknowledged a whole heartbeat after the last beat.

        The hub acks only what it stored; when it cannot store (database locked, disk full) it
        sends no ack while the link stays up, so waiting for the next reconnect could hold a
        panic back for days. With several hubs, a copy the broker handed to a dead hub's session
        waits there until that hub returns; each resend is handed to a hub again, so an event
        reaches a live one within a few beats. The hub dedupes on the event id, so a resend is
        harmless.
        """
        for event in pending:
            if event.id in self._unacked_at_last_beat:
                self._send(event)
        self._unacked_at_last_beat = frozenset(event.id for event in pending)

    def _stop_heartbeats(self) -> None:
        with self._lock:
            self._stopped = True
            if self._heartbeat is not None:
                self._heartbeat.cancel()
                self._heartbeat = None
