"""Incidents on the console: reported by anyone logged in (a worker's simple form, or from an
alarm's resolution, prefilled), investigated and closed by admins and managers, with actions
that have owners and due dates. The line manager is told as soon as one is reported.

Viewers see no addresses or contact details, not even of incidents they reported. No
``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.security import LoginDependency
from loneguard.server.console.views import alarm_title
from loneguard.server.console.visits import parse_local
from loneguard.server.incidents import lifecycle
from loneguard.server.incidents.lifecycle import IncidentRefused
from loneguard.server.incidents.reporting import Report, incident_of
from loneguard.server.sessions.rules import SessionRefused
from loneguard.server.store import Alarm, ConsoleLogin, Store
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentConflict,
    IncidentKind,
    IncidentNotFound,
    IncidentSeverity,
)

Page = Callable[..., HTMLResponse]
TEXT = 4000
SHORT = 200
KINDS = tuple(IncidentKind)
SEVERITIES = tuple(IncidentSeverity)


def prefill_from(alarm: Alarm, store: Store) -> dict[str, Any]:
    """An incident form filled in from an alarm and its resolution."""
    notes = f"{alarm_title(alarm.kind)} alarm #{alarm.id}"
    if alarm.outcome:
        notes += f", resolved as {alarm.outcome}: {alarm.notes or ''}"
    taken = f"taken in charge by {alarm.acknowledged_by}" if alarm.acknowledged_by else ""
    return {
        "alarm_id": str(alarm.id),
        "kind": str(IncidentKind.ALARM),
        "worker_id": alarm.worker_id or "",
        "occurred_ms": alarm.opened_ms,
        "what": notes,
        "immediate_actions": taken,
        "severity": "high" if alarm.kind in ("panic", "duress") else "medium",
    }


def incidents_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    page: Page,
    viewer: LoginDependency,
    reporter: LoginDependency,
    responder: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Reporter = Annotated[ConsoleLogin, Depends(reporter)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    def names() -> dict[str, str]:
        return {w.id: w.name for w in store.workers()}

    @router.get("/console/incidents", response_class=HTMLResponse)
    def list_incidents(request: Request, who: Viewer) -> Response:
        return page(request, "incidents.html", who, incidents=store.incidents(), names=names())

    def report_form(
        request: Request, who: ConsoleLogin, form: dict[str, Any], code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        return page(
            request,
            "incident_new.html",
            who,
            code,
            form=form,
            workers=store.workers(),
            kinds=KINDS,
            severities=SEVERITIES,
            **ctx,
        )

    @router.get("/console/incidents/new", response_class=HTMLResponse)
    def new_incident(request: Request, who: Viewer, alarm_id: int | None = None) -> Response:
        form: dict[str, Any] = {}
        if alarm_id is not None:
            alarm = store.alarm(alarm_id)
            if alarm is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
            form = prefill_from(alarm, store)
        return report_form(request, who, form)

    @router.post("/console/incidents", response_class=HTMLResponse)
    async def report(
        request: Request,
        who: Reporter,
        kind: Annotated[str, Form(max_length=32)] = "",
        severity: Annotated[str, Form(max_length=32)] = "",
        when: Annotated[str, Form(max_length=40)] = "",
        occurred_ms: Annotated[int | None, Form(ge=0, le=2**62)] = None,
        tz_offset_min: Annotated[int, Form(ge=-1440, le=1440)] = 0,
        what: Annotated[str, Form(max_length=TEXT)] = "",
        address: Annotated[str, Form(max_length=SHORT)] = "",
        people: Annotated[str, Form(max_length=TEXT)] = "",
        worker_id: Annotated[str, Form(max_length=64)] = "",
        contact_name: Annotated[str, Form(max_length=SHORT)] = "",
        contact_phone: Annotated[str, Form(max_length=40)] = "",
        immediate_actions: Annotated[str, Form(max_length=TEXT)] = "",
        alarm_id: Annotated[int | None, Form(ge=1, le=2**62)] = None,
    ) -> Response:
        form = dict(await request.form())
        now = clock.wall_ms()
        try:
            if kind not in KINDS:
                raise IncidentRefused("kind", "choose what kind of incident")
            if severity not in SEVERITIES:
                raise IncidentRefused("severity", "choose low, medium or high")
            if not what.strip():
                raise IncidentRefused("what", "say what happened")
            if worker_id and store.worker(worker_id) is None:
                raise IncidentRefused("worker_id", f"no worker {worker_id}")
            at = parse_local(when, tz_offset_min, "when") if when else (occurred_ms or now)
            if at > now:
                raise IncidentRefused("when", "an incident has happened already")
        except (IncidentRefused, SessionRefused) as exc:
            return report_form(request, who, form, 422, error=str(exc))
        report = Report(
            kind=IncidentKind(kind),
            severity=IncidentSeverity(severity),
            occurred_ms=at,
            what=what,
            address=address,
            people=people,
            worker_id=worker_id or None,
            alarm_id=alarm_id,
            contact_name=contact_name,
            contact_phone=contact_phone,
            immediate_actions=immediate_actions,
        )
        incident = incident_of(store, report, who.user.name, now)
        made = await asyncio.wrap_future(store.report_incident(incident, f"user:{who.user.name}"))
        if hooks.incident_reported is not None:
            await hooks.incident_reported(made)
        return RedirectResponse(f"/console/incidents/{made.id}", status.HTTP_303_SEE_OTHER)

    def detail(
        request: Request, who: ConsoleLogin, incident_id: int, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        incident = store.incident(incident_id)
        if incident is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
        return page(
            request,
            "incident.html",
            who,
            code,
            incident=incident,
            actions=store.incident_actions(incident_id),
            names=names(),
            timeline=store.audit(200, subject=f"incident:{incident_id}"),
            **ctx,
        )

    @router.get("/console/incidents/{incident_id}", response_class=HTMLResponse)
    def show(request: Request, incident_id: int, who: Viewer) -> Response:
        return detail(request, who, incident_id)

    async def change(
        request: Request,
        who: ConsoleLogin,
        incident_id: int,
        rule: Callable[[Incident], Incident],
        action: str,
    ) -> Response:
        actor = f"user:{who.user.name}"
        future = store.change_incident(incident_id, rule, clock.wall_ms(), actor, action)
        try:
            await asyncio.wrap_future(future)
        except IncidentNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}") from None
        except (IncidentConflict, IncidentRefused) as exc:
            code = 409 if isinstance(exc, IncidentConflict) else 422
            return detail(request, who, incident_id, code, error=str(exc))
        return RedirectResponse(f"/console/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)

    @router.post("/console/incidents/{incident_id}/investigate", response_class=HTMLResponse)
    async def investigate(
        request: Request,
        incident_id: int,
        who: Responder,
        investigator: Annotated[str, Form(max_length=SHORT)] = "",
    ) -> Response:
        rule = lambda i: lifecycle.investigate(i, investigator)  # noqa: E731
        return await change(request, who, incident_id, rule, "incident.investigate")

    @router.post("/console/incidents/{incident_id}/findings", response_class=HTMLResponse)
    async def findings(
        request: Request,
        incident_id: int,
        who: Responder,
        findings: Annotated[str, Form(max_length=TEXT)] = "",
    ) -> Response:
        rule = lambda i: lifecycle.write_findings(i, findings)  # noqa: E731
        return await change(request, who, incident_id, rule, "incident.findings")

    @router.post("/console/incidents/{incident_id}/close", response_class=HTMLResponse)
    async def close(
        request: Request,
        incident_id: int,
        who: Responder,
        findings: Annotated[str, Form(max_length=TEXT)] = "",
    ) -> Response:
        now = clock.wall_ms()
        rule = lambda i: lifecycle.close(i, findings, who.user.name, now)  # noqa: E731
        return await change(request, who, incident_id, rule, "incident.close")

    @router.post("/console/incidents/{incident_id}/actions", response_class=HTMLResponse)
    async def add_action(
        request: Request,
        incident_id: int,
        who: Responder,
        what: Annotated[str, Form(max_length=TEXT)] = "",
        owner: Annotated[str, Form(max_length=SHORT)] = "",
        due: Annotated[str, Form(max_length=40)] = "",
        tz_offset_min: Annotated[int, Form(ge=-1440, le=1440)] = 0,
    ) -> Response:
        try:
            if not what.strip() or not owner.strip():
                raise IncidentRefused("action", "say what is to be done and who owns it")
            due_ms = parse_local(due, tz_offset_min, "due")
        except (IncidentRefused, SessionRefused) as exc:
            return detail(request, who, incident_id, 422, error=str(exc))
        action = IncidentAction(0, incident_id, what.strip(), owner.strip(), due_ms)
        future = store.add_incident_action(action, clock.wall_ms(), f"user:{who.user.name}")
        try:
            await asyncio.wrap_future(future)
        except IncidentNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}") from None
        return RedirectResponse(f"/console/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)

    @router.post("/console/incidents/{incident_id}/actions/{action_id}/done")
    async def action_done(incident_id: int, action_id: int, who: Responder) -> Response:
        name = who.user.name
        future = store.complete_incident_action(action_id, clock.wall_ms(), name, f"user:{name}")
        await asyncio.wrap_future(future)
        return RedirectResponse(f"/console/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)

    @router.get("/console/alarms/{alarm_id}/incident", response_class=HTMLResponse)
    def alarm_incident(request: Request, alarm_id: int, who: Viewer) -> Response:
        """The alarm page's link: its incident, or report one from its resolution."""
        alarm = store.alarm(alarm_id)
        if alarm is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
        return page(
            request,
            "_alarm_incident.html",
            who,
            alarm=alarm,
            incident=store.incident_for_alarm(alarm_id),
        )

    return router


__all__ = ["incidents_router", "prefill_from"]
