"""An in-process hub runtime (no broker, no HTTP) on a fake clock, with people set up.

Its services come from ``build_hub_services``, as the hub's do; only time (a ``FakeClock``), the
broker (a recording publisher), the modem (a stand-in SMS channel unless a modem is given) and a
recorder of every channel attempt differ.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.server.arc.events import ArcSink
from loneguard.server.config import HubConfig, load_config
from loneguard.server.escalation.notify import Channel
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest
from loneguard.server.services import HubServices, build_hub_services
from loneguard.server.sessions import rules
from loneguard.server.store import Alarm, AlarmKind, Session, SessionKind, Worker, open_store
from loneguard.server.store.sql import insert_alarm
from loneguard.server.store.sqlite import SqliteStore, SqlStore
from tests.server.runtime_fakes import (
    RecordingPublisher,
    Sent,
    SmsStandIn,
    recording_tap,
    until,
)

ANN = Worker(
    "w-ann",
    "Ann Example",
    mobile="+447700900001",
    home_phone="+441632960001",
    line_manager="w-mgr",
)
MGR = Worker("w-mgr", "Max Manager", mobile="+447700900002")
CONTACT = ("Carol Contact", "+441632960999")
DEVICE = "d-ann"


def overdue_ladder_toml(after_s: Sequence[int], notify: str, channel: str) -> str:
    """An overdue policy of quick steps, each with the message "step N", for hubs on real time."""
    who = f'["{notify}"]' if notify else "[]"
    steps = ",\n".join(
        f'{{ after = "{t}s", notify = {who}, channels = ["{channel}"], message = "step {i}" }}'
        for i, t in enumerate(after_s)
    )
    return f"[policies.overdue]\nsteps = [\n{steps}\n]\n"


def hub_config(tmp_path: Path, *, toml: str | None = None, **values: object) -> HubConfig:
    """The rig's settings; ``toml``: a config file's text (e.g. ``[policies...]`` tables)."""
    env = {
        "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "LONEGUARD_HTTP": "127.0.0.1:0",
        "LONEGUARD_REQUIRE_PROVISIONED": "false",  # the rig's devices are never provisioned
    }
    path = None
    if toml is not None:
        path = tmp_path / "hub.toml"
        path.write_text(toml, encoding="utf-8")
    config = load_config(path, env=env)
    return config.with_values(values) if values else config


@dataclass
class Rig:
    tmp_path: Path
    clock: FakeClock
    config: HubConfig
    store: SqlStore = field(init=False)
    services: HubServices = field(init=False)
    ingest: Ingest = field(init=False)
    sent: list[Sent] = field(default_factory=list)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    arc: ArcSink | None = None  # the Alarm Receiving Centre's link (a fake one, or the real)

    async def start(
        self,
        modem: Modem | None = None,
        *,
        sms_stand_in: bool = True,
        stand_ins: Mapping[str, Channel] | None = None,
    ) -> Rig:
        """Start; with a ``modem``, SMS goes through it and the SMS gateway runs; with neither
        a modem nor ``sms_stand_in``, the hub has no SMS channel, as a hub without a modem.
        ``stand_ins``: channels of the test's own, by name, in place of the hub's."""
        if self.config.db.url.scheme == "sqlite":
            self.store = SqliteStore(self.tmp_path / "hub.db", now_ms=self.clock.wall_ms)
        else:  # several rigs may share one PostgreSQL database, as several hubs do
            store = open_store(self.config.db.url, self.clock.wall_ms)
            assert isinstance(store, SqlStore)
            self.store = store
        # Without a modem the real hub has no SMS channel; the rig stands in for one.
        channels: dict[str, Channel] = (
            {"sms": SmsStandIn()} if modem is None and sms_stand_in else {}
        )
        channels |= dict(stand_ins or {})
        self.services = build_hub_services(
            self.config,
            self.store,
            clock=self.clock,
            publisher=self.publisher,
            metrics=Metrics(),
            modem=modem,
            stand_ins=channels,
            tap=recording_tap(self.clock, self.sent),
            arc=self.arc,
        )
        self.ingest = self.services.ingest
        await self.services.start()
        return self

    async def stop(self) -> None:
        await self.ingest.drain()  # as the hub does before its services stop
        await self.services.stop()
        self.store.close()

    async def people(self) -> None:
        for worker in (MGR, ANN):
            self.store.save_worker(worker).result()
        self.store.assign_device(DEVICE, ANN.id).result()

    async def visit(self, minutes: int = 30, **overrides: object) -> Session:
        now = self.clock.wall_ms()
        plan = rules.SessionPlan(
            kind=SessionKind.VISIT,
            worker_id=ANN.id,
            device_id=DEVICE,
            started_ms=now,
            grace_s=self.config.sessions.grace,
            prealert_s=self.config.sessions.prealert,
            expected_end_ms=now + minutes * 60_000,
            address="1 Example Road",
            contact_name=CONTACT[0],
            contact_phone=CONTACT[1],
            accompanied=False,
            approved_by=MGR.name,
        )
        for name, value in overrides.items():
            object.__setattr__(plan, name, value)
        plan.check()
        session = self.store.start_session(plan, "test").result()
        self.services.timers.arm(session)
        return session

    async def advance_to(self, offset_s: float, start_monotonic: float, sends: int) -> None:
        """Move fake time to ``offset_s`` after the start, then wait for ``sends`` in all."""
        self.clock.advance(start_monotonic + offset_s - self.clock.monotonic())
        await until(lambda: len(self.sent) >= sends)


def open_alarm(rig: Rig, kind: AlarmKind) -> Alarm:
    """An alarm of ``kind`` opened for Ann (her device, no session), as ingest would open it."""

    def run(conn: sqlite3.Connection) -> Alarm:
        return insert_alarm(
            conn,
            kind,
            device_id=DEVICE,
            worker_id=ANN.id,
            event_id=None,
            session_id=None,
            policy=str(kind),
            now_ms=rig.clock.wall_ms(),
            actor="test",
        )

    return rig.store.write(run).result()
