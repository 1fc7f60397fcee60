"""Two hubs on one PostgreSQL, each with its ARC link, one pysiaalarm receiver as the ARC: each
supervision test goes once (whichever hub claims it), and an alarm both hubs hand to their link
goes once, with one sequence number; when the hub that sent the tests stops, the other carries
on with them."""

from __future__ import annotations

import asyncio
import time

from pysiaalarm import SIAAccount

from loneguard.protocol.clock import FakeClock
from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.arc.link import ArcLink
from loneguard.server.arc.transmitter import ReceiverAddress, Transmitter
from loneguard.server.store.postgres import PostgresStore

from .link_helpers import alarm_event, open_alarm, until
from .sia_receiver import free_port, sia_receiver

KEY = ArcKey.from_characters("loneguard-2-hubs")
ACCOUNT = "BBB456"
SETTINGS = ArcSettings.model_validate(
    {"primary": "127.0.0.1:1", "account": ACCOUNT, "supervision_interval": "5m"}
)


def hub_link(store: PostgresStore, clock: FakeClock, arc: ReceiverAddress, owner: str) -> ArcLink:
    transmitter = Transmitter([arc], clock, key=KEY, ack_timeout_s=10, attempts_per_receiver=3)
    return ArcLink(store, clock, SETTINGS, transmitter, owner=owner, encrypted=True, poll_s=2.0)


def test_two_hubs_send_each_test_and_each_alarm_once(pg_url: str) -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000))  # both hubs on one (NTP) time
        stores = [PostgresStore(pg_url, now_ms=clock.wall_ms) for _ in range(2)]
        account = SIAAccount(ACCOUNT, KEY.secret.decode("ascii"), allowed_timeband=None)
        try:
            async with sia_receiver("primary", [account]) as arc:
                links = [
                    hub_link(store, clock, arc.address, f"hub-{n}")
                    for n, store in enumerate(stores)
                ]
                for link in links:
                    await link.start()
                await arc.wait_for(1)  # the first test: one hub claimed it
                alarm_id = stores[0].write(open_alarm(clock.wall_ms())).result(timeout=10)
                event = alarm_event(alarm_id, occurred_ms=clock.wall_ms())
                results = await asyncio.gather(*(link.deliver(event) for link in links))
                await arc.wait_for(2)
                assert any(r.ok for r in results)
                clock.advance(300)  # the second test
                await arc.wait_for(3)
                await asyncio.sleep(0.2)  # time for a second copy, were one sent
                survivor_rounds = links[1].rounds
                await links[0].stop()  # one hub goes: the other sends the next test
                clock.advance(300)
                await arc.wait_for(4)
                await asyncio.sleep(0.2)
                await links[1].stop()
            codes = [(e.event_type, e.sequence) for e in arc.events]
            assert sorted(codes) == [
                ("120", "0002"),
                ("602", "0001"),
                ("602", "0003"),
                ("602", "0004"),
            ]
            assert len(arc.events) == 4  # nothing twice
            assert links[1].rounds == survivor_rounds + 1  # the survivor sent the last test
        finally:
            for store in stores:
                store.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_every_hub_shows_the_link_down_whichever_hub_sent_the_failed_test(pg_url: str) -> None:
    """Only one hub sends each test, but every hub's console must show the red banner: the
    others read the failure from the shared records at their next poll."""

    async def scenario() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000))
        stores = [PostgresStore(pg_url, now_ms=clock.wall_ms) for _ in range(2)]
        nobody = ReceiverAddress("primary", "127.0.0.1", free_port())
        links = [hub_link(store, clock, nobody, f"hub-{n}") for n, store in enumerate(stores)]
        try:
            for link in links:
                await link.start()
            await until(lambda: any(not link.state().up for link in links))
            assert sum(link.rounds for link in links) == 1  # one hub sent the test
            clock.advance(2.0)  # the other hub's next poll
            await until(lambda: all(not link.state().up for link in links))
            for link in links:
                assert link.state().last_failure is not None
                assert "refused" in link.state().last_failure
        finally:
            for link in links:
                await link.stop()
            for store in stores:
                store.close()

    asyncio.run(asyncio.wait_for(scenario(), 60))
