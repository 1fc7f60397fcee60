"""The hub: the store, the services (``services.build_hub_services``, ingest among
them), the MQTT link and the HTTP server, on one asyncio loop.

``Hub.run`` is the whole service; ``HubThread`` runs it on a background thread for tests and
tools, and ``loneguard.server.cli`` runs it in the foreground with signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Generator, Mapping

import uvicorn
from fastapi import FastAPI

from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock, SystemClock
from loneguard.server.api import create_app
from loneguard.server.cluster.hub_lock import HubLock
from loneguard.server.config import ConfigError, HubConfig
from loneguard.server.escalation.notify import Channel
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.mqtt_link import LinkSettings, MqttLink, NotConnected
from loneguard.server.ingest.open_broker import refuse_open_broker
from loneguard.server.ingest.pipeline import Ingest
from loneguard.server.services import ChannelTap, HubServices, build_hub_services
from loneguard.server.store import Store, open_store

log = logging.getLogger(__name__)


def http_server_config(app: FastAPI) -> uvicorn.Config:
    """How the hub serves its app. ``proxy_headers`` off: uvicorn would believe
    ``X-Forwarded-For`` from 127.0.0.1; the hub's ``HttpGuard`` believes it only from the
    proxies named in ``http.trusted_proxies``."""
    return uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", proxy_headers=False
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the hub decides how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket bound now, so the address (and a port 0 choice) is known up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Hub:
    def __init__(
        self,
        config: HubConfig,
        clock: Clock | None = None,
        store: Store | None = None,
        *,
        stand_ins: Mapping[str, Channel] | None = None,
        tap: ChannelTap | None = None,
        modem: Modem | None = None,
    ) -> None:
        self.config = config
        # Tests stand in for outgoing channels' hardware and record what is sent.
        self._stand_ins = stand_ins
        self._tap = tap
        self._modem = modem
        self.services: HubServices | None = None
        self.clock: Clock = clock or SystemClock()
        self._given_store = store
        self.store: Store | None = store
        self.metrics = Metrics()
        self.http_url: str | None = None
        self.ingest: Ingest | None = None
        self.link: MqttLink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._http_up = False
        self.ready = threading.Event()  # HTTP listens and MQTT is connected
        self.listening = threading.Event()  # HTTP listens and the first MQTT attempt is over

    def request_stop(self) -> None:
        """Ask ``run`` to stop cleanly; safe from any thread and from signal handlers."""
        self._stop_requested = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed: stopped
                loop.call_soon_threadsafe(stop.set)

    async def run(self, on_listening: Callable[[str], None] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._stop_requested:
            return
        lock = HubLock(self.config.db.url.path) if self.config.db.url.scheme == "sqlite" else None
        if lock is not None:
            lock.acquire()
        try:
            await self._run_on_store(on_listening)
        finally:
            if lock is not None:
                lock.release()

    async def _run_on_store(self, on_listening: Callable[[str], None] | None) -> None:
        await refuse_open_broker(self.config)
        store = self.store or open_store(self.config.db.url, self.clock.wall_ms)
        self.store = store
        try:
            sock = bind(self.config.http.listen.host, self.config.http.listen.port)
        except OSError as exc:
            if self._given_store is None:
                store.close()
            raise ConfigError(
                f"http.listen: cannot listen on {self.config.http.listen}: {exc}"
            ) from None
        try:
            await self._serve(store, sock, on_listening)
        finally:
            sock.close()
            if self._given_store is None:
                store.close()
            self.ready.clear()

    async def _serve(
        self,
        store: Store,
        sock: socket.socket,
        on_listening: Callable[[str], None] | None,
    ) -> None:
        assert self._stop is not None
        host, port = sock.getsockname()[:2]
        self.http_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

        outbox = LinkPublisher()
        services = build_hub_services(
            self.config,
            store,
            clock=self.clock,
            publisher=outbox,
            metrics=self.metrics,
            modem=self._modem,
            stand_ins=self._stand_ins,
            tap=self._tap,
        )
        ingest = services.ingest
        link = MqttLink(
            LinkSettings.from_config(self.config),
            self.clock,
            ingest.handle,
            on_connection_change=[self._on_connection_change],
        )
        outbox.connect(link)
        self.ingest, self.link, self.services = ingest, link, services
        await services.start()

        app = create_app(
            store,
            clock=self.clock,
            metrics=self.metrics,
            mqtt_connected=lambda: link.is_connected,
            hooks=services.hooks(),
            console=self.config.console,
            policies=self.config.policies,
            max_body_bytes=self.config.http.max_body_bytes,
            trusted_proxies=self.config.http.trusted_proxies,
        )
        server = _Server(http_server_config(app))
        http = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        mqtt = asyncio.create_task(link.run(), name="mqtt")
        watch = asyncio.create_task(self._watch_ready(server, link, on_listening), name="ready")
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait({http, mqtt, stop}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stop}:
                task.result()  # a crash of either half stops the hub, loudly
                log.error("%s stopped by itself; stopping the hub", task.get_name())
        finally:
            watch.cancel()
            stop.cancel()
            await link.stop(drain=ingest.drain)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(mqtt), timeout=10)
            if not mqtt.done():
                mqtt.cancel()
            await ingest.drain()
            await services.stop()
            server.should_exit = True
            await http
            log.info("hub stopped")

    async def _watch_ready(
        self, server: uvicorn.Server, link: MqttLink, on_listening: Callable[[str], None] | None
    ) -> None:
        while not server.started:
            await asyncio.sleep(0.01)  # uvicorn has no event for this
        await link.first_attempt_done.wait()
        assert self.http_url is not None
        self.listening.set()
        if on_listening is not None:
            on_listening(self.http_url)
        self._http_up = True
        if link.is_connected:
            self.ready.set()

    def _on_connection_change(self, connected: bool) -> None:
        if connected and self._http_up:
            self.ready.set()
        elif not connected:
            self.ready.clear()


class LinkPublisher:
    """The MQTT link as the services' publisher, before the link exists.

    The services are built first because the link delivers to their ingest; ingest's acks and
    the timers' commands go out through this, which ``connect`` joins to the link once it is
    built and before the services start.
    """

    def __init__(self) -> None:
        self._link: MqttLink | None = None

    def connect(self, link: MqttLink) -> None:
        if self._link is not None:
            raise RuntimeError("the publisher is already connected to a link")
        self._link = link

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        if self._link is None:
            raise NotConnected("no MQTT link yet")
        await self._link.publish(topic, payload, qos=qos, retain=retain)


class HubThread:
    """A hub on a background thread with its own loop: for tests, benchmarks and tools."""

    def __init__(
        self,
        config: HubConfig,
        clock: Clock | None = None,
        store: Store | None = None,
        *,
        stand_ins: Mapping[str, Channel] | None = None,
        tap: ChannelTap | None = None,
        modem: Modem | None = None,
    ) -> None:
        self.hub = Hub(config, clock, store, stand_ins=stand_ins, tap=tap, modem=modem)
        self._thread = threading.Thread(target=self._main, name="hub", daemon=True)
        self._error: BaseException | None = None
        self._finished = threading.Event()

    @property
    def http_url(self) -> str:
        assert self.hub.http_url is not None, "the hub has not started"
        return self.hub.http_url

    @property
    def store(self) -> Store:
        assert self.hub.store is not None, "the hub has not started"
        return self.hub.store

    def start(self, timeout: float = 15.0) -> HubThread:
        """Start, and wait until HTTP listens and MQTT is connected."""
        self._thread.start()
        for _ in range(int(timeout / 0.05)):
            if self.hub.ready.wait(0.05):
                return self
            if self._finished.is_set():
                raise RuntimeError("the hub stopped while starting") from self._error
        self.stop()
        raise TimeoutError(f"the hub was not ready within {timeout:.0f} s")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop cleanly (retained hub status offline) and wait for the thread."""
        self.hub.request_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the hub did not stop within {timeout:.0f} s")
        if self._error is not None:
            raise RuntimeError("the hub failed") from self._error

    def _main(self) -> None:
        try:
            asyncio.run(self.hub.run())
        except BaseException as exc:
            self._error = exc
            log.exception("the hub failed")
        finally:
            self._finished.set()

    def __enter__(self) -> HubThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
