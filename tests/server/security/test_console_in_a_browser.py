"""The console in a real Chromium (Debian's, driven by Playwright), served as the hub serves it.

- Finding 5: the console refuses to render inside a frame, whoever frames it.
- What held up stays held: payloads in every field a user or a device can set run no script on
  any page, for an admin or a viewer; a viewer's pages show no phone number or address.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import DeviceState, Event, EventKind, Location, Status
from loneguard.server.ingest.pipeline import effects_of
from loneguard.server.sessions.rules import SessionPlan
from loneguard.server.store import SessionKind, VisitRecord, Worker
from loneguard.server.store.sqlite import SqliteStore
from tests.e2e.chromium import CHROMIUM
from tests.server.console.conftest import PASSWORD

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (scripts/setup installs it)",
)

# Each one sets window.__xss (or opens a dialog) if it ever runs.
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    '"><script>window.__xss=1</script>',
    "'><svg onload=window.__xss=1>",
    "javascript:window.__xss=1",
    "{{7*7}}<b onmouseover=window.__xss=1>x</b>",
]
MOBILE, HOME, CONTACT_PHONE, ADDRESS = "+447700900123", "+441632960456", "+441632960789", "14 Ln"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console")


@pytest.mark.usefixtures("users")
def test_the_console_refuses_to_render_inside_a_frame(
    page: Page, live_console: httpx.Client
) -> None:
    base = str(live_console.base_url).rstrip("/")
    log_in(page, base, "max")  # a logged-in manager: what a framing page would want
    # A page of another origin (as a same-site page on another port would be) frames it.
    page.set_content(f'<iframe id="f" src="{base}/console" width="800" height="600"></iframe>')
    frame = page.frame_locator("#f")
    page.wait_for_timeout(500)  # Chromium's refusal has no event of its own
    assert frame.locator("form, main, nav, #board").count() == 0
    inner = next(f for f in page.frames if f != page.main_frame)
    assert not inner.url.startswith(base), inner.url  # Chromium's error page, not the console
    # and the same page, not framed, renders
    page.goto(f"{base}/console")
    assert page.locator("nav").count() > 0


def seed_payloads(store: SqliteStore, clock: FakeClock) -> tuple[int, int]:
    """Every field a user or a device can set, each holding a payload."""
    now = clock.wall_ms()
    for i, payload in enumerate(PAYLOADS):
        store.save_worker(
            Worker(
                f"w{i}",
                payload,
                mobile=MOBILE,
                home_phone=HOME,
                line_manager=payload[:60],
                policy=payload[:60],
            )
        ).result()
    store.assign_device("d0", "w0").result()
    status = Status(DeviceState.ONLINE, boot=1, fw=PAYLOADS[0][:32], ts=now, reason=PAYLOADS[1])
    store.record_status("d0", status, now).result()
    plan = SessionPlan(
        kind=SessionKind.VISIT,
        worker_id="w0",
        device_id="d0",
        started_ms=now,
        grace_s=60,
        prealert_s=60,
        expected_end_ms=now + 3_600_000,
        address=f"{ADDRESS} {PAYLOADS[2]}",
        contact_name=PAYLOADS[3],
        contact_phone=CONTACT_PHONE,
        approved_by=PAYLOADS[4],
    )
    session = store.start_session(plan, "test").result()
    store.plan_visit(session.id, now, f"user:{PAYLOADS[0]}").result()
    record = VisitRecord(session.id, *PAYLOADS[1:5], PAYLOADS[0], now)
    store.save_visit_record(record, "user:max").result()
    panic = Event(str(uuid.uuid4()), EventKind.PANIC, now, seq=1, location=Location(51.5, -0.1))
    alarm = store.record_event("d0", panic, now, effects_of(panic.kind)).result().alarms[0]
    store.acknowledge_alarm(alarm.id, PAYLOADS[1], now, f"token:{PAYLOADS[2]}").result()
    store.resolve_alarm(alarm.id, PAYLOADS[3], "other", PAYLOADS[4], now, "user:max").result()
    return alarm.id, session.id


PAGES = [
    "/console",
    "/console/alarms",
    "/console/alarms/{alarm}",
    "/console/visits",
    "/console/visits/{session}/record",
    "/console/people",
    "/console/register",
    "/console/reports",
    "/console/users",
    "/console/events?q=" + PAYLOADS[0],
]


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("who", ["ada", "vic"])
def test_payloads_in_every_field_run_nowhere_and_viewers_see_no_contacts(
    page: Page, live_console: httpx.Client, store: SqliteStore, clock: FakeClock, who: str
) -> None:
    alarm_id, session_id = seed_payloads(store, clock)
    base = str(live_console.base_url).rstrip("/")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, base, who)
    for path in PAGES:
        page.goto(base + path.format(alarm=alarm_id, session=session_id))
        page.mouse.move(10, 10)
        page.hover("body")
        assert page.evaluate("window.__xss") is None, path
        if who == "vic":
            text = page.content()
            for secret in (MOBILE, HOME, CONTACT_PHONE, ADDRESS):
                assert secret not in text, f"{path} shows {secret} to a viewer"
    assert dialogs == []
