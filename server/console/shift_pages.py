"""Shifts on the console: start one of a shift type (working from home, in a building), record
a contact (the worker rang in, or the line manager rang them: CIC 10.2's "regular contact"),
end it. A missed contact opens the shift type's escalation. No ``from __future__ import
annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.security import LoginDependency
from loneguard.server.sessions import rules
from loneguard.server.store import ConsoleLogin, Session, SessionKind, SessionState, Store
from loneguard.server.store.records import SessionConflict, SessionNotFound

Page = Callable[..., HTMLResponse]
SHIFTS = "/console/shifts"


def shift_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    page: Page,
    viewer: LoginDependency,
    responder: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    def shifts_page(
        request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        shifts = [
            s
            for s in store.sessions()
            if s.kind == SessionKind.SHIFT and s.state != SessionState.ENDED
        ]
        workers = store.workers()
        return page(
            request,
            "shifts.html",
            who,
            code,
            shifts=shifts,
            types={s.id: store.shift_type_of(s.id) for s in shifts},
            shift_types=hooks.shift_types,
            workers=workers,
            names={w.id: w.name for w in workers},
            due={s.id: rules.due_ms(s) for s in shifts},
            **ctx,
        )

    @router.get(SHIFTS, response_class=HTMLResponse)
    def show_shifts(request: Request, who: Viewer) -> Response:
        return shifts_page(request, who)

    @router.post(SHIFTS, response_class=HTMLResponse)
    async def start_shift(
        request: Request,
        who: Responder,
        worker_id: Annotated[str, Form(max_length=64)] = "",
        shift_type: Annotated[str, Form(max_length=64)] = "",
        interval_min: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        worker = store.worker(worker_id)
        kind = hooks.shift_types.get(shift_type)
        if worker is None or kind is None:
            return shifts_page(request, who, 422, error="choose a worker and a shift type")
        interval_s = kind.checkin_interval_s
        if interval_min.strip():
            if not interval_min.isdigit() or not 1 <= int(interval_min) <= 24 * 60:
                error = "interval: minutes from 1 to 1440, or empty for the type's"
                return shifts_page(request, who, 422, error=error)
            interval_s = int(interval_min) * 60
        now = clock.wall_ms()
        device = next((d.id for d in store.devices() if d.worker_id == worker.id), None)
        plan = rules.SessionPlan(
            kind=SessionKind.SHIFT,
            worker_id=worker.id,
            device_id=device,
            started_ms=now,
            grace_s=hooks.grace_s,
            prealert_s=hooks.prealert_s,
            checkin_interval_s=interval_s,
        )
        actor = f"user:{who.user.name}"
        session = await asyncio.wrap_future(store.start_session(plan, actor))
        await asyncio.wrap_future(store.set_shift_type(session.id, kind.name))
        hooks.session_changed(session)
        return RedirectResponse(SHIFTS, status.HTTP_303_SEE_OTHER)

    async def change(session_id: int, who: ConsoleLogin, rule: str) -> Response:
        actor = f"user:{who.user.name}"
        now = clock.wall_ms()

        def apply(s: Session) -> Session:
            if s.kind != SessionKind.SHIFT:
                raise SessionConflict(f"session {s.id} is not a shift")
            return rules.checkin(s, now) if rule == "contact" else rules.end(s, now, actor)

        action = "shift.contact" if rule == "contact" else "session.end"
        try:
            session = await asyncio.wrap_future(
                store.change_session(session_id, apply, now, actor, action)
            )
        except SessionNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no shift {session_id}") from None
        except SessionConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        hooks.session_changed(session)
        return RedirectResponse(SHIFTS, status.HTTP_303_SEE_OTHER)

    @router.post(SHIFTS + "/{session_id}/contact")
    async def record_contact(session_id: int, who: Responder) -> Response:
        """The worker and the line manager spoke: the interval starts again."""
        return await change(session_id, who, "contact")

    @router.post(SHIFTS + "/{session_id}/end")
    async def end_shift(session_id: int, who: Responder) -> Response:
        return await change(session_id, who, "end")

    return router
