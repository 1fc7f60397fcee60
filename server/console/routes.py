"""The console's pages and form actions, mounted in the hub's FastAPI app.

Every page needs a login (anonymous requests are sent to ``/login``); every form post needs the
login's CSRF token (a hidden field, or the ``X-CSRF-Token`` header htmx sends) and a role that
may do it. Each change is written to the audit log as ``user:<name>``. No
``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from loneguard.protocol.clock import Clock
from loneguard.server.admin.tokens import hash_token
from loneguard.server.api.alarm_changes import changed_alarm
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.bounds import RowId
from loneguard.server.console import views
from loneguard.server.console.alarm_now import alarm_now
from loneguard.server.console.arc_pages import arc_router
from loneguard.server.console.arc_views import arc_banner
from loneguard.server.console.calendar_pages import calendar_router
from loneguard.server.console.call_tasks import call_tasks, call_tasks_router
from loneguard.server.console.event_sentences import sentence
from loneguard.server.console.live import LiveLogins
from loneguard.server.console.passwords import verify_password
from loneguard.server.console.people_pages import people_router
from loneguard.server.console.ratelimit import (
    LoginLimiter,
    failed_login,
    login_keys,
    recent_login_outcomes,
    replay_login_outcomes,
)
from loneguard.server.console.retention import RetentionPurge
from loneguard.server.console.safety_mount import safety_routers
from loneguard.server.console.security import (
    COOKIE,
    CSRF_FIELD,
    PRELOGIN_COOKIE,
    RESPONDERS,
    action_login,
    client_ip,
    login_of,
    new_secret,
    page_login,
    same,
)
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.shift_pages import shift_router
from loneguard.server.console.signal_pages import signal_router
from loneguard.server.console.sound import alarm_wav
from loneguard.server.console.users_pages import users_router
from loneguard.server.console.visit_changes import visit_changes_router
from loneguard.server.console.visits import visits_router
from loneguard.server.escalation.directory import Directory
from loneguard.server.escalation.facts import alarm_facts
from loneguard.server.escalation.notify.messages import fill, without_contacts
from loneguard.server.escalation.policy import Policy, is_shipped
from loneguard.server.loop_timer import sleep_on
from loneguard.server.store import Alarm, ConsoleLogin, Role, Store

HERE = Path(__file__).parent
STATIC = HERE / "static"


def console_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    settings: ConsoleSettings | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> APIRouter:
    """The console's pages; ``policies`` (the escalation ladders) are shown on the people page."""
    settings = settings or ConsoleSettings()
    policies = policies or {}
    templates = Jinja2Templates(directory=HERE / "templates")
    views.install_filters(templates)
    limiter = LoginLimiter(settings.max_login_failures, max_delay_s=settings.max_login_delay_s)
    # Count the window's failures again from the audit log: a restart resets nothing.
    replay_login_outcomes(
        limiter, recent_login_outcomes(store, clock.wall_ms() - limiter.window_ms)
    )
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(page_login(store, clock))]
    Responder = Annotated[ConsoleLogin, Depends(action_login(store, clock, RESPONDERS))]
    AnyUser = Annotated[ConsoleLogin, Depends(action_login(store, clock, frozenset(views.ROLES)))]
    purge = RetentionPurge(store, clock, settings.visit_retention_days)
    if hooks.scheduler is not None:
        purge.schedule(hooks.scheduler)  # at start and then hourly, on the hub's clock
    live = LiveLogins()
    directory = hooks.directory or Directory(store)
    call_phones = hooks.phone_of or directory.phone  # the numbers call tasks show

    def page(
        request: Request, name: str, login: ConsoleLogin | None, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {
                "login": login,
                "now_ms": clock.wall_ms(),
                "csrf_field": CSRF_FIELD,
                "channel_gaps": hooks.channel_gaps() if login is not None else (),
                **_arc_context(hooks, login),
                **ctx,
            },
            status_code=code,
        )

    def cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
        # Secure when asked to, and whenever the request came over HTTPS (directly, or as a
        # proxy named in http.trusted_proxies said).
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=settings.cookie_secure or request.url.scheme == "https",
            path="/",
        )

    # -- logging in and out ---------------------------------------------------------------------
    def login_page(request: Request, error: str | None, code: int, next_url: str) -> HTMLResponse:
        token = new_secret()
        response = page(
            request, "login.html", None, code, error=error, prelogin=token, next_url=next_url
        )
        cookie(request, response, PRELOGIN_COOKIE, token, 3600)
        return response

    @router.get("/login", response_class=HTMLResponse)
    def show_login(request: Request, next: str = "/console") -> Response:
        if login_of(store, clock, request) is not None:
            return RedirectResponse(views.safe_next(next), status.HTTP_303_SEE_OTHER)
        return login_page(request, None, 200, views.safe_next(next))

    @router.post("/login", response_class=HTMLResponse)
    async def do_login(
        request: Request,
        name: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=512)] = "/console",
    ) -> Response:
        if not same(csrf, request.cookies.get(PRELOGIN_COOKIE)):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong"
            )
        ip = client_ip(request)
        keys = login_keys(name, None if ip == "unknown" else ip)
        async with limiter.turn(keys):
            # Failures slow the next tries down; a correct password is always let in.
            delay = limiter.delay_s(keys, clock.wall_ms())
            if delay:
                await sleep_on(clock, delay)
            now = clock.wall_ms()
            user = store.console_user(name.strip())
            ok = await asyncio.to_thread(
                verify_password, user.password_hash if user else None, password
            )
            if user is None or not ok or user.disabled:
                limiter.failed(keys, now)
                await asyncio.wrap_future(failed_login(store, name, now, ip, delay))
                return login_page(
                    request, "Wrong name or password.", status.HTTP_401_UNAUTHORIZED, next
                )
            limiter.succeeded(keys)
        token = new_secret()
        max_age = int(settings.session_hours * 3600)
        await asyncio.wrap_future(
            store.start_console_login(
                hash_token(token), user.name, new_secret(), now, now + max_age * 1000, ip
            )
        )
        response = RedirectResponse(views.safe_next(next), status.HTTP_303_SEE_OTHER)
        cookie(request, response, COOKIE, token, max_age)
        response.delete_cookie(PRELOGIN_COOKIE, path="/")
        return response

    @router.post("/logout")
    async def logout(request: Request, who: AnyUser) -> Response:
        token_hash = hash_token(request.cookies.get(COOKIE, ""))
        await asyncio.wrap_future(
            store.end_console_login(token_hash, who.user.name, clock.wall_ms())
        )
        live.end_login(token_hash)
        response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        response.delete_cookie(COOKIE, path="/")
        return response

    # -- the board ------------------------------------------------------------------------------
    @router.get("/", response_class=HTMLResponse)
    def home() -> Response:
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)

    @router.get("/console", response_class=HTMLResponse)
    async def board_page(request: Request, who: Viewer) -> Response:
        await purge.maybe_run()
        return page(request, "board.html", who, board=views.board(store, clock))

    @router.get("/console/board", response_class=HTMLResponse)
    def board_fragment(request: Request, who: Viewer) -> Response:
        return page(request, "_board.html", who, board=views.board(store, clock))

    @router.get("/console/banner", response_class=HTMLResponse)
    def banner(request: Request, who: Viewer) -> Response:
        return page(request, "_banner.html", who, alarms=views.unresolved_alarms(store))

    # -- alarms ---------------------------------------------------------------------------------
    @router.get("/console/alarms", response_class=HTMLResponse)
    def alarms_page(request: Request, who: Viewer) -> Response:
        return page(
            request, "alarms.html", who, alarms=views.alarm_views(store, store.alarms()[:200])
        )

    def alarm_detail(
        request: Request, who: ConsoleLogin, alarm_id: int, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        alarm = store.alarm(alarm_id)
        if alarm is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
        policy = policies.get(alarm.policy or str(alarm.kind))
        session = store.session(alarm.session_id) if alarm.session_id else None
        event = views.alarm_event(store, alarm)
        now_ms = clock.wall_ms()
        facts = alarm_facts(store, alarm, covert=policy.covert if policy is not None else False)
        if not views.may_see_contacts(who):  # viewers: names, never numbers or places
            facts = without_contacts(facts)
        now = alarm_now(
            alarm,
            policy,
            lambda role: [f.recipient for f in directory.resolve(role, alarm)],
            session,
            event.body if event is not None else None,
            now_ms,
            lambda guidance: fill(guidance, facts, now_ms, hooks.message_style),
            unused_channels(policy, hooks.arc_state().configured),
        )
        return page(
            request,
            "alarm.html",
            who,
            code,
            alarm=views.alarm_views(store, [alarm])[0],
            timeline=views.timeline(store, alarm),
            notifications=store.notifications(alarm_id),
            call_tasks=call_tasks(store, alarm, call_phones),
            outcomes=views.OUTCOMES,
            policy=policy,
            session=session,
            now=now,
            **ctx,
        )

    @router.get("/console/alarms/{alarm_id}", response_class=HTMLResponse)
    def alarm_page(request: Request, alarm_id: RowId, who: Viewer) -> Response:
        return alarm_detail(request, who, alarm_id)

    async def change_alarm(request: Request, alarm_id: int, future: Future[Alarm]) -> Response:
        await changed_alarm(future, alarm_id, hooks)
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Trigger": "lg-refresh"})
        return RedirectResponse(f"/console/alarms/{alarm_id}", status.HTTP_303_SEE_OTHER)

    @router.post("/console/alarms/{alarm_id}/acknowledge")
    async def acknowledge(request: Request, alarm_id: RowId, who: Responder) -> Response:
        name = who.user.name
        future = store.acknowledge_alarm(alarm_id, name, clock.wall_ms(), f"user:{name}")
        return await change_alarm(request, alarm_id, future)

    @router.post("/console/alarms/{alarm_id}/resolve", response_class=HTMLResponse)
    async def resolve(
        request: Request,
        alarm_id: RowId,
        who: Responder,
        outcome: Annotated[str, Form(max_length=64)] = "",
        notes: Annotated[str, Form(max_length=4000)] = "",
    ) -> Response:
        if outcome not in views.OUTCOMES or not notes.strip():
            error = "Choose an outcome and write what happened: both are required."
            return alarm_detail(request, who, alarm_id, 422, error=error)
        name = who.user.name
        future = store.resolve_alarm(
            alarm_id, name, outcome, notes.strip(), clock.wall_ms(), f"user:{name}"
        )
        return await change_alarm(request, alarm_id, future)

    # -- register, event log --------------------------------------------------------------------
    @router.get("/console/register", response_class=HTMLResponse)
    def register(request: Request, who: Viewer) -> Response:
        return page(request, "register.html", who, present=views.register(store, clock))

    @router.get("/console/events", response_class=HTMLResponse)
    def event_log(request: Request, who: Viewer, q: str = "", page_no: int = 1) -> Response:
        page_no = min(max(page_no, 1), views.MAX_EVENT_PAGES)
        entries, more = views.event_page(store, q, page_no, who.user.role)
        return page(
            request,
            "events.html",
            who,
            entries=entries,
            q=q,
            page_no=page_no,
            more=more,
            sentence=sentence,
        )

    @router.get("/console/events.csv")
    def event_csv(who: Viewer, q: str = "", limit: int = 5000) -> Response:
        entries = views.search_audit(store, q, min(max(limit, 1), 50_000), who.user.role)
        return Response(
            views.audit_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="loneguard-events.csv"'},
        )

    # -- live updates, static files -------------------------------------------------------------
    @router.get("/console/stream")
    async def stream(
        request: Request, who: Viewer, last_event_id: Annotated[str | None, Header()] = None
    ) -> Response:
        broadcaster = hooks.broadcaster
        if broadcaster is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no live updates here")
        token_hash = hash_token(request.cookies.get(COOKIE, ""))

        async def still_logged_in() -> bool:
            return (
                await asyncio.to_thread(store.console_login, token_hash, clock.wall_ms())
                is not None
            )

        frames = live.stream(
            token_hash, who.user.name, broadcaster.subscribe(last_event_id), still_logged_in
        )
        return StreamingResponse(
            frames,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/console/sound/alarm.wav")
    def sound() -> Response:
        return Response(
            alarm_wav(), media_type="audio/wav", headers={"Cache-Control": "max-age=3600"}
        )

    router.include_router(
        visits_router(
            store,
            clock,
            hooks,
            page,
            page_login(store, clock),
            action_login(store, clock, RESPONDERS),
        )
    )
    router.include_router(
        call_tasks_router(
            store,
            clock,
            call_phones,
            hooks,
            page,
            page_login(store, clock),
            action_login(store, clock, RESPONDERS),
        )
    )
    router.include_router(
        visit_changes_router(
            store,
            clock,
            hooks,
            page,
            page_login(store, clock, RESPONDERS),
            action_login(store, clock, RESPONDERS),
        )
    )
    router.include_router(
        shift_router(
            store,
            clock,
            hooks,
            page,
            page_login(store, clock),
            action_login(store, clock, RESPONDERS),
        )
    )
    router.include_router(
        signal_router(
            store,
            clock,
            page,
            page_login(store, clock, RESPONDERS),
            action_login(store, clock, RESPONDERS),
        )
    )
    router.include_router(
        calendar_router(
            store,
            clock,
            page,
            page_login(store, clock),
            action_login(store, clock, frozenset(views.ROLES)),
        )
    )
    router.include_router(
        people_router(
            store,
            clock,
            policies,
            page,
            page_login(store, clock),
            action_login(store, clock, frozenset({Role.ADMIN})),
            phone_region=hooks.phone_region,
        )
    )
    safety_routers(router, store, clock, hooks, page)
    router.include_router(
        arc_router(
            store,
            clock,
            hooks,
            page,
            page_login(store, clock),
            action_login(store, clock, frozenset({Role.ADMIN})),
        )
    )
    admins = frozenset({Role.ADMIN})
    router.include_router(
        users_router(
            store,
            clock,
            live,
            page,
            page_login(store, clock, admins),
            action_login(store, clock, admins),
        )
    )
    return router


def unused_channels(policy: Policy | None, arc_configured: bool) -> frozenset[str]:
    """Channels of ``policy`` the hub skips without a word: a shipped policy's ``arc`` on a hub
    with no ARC (``escalation.runtime``); the console leaves them out of the ladder's words."""
    if arc_configured or policy is None or not is_shipped(policy):
        return frozenset()
    return frozenset({"arc"})


def _arc_context(hooks: ApiHooks, login: ConsoleLogin | None) -> dict[str, Any]:
    """Every page's view of the ARC link: its menu entry, and the red banner while it is down."""
    if login is None:
        return {"arc_configured": False, "arc_banner": None}
    state = hooks.arc_state()
    return {"arc_configured": state.configured, "arc_banner": arc_banner(state, hooks.arc_phone)}


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)
