"""The hub with an ARC configured, end to end in process: its services build the link from
``[arc]``, the first supervision test goes at start and is acked by pysiaalarm (its threaded
receiver), a device's panic reaches the ARC as Contact ID 120 through the shipped panic policy,
and the console's view of the link says so. Without a key the hub warns once that the messages
go unencrypted."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.sync.client import SIAClient

from loneguard.protocol.messages import Event, EventKind, new_event_id
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store.arc_records import ArcMessageState
from tests.server.test_hub import Device, sqlite_hub_config

ACCOUNT = "C0FFEE"


class ThreadedArc:
    """pysiaalarm's threaded receiver on a free port: the hub runs on a loop of its own."""

    def __init__(self) -> None:
        self.events: list[SIAEvent] = []
        self._lock = threading.Lock()
        self.client = SIAClient("127.0.0.1", 0, [SIAAccount(ACCOUNT)], self._on_event)
        self.port: int = self.client.sia_server.server_address[1]

    def _on_event(self, event: SIAEvent) -> None:
        with self._lock:
            self.events.append(event)

    def codes(self) -> list[str]:
        with self._lock:
            return [e.event_type for e in self.events if e.event_type]


@pytest.fixture
def arc() -> Iterator[ThreadedArc]:
    receiver = ThreadedArc()
    receiver.client.start()
    try:
        yield receiver
    finally:
        receiver.client.stop()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_hub_with_an_arc_tests_the_link_and_sends_a_panic(
    mosquitto: Mosquitto, tmp_path: Path, arc: ThreadedArc, caplog: pytest.LogCaptureFixture
) -> None:
    config = sqlite_hub_config(mosquitto, tmp_path).with_values(
        {"arc.primary": f"127.0.0.1:{arc.port}", "arc.account": ACCOUNT}
    )
    caplog.set_level(logging.WARNING, logger="loneguard.server.arc.link")
    with HubThread(config) as hub:
        services = hub.hub.services
        assert services is not None and services.arc is not None
        wait_until(lambda: arc.codes() == ["602"], "the first supervision test at start")
        wait_until(lambda: services.arc.state().last_ack_ms is not None, "its ack recorded")
        device = Device(mosquitto, "unit-07")
        try:
            device.publish(
                Event(new_event_id(), EventKind.PANIC, int(time.time() * 1000), 1).encode()
            )
            wait_until(lambda: arc.codes() == ["602", "120"], "the panic at the ARC")
        finally:
            device.close()
        (panic,) = hub.store.arc_messages(alarm_id=hub.store.alarms()[0].id)

        def acked() -> bool:
            stored = hub.store.arc_message(panic.key)
            return stored is not None and stored.state == ArcMessageState.ACKED

        wait_until(acked, "the panic's ack recorded")
        state = services.arc.state()
    assert state.configured and state.up and state.last_ack_receiver == "primary"
    assert state.pending == 0 and state.next_test_ms is not None
    received = arc.events[-1]
    assert (received.account, received.event_qualifier, received.ri) == (ACCOUNT, "1", "000")
    assert received.sequence == f"{panic.sequence:04d}"
    unencrypted = [r for r in caplog.records if "UNENCRYPTED" in r.getMessage()]
    assert len(unencrypted) == 1
