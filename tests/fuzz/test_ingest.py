"""The hub's ingest fuzzed: batches of generated MQTT messages through a real SQLite store.

Properties, whatever arrives: ``handle`` never raises; every well-formed event is stored once
and acked (again for each copy), keyed by (device, event id), so the same id from two devices is
two events; every message the decoders refuse is dead-lettered with a
reason and counted, never stored and never acked; well-formed statuses and heartbeats are
stored; nothing fails in the store. The decoders are the oracle for "well-formed" (they are
fuzzed on their own in test_decoders.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Ack, Event, Heartbeat, Status
from loneguard.protocol.topics import PREFIX, Channel, DeviceTopic
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest, ack_status
from loneguard.server.sessions.rules import session_effects
from loneguard.server.store.sqlite import SqliteStore
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ, count
from tests.server.runtime_fakes import RecordingPublisher

BATCHES = 60
BATCH = (30, 60)  # messages per batch: at least 60 x 30 = 1,800, about 2,700 a run


def _topic(device: str, channel: str) -> str:
    return f"{PREFIX}/dev/{device}/{channel}"


def _for_channel(channel: Channel) -> st.SearchStrategy[bytes]:
    valid = {
        Channel.EVENT: s.event_dicts(),
        Channel.STATUS: s.status_dicts(),
        Channel.HEARTBEAT: s.heartbeat_dicts,
    }.get(channel, s.ack_dicts)
    return s.payloads(valid)


DEVICES = ("unit-1", "unit-2", "unit-3")
# Built once, not per draw (a flatmap would build a strategy for every message drawn).
well_addressed = st.one_of(
    [
        st.tuples(st.just(_topic(device, channel.value)), _for_channel(channel))
        for device in DEVICES
        for channel in Channel
    ]
)
anywhere = st.tuples(s.topics, st.binary(max_size=200))


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    messages = draw(
        st.lists(
            st.one_of(well_addressed, well_addressed, anywhere),
            min_size=BATCH[0],
            max_size=BATCH[1],
        )
    )
    for _ in range(draw(st.integers(0, 5))):  # redeliveries, as QoS 1 and outboxes make them
        messages.append(draw(st.sampled_from(messages)))
    return messages


def oracle(topic: str, payload: bytes) -> Any:
    """What the contract says the message is, or the ProtocolError it must be refused with."""
    try:
        channel = DeviceTopic.parse(topic).channel
        decoder = {Channel.EVENT: Event, Channel.STATUS: Status, Channel.HEARTBEAT: Heartbeat}
        if channel not in decoder:
            raise ProtocolError("topic", "not accepted by the hub")
        return decoder[channel].decode(payload)
    except ProtocolError as err:
        return err


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    clock = FakeClock()
    store = SqliteStore(tmp_path_factory.mktemp("fuzz") / "hub.db", now_ms=clock.wall_ms)
    yield store
    store.close()


@pytest.mark.timeout(300)  # ~8 s alone; room for a loaded CI machine
def test_ingest_stores_acks_or_dead_letters_every_message(store: SqliteStore) -> None:
    generated = [0]

    @settings(FUZZ, max_examples=BATCHES)
    @given(batches())
    def check(messages: list[tuple[str, bytes]]) -> None:
        generated[0] += len(messages)
        count("ingest", len(messages))
        clock = FakeClock()
        metrics = Metrics()
        publisher = RecordingPublisher()
        dead_before = len(store.dead_letters(limit=10**9))

        async def feed() -> None:
            ingest = Ingest(
                store,
                publisher,
                clock,
                metrics,
                extra_effects=lambda e: session_effects(e, 300, 300),
            )
            for topic, payload in messages:
                await ingest.handle(topic, payload)
            await ingest.drain()

        asyncio.run(feed())

        expected = [oracle(t, p) for t, p in messages]
        refused = [e for e in expected if isinstance(e, ProtocolError)]
        events = [
            (DeviceTopic.parse(t).device_id, e)
            for (t, _), e in zip(messages, expected, strict=True)
            if isinstance(e, Event)
        ]
        assert metrics.store_failures == 0
        assert metrics.rejected_total == len(refused)
        assert len(store.dead_letters(limit=10**9)) - dead_before == len(refused)
        acks = [
            (DeviceTopic.parse(t).device_id, Ack.decode(p))
            for t, p in publisher.published
            if t.endswith("/ack")
        ]
        # One ack per copy, on the sending device's own topic.
        assert sorted((d, a.ref) for d, a in acks) == sorted((d, e.id) for d, e in events)
        for device_id, ack in acks:
            event = next(e for d, e in events if (d, e.id) == (device_id, ack.ref))
            assert ack.status == ack_status(event.kind)
        stored = {(row.device_id, row.id) for row in store.events(limit=10**9)}
        assert {(d, e.id) for d, e in events} <= stored
        assert metrics.heartbeats == sum(isinstance(e, Heartbeat) for e in expected)
        assert metrics.statuses == sum(isinstance(e, Status) for e in expected)

    check()
    print(f"ingest fuzz: {generated[0]} messages")
    assert generated[0] >= BATCHES * BATCH[0]
