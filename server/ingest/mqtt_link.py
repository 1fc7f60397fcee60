"""The hub's MQTT connection: birth and death on ``hub/status``, subscriptions, reconnection.

The caller owns reconnection (aiomqtt's advice): ``run`` loops around ``async with Client``,
waiting a capped, doubling backoff between attempts. The session is persistent (fixed client id,
clean_session off) so QoS 1 events published while the hub restarts wait in the broker.

Several hubs share the device messages through an MQTT shared subscription
(``$share/GROUP/loneguard/v1/dev/+/event``...): the broker hands each message to one of them.
They also share the one retained ``hub/status``: when one hub's last will (or clean stop) says
``offline`` while another is still connected, the live one says ``online`` again at once, so
devices do not fall back to SMS while a hub is there to hear them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiomqtt

from loneguard.protocol.clock import Clock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import DeviceState, HubStatus
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, device_filter, shared_device_filter
from loneguard.server.config import HubConfig, MqttUrl

log = logging.getLogger(__name__)

SUBSCRIPTIONS = (Channel.EVENT, Channel.STATUS, Channel.HEARTBEAT)
SUBSCRIBE_QOS = 1
STATUS_QOS = 1

MessageHandler = Callable[[str, bytes], Awaitable[None]]
Inbox = asyncio.Queue[aiomqtt.Message]


class NotConnected(ConnectionError):
    pass


@dataclass(frozen=True)
class LinkSettings:
    url: MqttUrl
    client_id: str = "loneguard-hub"
    keepalive: int = 30
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    # Acks awaiting the broker's PUBACK; paho scans them all on every PUBACK, so more costs
    # CPU without adding throughput on a nearby broker.
    max_inflight: int = 100
    shared_group: str = ""  # empty: plain subscriptions (one hub)

    @classmethod
    def from_config(cls, config: HubConfig) -> LinkSettings:
        return cls(
            url=config.mqtt.url,
            client_id=config.mqtt.client_id,
            keepalive=config.mqtt.keepalive,
            reconnect_min=config.mqtt.reconnect_min,
            reconnect_max=config.mqtt.reconnect_max,
            shared_group=config.mqtt.shared_group,
        )


class MqttLink:
    def __init__(
        self,
        settings: LinkSettings,
        clock: Clock,
        on_message: MessageHandler,
        *,
        on_connection_change: Sequence[Callable[[bool], None]] = (),
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._on_message = on_message
        self._client: aiomqtt.Client | None = None
        self._stopping = asyncio.Event()
        self._drain: Callable[[], Awaitable[None]] | None = None
        self.connected = asyncio.Event()
        self.first_attempt_done = asyncio.Event()
        self.connections = 0
        # Called with True on each connection and False on each loss, on the loop's thread.
        self.on_connection_change: list[Callable[[bool], None]] = list(on_connection_change)

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        """Hand a message to the session, which sends it and resends a QoS 1 message until the
        broker's PUBACK; returns without waiting for that PUBACK.

        Thousands of acks in flight is normal load: awaiting each PUBACK through aiomqtt (whose
        pending-call bookkeeping grows with the number in flight) cost more than storing the
        events (bench/ingest), so this asks aiomqtt's public ``publish`` to wait zero seconds.
        aiomqtt has no publish that skips the wait (empicano/aiomqtt#48): the zero wait's task
        and timeout cost about 0.15 ms of hub CPU per event on bench/ingest, over handing the
        message to aiomqtt's private paho client. A message the session loses with its
        connection is made good by the device, which resends an unacked event and gets its ack
        again.
        """
        client = self._client
        if client is None:
            raise NotConnected("not connected to the broker")
        try:
            # A zero wait: paho has the message in its session once publish returns, and aiomqtt
            # then gives up waiting for the PUBACK at once instead of holding a pending call.
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=0)
        except aiomqtt.MqttCodeError as exc:  # paho refused it: no connection, queue full
            raise NotConnected(f"could not publish: {exc}") from exc
        except aiomqtt.MqttError:
            pass  # the zero wait elapsed before the PUBACK, as asked; paho resends until then

    async def run(self) -> None:
        """Stay connected until ``stop``; returns after the retained offline status is out."""
        delay = self._settings.reconnect_min
        while not self._stopping.is_set():
            try:
                client, inboxes = self._client_for_session()
                async with client:
                    delay = self._settings.reconnect_min
                    await self._session(client, inboxes[0] if inboxes else None)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT: %s; retrying in %.1f s", exc, delay)
            except Exception:  # whatever broke, the hub must come back to the broker
                log.exception("MQTT session failed; retrying in %.1f s", delay)
            finally:
                self._client = None
                if self.connected.is_set():
                    self.connected.clear()
                    self._notify(False)
                self.first_attempt_done.set()
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(delay * 2, self._settings.reconnect_max)

    async def stop(self, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        """Ask ``run`` to stop: stop reading, ``drain`` (finish acks), publish offline, leave."""
        self._drain = drain
        self._stopping.set()

    def _notify(self, connected: bool) -> None:
        for listener in self.on_connection_change:
            try:
                listener(connected)
            except Exception:
                log.exception("connection listener failed")

    def _client_for_session(self) -> tuple[aiomqtt.Client, list[Inbox]]:
        """A client, and the incoming queue it made from our ``queue_type`` (read by ``_read``)."""
        url = self._settings.url
        inboxes: list[Inbox] = []

        class KeptInbox(Inbox):
            def __init__(self, maxsize: int = 0) -> None:
                super().__init__(maxsize)
                inboxes.append(self)

        client = aiomqtt.Client(
            url.host,
            url.port,
            username=url.username,
            password=url.password,
            identifier=self._settings.client_id,
            clean_session=False,
            keepalive=self._settings.keepalive,
            will=aiomqtt.Will(
                HUB_STATUS_TOPIC, HubStatus(DeviceState.OFFLINE).encode(), STATUS_QOS, retain=True
            ),
            tls_context=ssl.create_default_context() if url.tls else None,
            max_inflight_messages=self._settings.max_inflight,
            # Without it Nagle's algorithm holds each small ack back for tens of milliseconds.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            timeout=10,
            queue_type=KeptInbox,
        )
        # Thousands of acks in flight is normal load here, not a warning per publish.
        client.pending_calls_threshold = 1_000_000
        return client, inboxes

    async def _session(self, client: aiomqtt.Client, inbox: Inbox | None) -> None:
        online = HubStatus(DeviceState.ONLINE, self._clock.wall_ms())
        await client.publish(HUB_STATUS_TOPIC, online.encode(), qos=STATUS_QOS, retain=True)
        group = self._settings.shared_group
        for channel in SUBSCRIPTIONS:
            topic_filter = shared_device_filter(channel, group) if group else device_filter(channel)
            await client.subscribe(topic_filter, qos=SUBSCRIBE_QOS)
        if group:  # hear another hub's last will, to say online again over it
            await client.subscribe(HUB_STATUS_TOPIC, qos=STATUS_QOS)
        self._client = client
        self.connections += 1
        self.connected.set()
        self._notify(True)
        self.first_attempt_done.set()
        log.info("MQTT connected to %s as %s", self._settings.url, self._settings.client_id)

        reader = asyncio.create_task(self._read(client, inbox))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not self._stopping.is_set():
            reader.result()  # the connection broke: raise its MqttError to reconnect
            raise aiomqtt.MqttError("the message stream ended")
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if self._drain is not None:
            await self._drain()
        offline = HubStatus(DeviceState.OFFLINE, self._clock.wall_ms())
        await client.publish(HUB_STATUS_TOPIC, offline.encode(), qos=STATUS_QOS, retain=True)
        log.info("MQTT: published offline; disconnecting")

    async def _read(self, client: aiomqtt.Client, inbox: Inbox | None) -> None:
        async for message in client.messages:
            await self._deliver(client, message)
            if inbox is None:  # an aiomqtt that made no queue from queue_type: one at a time
                continue
            # Then whatever else has arrived, straight from the client's queue (ours, made from
            # queue_type) without aiomqtt's task and wait per message (a large share of the
            # hub's CPU per event; bench/ingest). The iterator above still notices a lost
            # connection, once per batch.
            while True:
                try:
                    message = inbox.get_nowait()
                except asyncio.QueueEmpty:
                    break
                await self._deliver(client, message)

    async def _deliver(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = b"" if payload is None else str(payload).encode()
        if message.topic.value == HUB_STATUS_TOPIC:
            await self._other_hub_status(client, bytes(payload))
            return
        await self._on_message(message.topic.value, bytes(payload))

    async def _other_hub_status(self, client: aiomqtt.Client, payload: bytes) -> None:
        try:
            status = HubStatus.decode(payload)
        except ProtocolError:
            return
        if status.state == DeviceState.OFFLINE and not self._stopping.is_set():
            log.info("MQTT: another hub went offline; this one is still here")
            online = HubStatus(DeviceState.ONLINE, self._clock.wall_ms())
            await client.publish(HUB_STATUS_TOPIC, online.encode(), qos=STATUS_QOS, retain=True)
