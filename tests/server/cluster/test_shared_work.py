"""Two in-process hubs on one PostgreSQL, on one fake clock: the timed work is split by claims,
and when the hub holding a ladder stops dead, the other takes it over once the lease runs out.
(``test_two_hubs`` does the same with real processes and ``kill -9``; this one steps time.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.server.config import HubConfig, load_config
from tests.server.rig import Rig, overdue_ladder_toml
from tests.server.runtime_fakes import Sent, settle, until

# A lease long beside the time steps, so a hub slowed by the machine never loses its claim.
LEASE_S, POLL_S = 30, 1
STEPS_AT_S = (0, 10, 20, 30)  # after the alarm opens
# Time moves in ticks: work a loaded machine finishes after a tick's settle is stamped a tick later.
TICK_S = 0.5

CONFIG = f"""
[sessions]
grace = "5s"
prealert = "0s"
offline_after = "1h"

[cluster]
lease = {LEASE_S}
poll = {POLL_S}

{overdue_ladder_toml(STEPS_AT_S, notify="", channel="console")}"""


def config(tmp_path: Path, pg_url: str, hub: str) -> HubConfig:
    path = tmp_path / f"{hub}.toml"
    path.write_text(CONFIG)
    env = {
        "LONEGUARD_DB_URL": pg_url,
        "LONEGUARD_HTTP": "127.0.0.1:0",
        "LONEGUARD_MQTT_CLIENT_ID": hub,
        "LONEGUARD_REQUIRE_PROVISIONED": "false",
    }
    return load_config(path, env=env)


def step_of(sent: Sent) -> int:
    return int(sent.key.split(":")[1])  # alarm:step:repeat:role:recipient:channel


def test_one_ladder_on_two_hubs_and_the_take_over(tmp_path: Path, pg_url: str) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        a = await Rig(tmp_path, clock, config(tmp_path, pg_url, "hub-a")).start()
        b = await Rig(tmp_path, clock, config(tmp_path, pg_url, "hub-b")).start()
        rigs = {"hub-a": a, "hub-b": b}
        try:
            await a.people()
            start = clock.monotonic()
            await a.visit(minutes=1)  # hub A arms it; due at 60 s, the alarm opens at 65 s
            opens_s = 65 + POLL_S  # at the latest: a sweep may find the deadline first

            async def tick_to(offset_s: float) -> None:
                while clock.monotonic() - start < offset_s:
                    clock.advance(TICK_S)
                    await settle(5)

            def steps() -> Counter[int]:
                return Counter(step_of(s) for s in a.sent + b.sent)

            await tick_to(opens_s + STEPS_AT_S[1])
            await until(lambda: steps() == Counter({0: 1, 1: 1}))
            (alarm,) = a.store.alarms()
            holder = a.store.write(
                lambda conn: conn.execute(
                    "SELECT lease_owner FROM alarms WHERE id = ?", (alarm.id,)
                ).fetchone()[0]
            ).result()
            dead, survivor = rigs[holder], rigs["hub-b" if holder == "hub-a" else "hub-a"]
            before = len(survivor.sent)
            dead.services.scheduler.cancel_all()  # it stops dead: no timers, no renewals
            stopped_at = clock.monotonic() - start

            await tick_to(opens_s + STEPS_AT_S[-1] + LEASE_S + POLL_S)
            await until(lambda: len(steps()) == len(STEPS_AT_S))
            await settle()
            print(
                f"\nsteps sent {dict(steps())} by hub-a {len(a.sent)}, hub-b {len(b.sent)};"
                f" {holder} stopped at {stopped_at:.0f} s, the rest came from the other"
            )
            assert steps() == Counter(range(len(STEPS_AT_S)))  # each step once, none lost
            taken = [step_of(s) for s in survivor.sent[before:]]
            assert taken == [2, 3]
            taken_at_s = survivor.sent[before].monotonic - start
            # within the lease and a sweep (and the tick its send may be stamped in)
            assert taken_at_s <= stopped_at + LEASE_S + POLL_S + TICK_S
        finally:
            for rig in (a, b):
                await rig.stop()

    asyncio.run(scenario())
