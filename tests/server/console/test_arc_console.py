"""The console and the ARC link, in-process: the red banner on every page while alarms are not
reaching the ARC (and not otherwise), the ARC page's state and zone sheet, an alarm's ARC
message and attempts on its timeline, and the link's changes pushed to open consoles."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.arc.events import ArcLinkState
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.policy import loads_policies, with_defaults
from loneguard.server.store import Worker
from loneguard.server.store.arc_records import ArcAttemptRecord, NewArcMessage
from loneguard.server.store.sqlite import SqliteStore
from tests.server.arc.link_helpers import open_alarm
from tests.server.console.conftest import form_csrf, log_in
from tests.server.fake_arc_sink import FakeArcSink
from tests.server.rig import Rig, hub_config

PHONE = "+44 20 7946 0000"
DOWN = ArcLinkState(
    configured=True,
    up=False,
    last_ack_ms=1_000,
    last_ack_receiver="primary",
    down_since_ms=61_000,
    failures=6,
    last_failure="backup: timeout after 10 s",
    pending=1,
    next_test_ms=600_000,
)
UP = ArcLinkState(configured=True, up=True, last_ack_ms=2_000, last_ack_receiver="backup")
# A policy of the hub's own that names arc, beside the shipped ones.
OWN_POLICY = """[policies.lift]
steps = [{ after = "0s", notify = [], channels = ["console", "arc"], message = "Check the lift." }]
"""
ARC_WORDS = "the Alarm Receiving Centre (SIA DC-09), once"
PAGES = ("/console", "/console/alarms", "/console/people", "/console/events", "/console/arc")


def client_with(store: SqliteStore, clock: FakeClock, state: ArcLinkState) -> TestClient:
    hooks = ApiHooks(arc_state=lambda: state, arc_phone=PHONE, arc_account="1234AB")
    app = create_app(
        store,
        clock=clock,
        hooks=hooks,
        console=ConsoleSettings(),
        policies=with_defaults(loads_policies(OWN_POLICY)),
    )
    return TestClient(app, follow_redirects=False)


def test_while_the_arc_link_is_down_every_page_says_to_ring_the_arc(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    with client_with(store, clock, DOWN) as client:
        assert "arc-down" not in client.get("/login").text  # nothing before logging in
        log_in(client, "vic")
        for path in PAGES:
            page = client.get(path).text
            assert 'id="arc-down"' in page, path
            assert f"Alarms are NOT reaching the ARC: ring them on {PHONE}" in page
            assert "6 failed attempts since the last ack; last: backup: timeout" in page
        # The fragment an open page refetches when the stream says the link changed.
        assert 'id="arc-down"' in client.get("/console/banner").text


def test_an_arc_link_that_is_up_or_absent_raises_nothing(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    for state in (UP, ArcLinkState(configured=False, up=False), ArcLinkState(True, False)):
        with client_with(store, clock, state) as client:
            log_in(client, "vic")
            page = client.get("/console").text
            assert "arc-down" not in page and "NOT reaching" not in page
            assert ('href="/console/arc"' in page) == state.configured  # the menu entry


def test_the_arc_page_shows_the_link_and_its_messages(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    alarm_id = open_panic(store, clock)
    message, _ = store.add_arc_message(panic_message(alarm_id), clock.wall_ms()).result()
    with client_with(store, clock, DOWN) as client:
        log_in(client, "vic")
        page = client.get("/console/arc").text
        assert 'id="arc-status" class="arc-down">down since' in page
        assert "from the primary receiver" in page
        assert '<dd id="arc-failures">6</dd>' in page
        assert '<dd id="arc-pending">1</dd>' in page
        assert f"<td>1120 01 {message.zone:03d}</td>" in page
        assert f'<a href="/console/alarms/{alarm_id}">#{alarm_id}</a>' in page
        assert f"<td>{message.sequence:04d}</td><td>pending</td>" in page
    with client_with(store, clock, ArcLinkState(False, False)) as client:
        log_in(client, "vic")
        assert "No Alarm Receiving Centre is configured" in client.get("/console/arc").text


def test_the_zone_sheet_lists_each_worker_once_and_an_admin_can_complete_it(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    for worker in (Worker("w-ann", "Ann Example"), Worker("w-bo", "Bo Example")):
        store.save_worker(worker).result()
    first = store.arc_zone("w-bo", clock.wall_ms()).result()
    with client_with(store, clock, UP) as client:
        log_in(client, "vic")
        page = client.get("/console/arc").text
        assert f"<td>{first:03d}</td><td>Bo Example</td>" in page
        assert "No zone yet: Ann Example." in page
        assert 'id="give-zones"' not in page  # a viewer cannot change the sheet
        token = form_csrf(client.get("/console").text)
        assert client.post("/console/arc/zones", data={"csrf": token}).status_code == 403
    with client_with(store, clock, UP) as client:
        log_in(client, "ada")
        page = client.get("/console/arc").text
        token = form_csrf(page)
        answer = client.post("/console/arc/zones", data={"csrf": token})
        assert answer.status_code == 303
        zones = {z.worker_id: z.zone for z in store.arc_zones()}
        assert zones["w-bo"] == first and zones["w-ann"] not in (0, first)
        page = client.get("/console/arc").text
        assert f"<td>{zones['w-ann']:03d}</td><td>Ann Example</td>" in page
        assert "No zone yet" not in page
        assert store.audit(1)[0].action == "arc.zones"


def test_the_alarm_timeline_shows_the_arc_message_and_every_attempt(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    alarm_id = open_panic(store, clock)
    message, _ = store.add_arc_message(panic_message(alarm_id), clock.wall_ms()).result()
    now = clock.wall_ms()
    tries = [
        ArcAttemptRecord("primary", "timeout", "no answer in 10 s", now, now + 10_000),
        ArcAttemptRecord("backup", "ack", "acked", now + 10_000, now + 10_200),
    ]
    for attempt in tries:  # each recorded as it ends, then the round
        store.record_arc_attempt(message.id, attempt)
    store.record_arc_round(message.id, "backup", None, now + 10_200).result()
    with client_with(store, clock, UP) as client:
        log_in(client, "vic")
        page = client.get(f"/console/alarms/{alarm_id}").text
        seq = f"{message.sequence:04d}"
        assert f"Contact ID 1120 01 {message.zone:03d}, account 1234AB, sequence {seq}" in page
        assert "<td>ARC primary receiver</td><td>ARC message no answer</td>" in page
        assert f"<td>sequence {seq}: no answer in 10 s</td>" in page
        assert "<td>ARC backup receiver</td><td>ARC message acked</td>" in page
        assert page.index("ARC message no answer") < page.index("ARC message acked")


def test_a_change_of_the_link_is_pushed_to_open_consoles(tmp_path: Path) -> None:
    async def scenario() -> None:
        arc = FakeArcSink()
        rig = await Rig(tmp_path, FakeClock(), hub_config(tmp_path), arc=arc).start()
        try:
            frames = rig.services.broadcaster.subscribe()
            arc.change(DOWN)
            frame = await asyncio.wait_for(anext(frames), 5)
            assert "event: arc_link" in frame and '"down":true' in frame
            assert rig.services.hooks().arc_state() == DOWN
            arc.change(UP)
            frame = await asyncio.wait_for(anext(frames), 5)
            assert "event: arc_link" in frame and '"down":false' in frame
            await frames.aclose()  # type: ignore[attr-defined]
        finally:
            await rig.stop()

    asyncio.run(scenario())


def open_panic(store: SqliteStore, clock: FakeClock) -> int:
    return store.write(open_alarm(clock.wall_ms())).result()


def panic_message(alarm_id: int) -> NewArcMessage:
    return NewArcMessage(
        key=f"alarm:{alarm_id}:open",
        alarm_id=alarm_id,
        qualifier=1,
        code=120,
        partition=1,
        account="1234AB",
        occurred_ms=1_000,
        zone=7,
    )


def test_the_ladders_name_the_arc_only_where_it_is_used(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    alarm_id = open_panic(store, clock)
    with client_with(store, clock, UP) as client:
        log_in(client, "max")
        assert ARC_WORDS in client.get(f"/console/alarms/{alarm_id}").text
        people = client.get("/console/people").text
        assert people.count(ARC_WORDS) == 7  # six shipped policies and the hub's own
    with client_with(store, clock, ArcLinkState(configured=False, up=False)) as client:
        log_in(client, "max")
        # No ARC: the shipped ladders skip it without a word, and so do their pages...
        assert ARC_WORDS not in client.get(f"/console/alarms/{alarm_id}").text
        # ...but the hub's own policy asked for it: it shows (and the banner says it cannot).
        assert client.get("/console/people").text.count(ARC_WORDS) == 1
