"""Changing or cancelling a planned visit on the console; each sends the delivery manager's copy.

A change keeps the visit's id (and so its calendar entry) and starts its safety timer again at
the new expected end; the same rules as planning apply (an unaccompanied visit needs the line
manager's approval, CIC App.1 5.1.1). A cancel ends the visit and says so. A visit whose alarm is
open cannot be changed or cancelled here: the alarm is handled first. No ``from __future__
import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.security import LoginDependency
from loneguard.server.console.visits import parse_local
from loneguard.server.sessions import rules
from loneguard.server.store import ConsoleLogin, Session, SessionKind, Store
from loneguard.server.store.outreach_records import ArrangementChange, VisitChange
from loneguard.server.store.records import SessionConflict, SessionNotFound

Page = Callable[..., HTMLResponse]
CANCELLED_BY = "cancelled by "  # how a cancelled visit's ``ended_by`` starts


async def _changed(future: "Future[Session]") -> Session:
    try:
        return await asyncio.wrap_future(future)
    except SessionNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except SessionConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def visit_changes_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    page: Page,
    responder_page: LoginDependency,
    responder: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    ResponderPage = Annotated[ConsoleLogin, Depends(responder_page)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    def visit_of(session_id: int) -> Session:
        visit = store.session(session_id)
        if visit is None or visit.kind != SessionKind.VISIT:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no visit {session_id}")
        return visit

    def change_page(
        request: Request, who: ConsoleLogin, visit: Session, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        plan = store.visit_plans().get(visit.id)
        start_ms = plan.planned_start_ms if plan is not None else visit.started_ms
        return page(
            request,
            "visit_change.html",
            who,
            code,
            visit=visit,
            start_ms=start_ms,
            copies=store.arrangement_copies(visit.id),
            **ctx,
        )

    @router.get("/console/visits/{session_id}/change", response_class=HTMLResponse)
    def show_change(request: Request, session_id: int, who: ResponderPage) -> Response:
        return change_page(request, who, visit_of(session_id))

    @router.post("/console/visits/{session_id}/change", response_class=HTMLResponse)
    async def change_visit(
        request: Request,
        session_id: int,
        who: Responder,
        address: Annotated[str, Form(max_length=rules.MAX_TEXT)] = "",
        contact_name: Annotated[str, Form(max_length=rules.MAX_TEXT)] = "",
        contact_phone: Annotated[str, Form(max_length=40)] = "",
        start: Annotated[str, Form(max_length=40)] = "",
        end: Annotated[str, Form(max_length=40)] = "",
        tz_offset_min: Annotated[int, Form(ge=-1440, le=1440)] = 0,
        accompanied: Annotated[str, Form(max_length=8)] = "",
        approved_by: Annotated[str, Form(max_length=rules.MAX_TEXT)] = "",
    ) -> Response:
        visit = visit_of(session_id)
        now = clock.wall_ms()
        try:
            if not address.strip():
                raise rules.SessionRefused("address", "say where the visit is")
            start_ms = parse_local(start, tz_offset_min, "start") if start else now
            end_ms = parse_local(end, tz_offset_min, "end")
            if end_ms <= start_ms:
                raise rules.SessionRefused("end", "must be after the start")
            change = VisitChange(
                address.strip(),
                contact_name.strip() or None,
                contact_phone.strip() or None,
                bool(accompanied),
                approved_by.strip() or None,
                start_ms,
                end_ms,
            )
            rules.SessionPlan(
                kind=SessionKind.VISIT,
                worker_id=visit.worker_id,
                device_id=visit.device_id,
                started_ms=now,
                grace_s=visit.grace_s,
                prealert_s=visit.prealert_s,
                expected_end_ms=end_ms,
                accompanied=change.accompanied,
                approved_by=change.approved_by,
            ).check()
        except rules.SessionRefused as exc:
            return change_page(request, who, visit, 422, error=str(exc))
        actor = f"user:{who.user.name}"
        changed = await _changed(store.change_visit(session_id, change, now, actor))
        hooks.session_changed(changed)  # re-arms its deadline and tells open consoles
        hooks.visit_arranged(ArrangementChange.CHANGE, changed, actor)
        return RedirectResponse("/console/visits", status.HTTP_303_SEE_OTHER)

    @router.post("/console/visits/{session_id}/cancel")
    async def cancel_visit(session_id: int, who: Responder) -> Response:
        visit_of(session_id)
        actor = f"user:{who.user.name}"
        now = clock.wall_ms()
        cancelled = await _changed(
            store.change_session(
                session_id,
                lambda s: _cancel(s, now, actor),
                now,
                actor,
                "visit.cancel",
            )
        )
        hooks.session_changed(cancelled)
        hooks.visit_arranged(ArrangementChange.CANCEL, cancelled, actor)
        return RedirectResponse("/console/visits", status.HTTP_303_SEE_OTHER)

    return router


def _cancel(visit: Session, now_ms: int, actor: str) -> Session:
    """Only a visit without an open alarm is cancelled: an overdue one is an alarm to handle."""
    if visit.kind != SessionKind.VISIT or str(visit.state) not in ("active", "due"):
        raise SessionConflict(f"visit {visit.id} is {visit.state}: it cannot be cancelled")
    return rules.end(visit, now_ms, CANCELLED_BY + actor)
