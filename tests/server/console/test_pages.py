"""Console pages: what each role sees, visits, records, register, event log, reports, privacy."""

from __future__ import annotations

import asyncio
import io
import re
import wave
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind
from loneguard.server.cli import main
from loneguard.server.console import reports
from loneguard.server.console.passwords import verify_password
from loneguard.server.console.retention import RetentionPurge
from loneguard.server.sessions import rules
from loneguard.server.store import AlarmState, Role, SessionKind, Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import add_worker, form_csrf, log_in, open_alarm

ADDRESS = "12 Private Lane"
PHONE = "+447700900777"


def plan(client: TestClient, **fields: str) -> tuple[int, str]:
    csrf = form_csrf(client.get("/console/visits").text)
    data = {
        "csrf": csrf,
        "worker_id": "w1",
        "address": ADDRESS,
        "contact_name": "Mr Contact",
        "contact_phone": PHONE,
        "start": "2026-01-05T10:00",
        "end": "2026-01-05T11:00",
        "tz_offset_min": "-60",  # the browser is an hour ahead of UTC
        "risk_rating": "low",
        "risk_measures": "check in by phone at the end",
        **fields,
    }
    response = client.post("/console/visits", data=data)
    return response.status_code, response.text


@pytest.fixture
def at_jan_5(clock: FakeClock) -> None:
    clock.advance((1_767_600_000_000 - clock.wall_ms()) / 1000)  # to 2026-01-05 08:00 UTC


def test_a_planned_visit_becomes_a_session_due_at_its_end(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    code, text = plan(app_client)
    assert code == 422 and "approved_by" in text and ADDRESS in text  # the form is kept
    assert store.sessions() == []
    code, _ = plan(app_client, approved_by="Lena Manager")
    assert code == 303
    (session,) = store.sessions()
    assert session.kind == SessionKind.VISIT and session.device_id == "d1"
    assert session.expected_end_ms == 1_767_607_200_000  # 11:00 at UTC+1 is 10:00 UTC
    board = app_client.get("/console/board").text
    assert "visit planned" in board and ADDRESS in board  # starts at 09:00 UTC, later than now
    entry = next(e for e in store.audit() if e.action == "session.start")
    assert entry.actor == "user:max" and ADDRESS not in str(entry.detail)


def test_a_viewer_sees_no_addresses_or_phone_numbers_and_cannot_plan(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    log_in(app_client, "ada")
    assert plan(app_client, accompanied="1")[0] == 303
    viewer = TestClient(app_client.app, follow_redirects=False)
    log_in(viewer, "vic")
    for path in ("/console", "/console/visits", "/console/people", "/console/alarms"):
        text = viewer.get(path).text
        assert ADDRESS not in text and PHONE not in text and "+447700900001" not in text, path
    assert ADDRESS in app_client.get("/console/visits").text
    assert "+447700900001" in app_client.get("/console/people").text
    csrf = form_csrf(viewer.get("/console").text)
    assert viewer.post("/console/visits", data={"csrf": csrf}).status_code == 403


def test_the_visit_record_keeps_reason_points_agreements_concerns(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    plan(app_client, accompanied="1")
    (session,) = store.sessions()
    page = app_client.get(f"/console/visits/{session.id}/record")
    url = f"/console/visits/{session.id}/record"
    data = {"csrf": form_csrf(page.text), "reason": " ", "points": "x"}
    assert app_client.post(url, data=data).status_code == 422
    data = {
        "csrf": form_csrf(page.text),
        "reason": "Annual review",
        "points": "Reading plan",
        "agreements": "Weekly calls",
        "concerns": "Dog in the garden",
    }
    assert app_client.post(url, data=data).status_code == 303
    text = app_client.get(url).text
    for value in data.values():
        if value != data["csrf"]:
            assert value in text
    entry = next(e for e in store.audit() if e.action == "visit.record")
    assert entry.actor == "user:max" and "Dog" not in str(entry.detail)


def test_old_visit_details_are_purged_after_the_retention(
    store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    visit = rules.SessionPlan(
        SessionKind.VISIT, "w1", "d1", clock.wall_ms(), 60, 0, clock.wall_ms() + 60_000,
        address=ADDRESS, contact_phone=PHONE, accompanied=True,
    )  # fmt: skip
    session = store.start_session(visit, "test").result()
    now = clock.wall_ms()
    store.change_session(session.id, lambda s: rules.end(s, now, "t"), now, "t", "end").result()
    purge = RetentionPurge(store, clock, days=30)
    clock.advance(29 * 86_400)
    assert asyncio.run(purge.maybe_run()) == 0
    assert store.session(session.id).address == ADDRESS  # type: ignore[union-attr]
    clock.advance(2 * 86_400)
    assert asyncio.run(purge.maybe_run()) == 1
    kept = store.session(session.id)
    assert kept is not None and (kept.address, kept.contact_phone) == (None, None)


def test_a_duress_alarm_is_shown_covert_with_the_code_word_guidance(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    alarm_id = open_alarm(store, clock, EventKind.DURESS)
    log_in(app_client, "ada")
    board = app_client.get("/console/board").text
    assert "Duress (covert)" in board and "code word" in board and "CIC App.1 3.13" in board
    page = app_client.get(f"/console/alarms/{alarm_id}").text
    assert "covert-guidance" in page and "Do not say an alarm was raised" in page
    banner = app_client.get("/console/banner").text
    assert f'data-open-alarms="{alarm_id}"' in banner and "covert" in banner


def test_the_alarm_timeline_has_the_event_and_the_acknowledgement(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    alarm_id = open_alarm(store, clock)
    store.append_audit(
        clock.wall_ms() + 5,
        "hub",
        "notify.attempt",
        f"alarm:{alarm_id}",
        {"ok": False, "channel": "sms", "attempt": 1, "role": "line_manager", "result": "no modem"},
    ).result()
    log_in(app_client, "ada")
    clock.advance(1)
    csrf = form_csrf(app_client.get(f"/console/alarms/{alarm_id}").text)
    app_client.post(f"/console/alarms/{alarm_id}/acknowledge", data={"csrf": csrf})
    page = app_client.get(f"/console/alarms/{alarm_id}").text
    rows = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td><td>([^<]*)</td><td>([^<]*)</td>", page)
    assert [what for _, what in rows] == [
        "event panic",
        "alarm opened",
        "notification failed (sms, attempt 1)",
        "acknowledged",
    ]
    assert "to the line manager: no modem" in page and "taken in charge by ada" in page


def test_the_register_lists_who_is_in_and_prints(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    store.save_worker(Worker("w2", "Off Duty")).result()
    log_in(app_client, "vic")
    assert "Nobody is signed in or out on a visit." in app_client.get("/console/register").text
    admin = TestClient(app_client.app, follow_redirects=False)
    log_in(admin, "ada")
    plan(admin, accompanied="1", start="")
    text = app_client.get("/console/register").text
    assert "Wendy Worker" in text and "Off Duty" not in text and "data-print" in text


def test_the_event_log_searches_and_exports_csv(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    alarm_id = open_alarm(store, clock)
    log_in(app_client, "max")
    csrf = form_csrf(app_client.get("/console").text)
    app_client.post(f"/console/alarms/{alarm_id}/acknowledge", data={"csrf": csrf})
    page = app_client.get("/console/events", params={"q": "acknowledge"}).text
    assert "alarm.acknowledge" in page and "event.panic" not in page
    csv_response = app_client.get("/console/events.csv", params={"q": f"alarm:{alarm_id}"})
    assert csv_response.headers["content-type"].startswith("text/csv")
    lines = csv_response.text.strip().splitlines()
    assert lines[0] == "id,at_utc,actor,action,subject,detail"
    assert any(",user:max,alarm.acknowledge,alarm:" in line for line in lines[1:])


def test_reports_show_weekly_alarms_ack_percentiles_and_late_workers(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    for seconds in (10, 20, 30, 40):
        alarm_id = open_alarm(store, clock)
        at = clock.wall_ms() + seconds * 1000
        store.acknowledge_alarm(alarm_id, "ada", at, "test").result()
    log_in(app_client, "vic")
    page = app_client.get("/console/reports").text
    assert page.count("<svg") == 2  # nobody was late: that chart is left out
    assert "None so far." in page
    assert re.search(r"<td>all</td><td>4</td><td>20 s</td><td>40 s</td><td class=\"\">0</td>", page)
    open_alarm(store, clock)  # nobody takes charge of this one: it is counted, not left out
    page = app_client.get("/console/reports").text
    assert re.search(
        r"<td>all</td><td>4</td><td>20 s</td><td>40 s</td><td class=\"late\">1</td>", page
    )


def test_percentiles_are_nearest_rank() -> None:
    assert reports.percentile([], 50) is None
    assert reports.percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert (reports.percentile(values, 50), reports.percentile(values, 95)) == (50.0, 95.0)


def test_every_script_and_stylesheet_is_served_by_the_hub(
    app_client: TestClient, users: None
) -> None:
    log_in(app_client, "ada")
    html = app_client.get("/console").text + app_client.get("/login").text
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/console/static/") for a in assets), assets
    assert "/console/static/favicon.svg" in assets  # a local icon: no CDN, no external fetch
    for asset in set(assets):
        assert app_client.get(asset).status_code == 200, asset
    app_client.cookies.clear()
    sound = app_client.get("/console/sound/alarm.wav")
    with wave.open(io.BytesIO(sound.content)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(1.0)


def test_the_live_stream_needs_a_login(app_client: TestClient, users: None) -> None:
    assert app_client.get("/console/stream").status_code == 303


def test_user_create_reads_the_password_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "hub.db"
    monkeypatch.delenv("LONEGUARD_CONFIG", raising=False)
    monkeypatch.setenv("LONEGUARD_DB_URL", f"sqlite:///{db_path}")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "create", "--name", "ada", "--role", "manager"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "create", "--name", "ada", "--role", "admin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "create", "--name", "bob", "--role", "admin"]) == 1
    err = capsys.readouterr().err
    assert "exists already" in err and "at least 10 characters" in err
    store = SqliteStore(db_path, now_ms=lambda: 0)
    try:
        user = store.console_user("ada")
        assert user is not None and user.role == Role.MANAGER
        assert verify_password(user.password_hash, "a long enough password")
        assert [e.action for e in store.audit()] == ["user.create"]
    finally:
        store.close()


def test_alarm_states_stay_consistent_for_unknown_alarms(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    log_in(app_client, "ada")
    csrf = form_csrf(app_client.get("/console").text)
    assert app_client.get("/console/alarms/999").status_code == 404
    assert (
        app_client.post("/console/alarms/999/acknowledge", data={"csrf": csrf}).status_code == 404
    )
    assert store.alarms(AlarmState.OPEN) == []


def test_names_are_escaped_on_the_board(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    store.save_worker(Worker("w9", "<img src=x onerror=alert(1)>")).result()
    log_in(app_client, "vic")
    board = app_client.get("/console/board").text
    assert "<img src=x" not in board and "&lt;img src=x onerror=alert(1)&gt;" in board


def test_only_an_admin_adds_workers_and_assigns_devices(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    add_worker(store)
    manager = TestClient(app_client.app, follow_redirects=False)
    log_in(manager, "max")
    csrf = form_csrf(manager.get("/console/people").text)
    refused = manager.post("/console/people", data={"csrf": csrf, "name": "Sneaky"})
    assert refused.status_code == 403 and len(store.workers()) == 1

    log_in(app_client, "ada")
    csrf = form_csrf(app_client.get("/console/people").text)
    bad = {"csrf": csrf, "name": "Lena Manager", "mobile": "call me"}
    assert app_client.post("/console/people", data=bad).status_code == 422
    good = {"csrf": csrf, "name": "Lena Manager", "mobile": "+44 7700 900555"}
    assert app_client.post("/console/people", data=good).status_code == 303
    lena = next(w for w in store.workers() if w.name == "Lena Manager")
    change = {"csrf": csrf, "worker_id": "w1", "name": "Wendy Worker", "line_manager": lena.id}
    assert app_client.post("/console/people", data=change).status_code == 303
    wendy = store.worker("w1")
    assert wendy is not None and wendy.line_manager == lena.id
    assert wendy.mobile == "+447700900001"  # left blank: kept
    assign = app_client.post(
        "/console/devices/d1/assign", data={"csrf": csrf, "worker_id": lena.id}
    )
    assert assign.status_code == 303 and store.device("d1").worker_id == lena.id  # type: ignore[union-attr]
    actions = [(e.actor, e.action) for e in store.audit() if e.actor == "user:ada"]
    assert ("user:ada", "worker.save") in actions and ("user:ada", "device.assign") in actions
    assert "900555" not in str([e.detail for e in store.audit()])


def test_an_alarm_in_a_visit_shows_the_address_to_those_who_may_see_it(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    plan(app_client, accompanied="1", start="")
    alarm_id = open_alarm(store, clock)  # the panic comes from the visit's device
    page = app_client.get(f"/console/alarms/{alarm_id}").text
    assert ADDRESS in page and PHONE in page and "Mr Contact" in page
    viewer = TestClient(app_client.app, follow_redirects=False)
    log_in(viewer, "vic")
    page = viewer.get(f"/console/alarms/{alarm_id}").text
    assert "visit #" in page and ADDRESS not in page and PHONE not in page


def test_an_over_long_contact_name_is_refused_beside_its_field_with_the_form_kept(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock, at_jan_5: None
) -> None:
    add_worker(store)
    log_in(app_client, "max")
    long_name = "Mrs " + "P" * 1996
    code, text = plan(app_client, contact_name=long_name, approved_by="Lena Manager")
    assert code == 422 and store.sessions() == []
    assert text.startswith("<!doctype html>") and '"detail"' not in text
    assert re.search(
        r'name="contact_name" value="Mrs P{1996}" aria-invalid="true"'
        r' aria-describedby="contact_name-error"><span class="field-error" id="contact_name-error"'
        r' role="alert">at most 200 characters, please \(2,000 given\)</span>',
        text,
    )
    assert f'value="{ADDRESS}"' in text and 'value="Lena Manager"' in text  # the rest is kept


def test_a_refused_worker_keeps_its_input_with_the_reason_beside_the_field(
    app_client: TestClient, users: None, store: SqliteStore
) -> None:
    log_in(app_client, "ada")
    csrf = form_csrf(app_client.get("/console/people").text)
    for data, field in (
        ({"name": "N" * 2000, "mobile": "+447700900555"}, "name"),
        ({"name": "Lena Manager", "mobile": "call me"}, "mobile"),
    ):
        response = app_client.post("/console/people", data={"csrf": csrf, **data})
        assert response.status_code == 422 and store.workers() == []
        assert f'<span class="field-error" id="{field}-error"' in response.text
        for value in data.values():
            assert f'value="{value}"' in response.text


def test_the_event_log_pages_and_reads_as_sentences(
    app_client: TestClient, users: None, store: SqliteStore, clock: FakeClock
) -> None:
    alarm_id = open_alarm(store, clock)
    store.acknowledge_alarm(alarm_id, "max", clock.wall_ms(), "user:max").result()
    for n in range(110):
        store.append_audit(clock.wall_ms(), "user:ada", "worker.save", f"worker:w{n}", {}).result()
    log_in(app_client, "vic")
    first = app_client.get("/console/events").text
    assert first.count("<tr data-action=") == 50 and "older →" in first and "newer" not in first
    assert "Ada saved worker w109" in first and "{&#34;" not in first and "&#34;" not in first
    last = app_client.get("/console/events", params={"page_no": 3}).text
    assert "older →" not in last and "← newer" in last
    # 110 saves, the login of vic, the acknowledgement, the alarm, the panic and 3 user.create
    assert last.count("<tr data-action=") == 117 - 100
    assert f"Max took charge of alarm #{alarm_id}" in last
    assert "Device d1 held the panic button" in last
    found = app_client.get("/console/events", params={"q": "took charge"}).text
    assert found.count("<tr data-action=") == 1
