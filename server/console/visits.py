"""The visit planner and visit records (CIC App.1): a planned visit becomes a live session.

A visit starts its safety timer as soon as it is planned: it falls due at its expected end.
Until its expected start the board shows it as planned. An unaccompanied visit needs the line
manager's approval in advance (App.1 5.1.1); afterwards the visit is written up with its reason,
points discussed, agreements and concerns (App.1 1.4). No ``from __future__ import
annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.bounds import RowId, in_time_range
from loneguard.server.console import risk_form, visit_csv
from loneguard.server.console.security import LoginDependency
from loneguard.server.console.views import may_see_contacts
from loneguard.server.phone import PhoneNumber, PhoneNumberError
from loneguard.server.risk import assessment as risk
from loneguard.server.risk.assessment import FACTORS
from loneguard.server.sessions import rules
from loneguard.server.store import ConsoleLogin, SessionKind, Store, VisitRecord
from loneguard.server.store.outreach_records import ArrangementChange
from loneguard.server.store.records import Session, SessionConflict, SessionNotFound

Page = Callable[..., HTMLResponse]
TEXT = 2000
# What FastAPI itself refuses (as a page, the input lost): far past anything a person types.
FIELD_CAP = 20_000
# Each planner field's longest value, checked with the form kept.
FIELD_LIMITS = {
    "worker_id": 64,
    "address": rules.MAX_TEXT,
    "contact_name": rules.MAX_TEXT,
    "contact_phone": 40,
    "start": 40,
    "end": 40,
    "accompanied": 8,
    "approved_by": rules.MAX_TEXT,
}
# The plan's names for the form's fields.
FORM_FIELD = {"expected_end_ms": "end"}


def check_lengths(form: dict[str, str], limits: dict[str, int]) -> None:
    """Refuse the first field longer than its limit, naming it and both lengths."""
    for field, limit in limits.items():
        given = len(form.get(field, ""))
        if given > limit:
            raise rules.SessionRefused(
                field, f"at most {limit} characters, please ({given:,} given)"
            )


def parse_local(text: str, tz_offset_min: int, field: str) -> int:
    """A ``datetime-local`` value and the browser's ``getTimezoneOffset()`` as epoch ms."""
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise rules.SessionRefused(field, "must be a date and time") from None
    if local.tzinfo is not None:
        raise rules.SessionRefused(field, "must be a local date and time")
    try:
        utc = local + timedelta(minutes=tz_offset_min)
    except OverflowError:
        raise rules.SessionRefused(field, "is out of range") from None
    ms = int((utc - datetime(1970, 1, 1)).total_seconds() * 1000)
    if not in_time_range(ms):
        raise rules.SessionRefused(field, "is out of range")
    return ms


def visits_router(
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

    def planner(request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any) -> HTMLResponse:
        visits = [s for s in store.sessions() if s.kind == SessionKind.VISIT][:100]
        workers = store.workers()
        form = ctx.pop("form", {})
        return page(
            request,
            "visits.html",
            who,
            code,
            workers=workers,
            names={w.id: w.name for w in workers},
            visits=visits,
            records={s.id for s in visits if store.visit_record(s.id) is not None},
            form=form,
            errors=ctx.pop("errors", {}),
            **risk_form.form_context(store, form) if may_see_contacts(who) else {},
            **ctx,
        )

    @router.get("/console/visits", response_class=HTMLResponse)
    def visits_page(request: Request, who: Viewer) -> Response:
        return planner(request, who)

    @router.post("/console/visits", response_class=HTMLResponse)
    async def plan_visit(
        request: Request,
        who: Responder,
        worker_id: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        address: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        contact_name: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        contact_phone: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        start: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        end: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        tz_offset_min: Annotated[int, Form(ge=-1440, le=1440)] = 0,
        accompanied: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        approved_by: Annotated[str, Form(max_length=FIELD_CAP)] = "",
    ) -> Response:
        # Lengths are checked here, not by FastAPI: the form comes back with its input and the
        # reason beside the field, instead of a JSON error that loses what was typed.
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        now = clock.wall_ms()
        worker = store.worker(worker_id) if len(worker_id) <= 64 else None
        try:
            check_lengths(form, FIELD_LIMITS)
            if worker is None:
                raise rules.SessionRefused("worker_id", "choose a worker")
            if not address.strip():
                raise rules.SessionRefused("address", "say where the visit is")
            start_ms = parse_local(start, tz_offset_min, "start") if start else now
            end_ms = parse_local(end, tz_offset_min, "end")
            if end_ms <= start_ms:
                raise rules.SessionRefused("end", "must be after the start")
            device = next((d.id for d in store.devices() if d.worker_id == worker.id), None)
            plan = rules.SessionPlan(
                kind=SessionKind.VISIT,
                worker_id=worker.id,
                device_id=device,
                started_ms=now,
                grace_s=hooks.grace_s,
                prealert_s=hooks.prealert_s,
                expected_end_ms=end_ms,
                address=address.strip(),
                contact_name=contact_name.strip() or None,
                contact_phone=_contact_phone(contact_phone, hooks.phone_region),
                accompanied=bool(accompanied),
                approved_by=approved_by.strip() or None,
            )
            plan.check()
            draft = risk_form.read_assessment(
                form, worker_id=worker.id, assessed_by=who.user.name, at_ms=now
            )
            assessment = risk.check(draft, risk.Arrangement(plan.accompanied, plan.approved_by))
        except rules.SessionRefused as exc:
            field = FORM_FIELD.get(exc.field, exc.field)
            errors = {field: exc.problem}
            return planner(request, who, 422, error=str(exc), errors=errors, form=form)
        except risk.RiskRefused as exc:
            errors = {exc.field: str(exc).split(": ", 1)[-1]}
            return planner(request, who, 422, error=str(exc), errors=errors, form=form)
        actor = f"user:{who.user.name}"
        session: Session = await asyncio.wrap_future(store.start_session(plan, actor))
        await asyncio.wrap_future(store.plan_visit(session.id, start_ms, actor))
        assessed = replace(assessment, session_id=session.id)
        await asyncio.wrap_future(store.save_risk_assessment(assessed, actor))
        hooks.session_changed(session)  # re-arms its deadline and tells open consoles
        hooks.visit_arranged(ArrangementChange.PLAN, session, actor)  # the manager's copy
        return RedirectResponse("/console", status.HTTP_303_SEE_OTHER)

    @router.post("/console/visits/history", response_class=HTMLResponse)
    async def place_history(request: Request, who: Responder) -> Response:
        """Earlier incidents and alarms at the address or with the contact being typed."""
        form = dict(await request.form())
        return page(request, "_place_history.html", who, history=risk_form.history_for(store, form))

    @router.get("/console/visits.csv")
    def visits_csv(who: Viewer) -> Response:
        """Every visit with its risk assessment; addresses and contacts for admins and managers."""
        visits = [s for s in store.sessions() if s.kind == SessionKind.VISIT]
        names = {w.id: w.name for w in store.workers()}
        text = visit_csv.visits_csv(
            visits, names, store.risk_assessment, personal=may_see_contacts(who)
        )
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="loneguard-visits.csv"'},
        )

    @router.post("/console/visits/{session_id}/end")
    async def end_visit(session_id: RowId, who: Responder) -> Response:
        actor = f"user:{who.user.name}"
        now = clock.wall_ms()
        try:
            session = await asyncio.wrap_future(
                store.change_session(
                    session_id, lambda s: rules.end(s, now, actor), now, actor, "session.end"
                )
            )
        except SessionNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id}") from None
        except SessionConflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        hooks.session_changed(session)  # re-arms its deadline and tells open consoles
        return RedirectResponse("/console/visits", status.HTTP_303_SEE_OTHER)

    def record_page(
        request: Request, who: ConsoleLogin, session_id: int, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        session = store.session(session_id)
        if session is None or session.kind != SessionKind.VISIT:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no visit {session_id}")
        worker = store.worker(session.worker_id) if session.worker_id else None
        return page(
            request,
            "visit_record.html",
            who,
            code,
            visit=session,
            worker=worker,
            record=store.visit_record(session_id),
            assessment=store.risk_assessment(session_id),
            risk_factors=FACTORS,
            **ctx,
        )

    @router.get("/console/visits/{session_id}/record", response_class=HTMLResponse)
    def show_record(request: Request, session_id: RowId, who: Viewer) -> Response:
        return record_page(request, who, session_id)

    @router.post("/console/visits/{session_id}/record", response_class=HTMLResponse)
    async def write_record(
        request: Request,
        session_id: RowId,
        who: Responder,
        reason: Annotated[str, Form(max_length=TEXT)] = "",
        points: Annotated[str, Form(max_length=TEXT)] = "",
        agreements: Annotated[str, Form(max_length=TEXT)] = "",
        concerns: Annotated[str, Form(max_length=TEXT)] = "",
    ) -> Response:
        if not reason.strip():
            return record_page(
                request, who, session_id, 422, error="reason: say why the visit was made"
            )
        if store.session(session_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no visit {session_id}")
        record = VisitRecord(
            session_id,
            reason.strip(),
            points.strip(),
            agreements.strip(),
            concerns.strip(),
            who.user.name,
            clock.wall_ms(),
        )
        await asyncio.wrap_future(store.save_visit_record(record, f"user:{who.user.name}"))
        return RedirectResponse(f"/console/visits/{session_id}/record", status.HTTP_303_SEE_OTHER)

    return router


def _contact_phone(text: str, region: str) -> PhoneNumber | None:
    try:
        return PhoneNumber.optional(text, region, field="contact_phone")
    except PhoneNumberError as exc:
        raise rules.SessionRefused(exc.field, exc.problem) from None
