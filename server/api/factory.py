"""The JSON API as an app factory: everything it needs is handed in.

No ``from __future__ import annotations`` here: FastAPI must see the route annotations, which
refer to dependencies built inside ``create_app``, as real objects.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Literal

from fastapi import Body, Depends, FastAPI, Header, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, StreamingResponse

from loneguard.protocol.clock import Clock, SystemClock
from loneguard.protocol.messages import EventKind
from loneguard.server.api.alarm_changes import changed_alarm
from loneguard.server.api.auth import (
    Principal,
    admin,
    authenticator,
    optional_authenticator,
    responder,
)
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.api.models import (
    AcknowledgeIn,
    AlarmOut,
    DeviceOut,
    EventOut,
    Health,
    Problem,
    ResolveIn,
    RowId,
    WorkerOut,
)
from loneguard.server.api.safety_routes import safety_router
from loneguard.server.api.session_routes import sessions_router
from loneguard.server.api.visit_routes import visits_router
from loneguard.server.bounds import DeviceId
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.policy import Policy
from loneguard.server.http_guard import DEFAULT_MAX_BODY_BYTES, HttpGuard, Network
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.outreach.calendar_routes import calendars_api, feed_router
from loneguard.server.outreach.signal_routes import signal_api
from loneguard.server.privacy import Category, may_see, visible
from loneguard.server.store import AlarmState, Store

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_app(
    store: Store,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    mqtt_connected: Callable[[], bool] = lambda: False,
    hooks: ApiHooks | None = None,
    console: ConsoleSettings | None = None,
    policies: Mapping[str, Policy] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    trusted_proxies: Sequence[Network] = (),
) -> FastAPI:
    """The hub's HTTP app. ``max_body_bytes`` and ``trusted_proxies``: ``[http]`` settings,
    applied by ``HttpGuard`` to every request before any route sees it."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    hooks = hooks or ApiHooks()
    # No /docs or /redoc: they load Swagger's scripts from a CDN into the hub's origin. The
    # schema itself stays at /openapi.json for tools.
    app = FastAPI(title="loneguard hub", version="0.1.0", docs_url=None, redoc_url=None)
    app.add_middleware(
        HttpGuard, max_body_bytes=max_body_bytes, trusted_proxies=tuple(trusted_proxies)
    )
    principal = authenticator(store)
    optional = optional_authenticator(store)
    Reader = Annotated[Principal, Depends(principal)]
    Responder = Annotated[Principal, Depends(responder(principal))]
    app.include_router(
        sessions_router(store, clock, hooks, principal, responder(principal), admin(principal))
    )
    app.include_router(visits_router(store, principal))
    app.include_router(safety_router(store, clock, hooks, principal, responder(principal)))
    app.include_router(calendars_api(store, clock, principal, responder(principal)))
    app.include_router(feed_router(store, clock, lambda: hooks.calendar_reminder_min))
    app.include_router(signal_api(store, responder(principal)))

    @app.get("/api/health", response_model=Health, responses={503: {"model": Health}})
    async def health(response: Response) -> Health:
        mqtt: Literal["connected", "disconnected"] = (
            "connected" if mqtt_connected() else "disconnected"
        )
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return Health(status="error", mqtt=mqtt, db="error", rejected=metrics.rejected_total)
        return Health(status="ok", mqtt=mqtt, db="ok", rejected=metrics.rejected_total)

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus(who: Annotated[Principal | None, Depends(optional)]) -> PlainTextResponse:
        """Without a token, what the privacy policy lets the public see (no covert alarms)."""
        text = metrics.render(public=who is None or not may_see(who.role, Category.COVERT))
        return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)

    @app.get("/api/devices")
    def devices(_who: Reader) -> list[DeviceOut]:
        return [DeviceOut.of(d) for d in store.devices()]

    @app.get("/api/workers")
    def workers(who: Reader) -> list[WorkerOut]:
        return [WorkerOut.of(visible(w, who.role)) for w in store.workers()]

    @app.get("/api/alarms")
    def alarms(_who: Reader, state: AlarmState | None = None) -> list[AlarmOut]:
        return [AlarmOut.of(a) for a in store.alarms(state)]

    @app.get("/api/events")
    def events(
        who: Reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        device_id: DeviceId | None = None,
        kind: EventKind | None = None,
    ) -> list[EventOut]:
        return [EventOut.of(visible(e, who.role)) for e in store.events(limit, device_id, kind)]

    @app.post(
        "/api/alarms/{alarm_id}/acknowledge",
        responses={404: {"model": Problem}, 409: {"model": Problem}},
    )
    async def acknowledge(
        alarm_id: RowId, who: Responder, body: Annotated[AcknowledgeIn | None, Body()] = None
    ) -> AlarmOut:
        by = (body.by if body is not None else None) or who.name
        future = store.acknowledge_alarm(alarm_id, by, clock.wall_ms(), f"token:{who.name}")
        return AlarmOut.of(await changed_alarm(future, alarm_id, hooks))

    @app.post(
        "/api/alarms/{alarm_id}/resolve",
        responses={404: {"model": Problem}, 409: {"model": Problem}},
    )
    async def resolve(alarm_id: RowId, who: Responder, body: ResolveIn) -> AlarmOut:
        """Close an alarm with its outcome and notes (both required); acknowledges it if open."""
        future = store.resolve_alarm(
            alarm_id, who.name, body.outcome, body.notes, clock.wall_ms(), f"token:{who.name}"
        )
        return AlarmOut.of(await changed_alarm(future, alarm_id, hooks))

    broadcaster = hooks.broadcaster
    if broadcaster is not None:

        @app.get("/api/stream", response_class=StreamingResponse)
        async def stream(
            _who: Reader, last_event_id: Annotated[str | None, Header()] = None
        ) -> StreamingResponse:
            """Server-sent events: alarm, session and notification changes as they happen."""
            return StreamingResponse(
                broadcaster.subscribe(last_event_id),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
            )

    from loneguard.server.console.mount import (
        mount_console,  # the console's pages use the API's hooks
    )

    mount_console(app, store, clock, hooks, console, policies)
    return app
