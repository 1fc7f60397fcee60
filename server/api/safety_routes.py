"""Risk assessments, incidents and the policy review over the JSON API, with the console's
roles: any token reads and reports an incident; managers and admins assess risk, investigate,
close and own actions. Viewers' tokens read no addresses, contacts or assessment text.

No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, status

from loneguard.protocol.clock import Clock
from loneguard.server.api.auth import RESPONDERS, Principal
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.api.models import Problem, RowId
from loneguard.server.api.safety_models import (
    ActionIn,
    ActionOut,
    FindingsIn,
    IncidentIn,
    IncidentOut,
    InvestigateIn,
    ReviewOut,
    RiskAssessmentIn,
    RiskAssessmentOut,
)
from loneguard.server.api.visit_routes import visit_of
from loneguard.server.console.review_pages import period_of, review_of
from loneguard.server.incidents import lifecycle
from loneguard.server.incidents.reporting import Report, incident_of
from loneguard.server.risk import assessment as risk
from loneguard.server.store import Store
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentConflict,
    IncidentNotFound,
    RiskAssessment,
)

T = TypeVar("T")
Dependency = Callable[..., Principal]


def _personal(who: Principal) -> bool:
    return who.role in RESPONDERS


async def _wait(future: "Future[T]") -> T:
    try:
        return await asyncio.wrap_future(future)
    except IncidentNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except IncidentConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (lifecycle.IncidentRefused, risk.RiskRefused) as exc:
        raise HTTPException(422, str(exc)) from None


def safety_router(
    store: Store, clock: Clock, hooks: ApiHooks, reader: Dependency, responder: Dependency
) -> APIRouter:
    router = APIRouter()
    Reader = Annotated[Principal, Depends(reader)]
    Responder = Annotated[Principal, Depends(responder)]
    problems: dict[int | str, dict[str, object]] = {
        404: {"model": Problem},
        409: {"model": Problem},
        422: {"model": Problem},
    }

    # -- risk assessments -------------------------------------------------------------------------
    @router.get("/api/visits/{session_id}/risk", responses=problems)
    def visit_risk(session_id: RowId, who: Reader) -> RiskAssessmentOut:
        visit_of(store, session_id)
        found = store.risk_assessment(session_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"visit {session_id} is not assessed")
        return RiskAssessmentOut.of(found, personal=_personal(who))

    @router.put("/api/visits/{session_id}/risk", responses=problems)
    async def assess_visit(
        session_id: RowId, body: RiskAssessmentIn, who: Responder
    ) -> RiskAssessmentOut:
        """Assess (or assess again) a visit: a high rating on an unaccompanied visit needs
        ``override_reason`` (the override is the approver's, CIC App.1 5.1.1)."""
        visit = visit_of(store, session_id)
        draft = RiskAssessment(
            id=0,
            session_id=session_id,
            pattern=None,
            worker_id=visit.worker_id,
            override_by=None,
            assessed_by=who.name,
            assessed_ms=clock.wall_ms(),
            **body.model_dump(),
        )
        try:
            checked = risk.check(draft, risk.Arrangement(visit.accompanied, visit.approved_by))
        except risk.RiskRefused as exc:
            raise HTTPException(422, str(exc)) from None
        saved = await _wait(store.save_risk_assessment(checked, f"token:{who.name}"))
        return RiskAssessmentOut.of(saved, personal=True)

    @router.get("/api/risk-assessments")
    def assessments(who: Reader) -> list[RiskAssessmentOut]:
        """Every assessment, of visits and of lone-working patterns, newest first."""
        personal = _personal(who)
        return [RiskAssessmentOut.of(a, personal=personal) for a in store.risk_assessments()]

    # -- incidents --------------------------------------------------------------------------------
    def incident_out(incident: Incident, who: Principal) -> IncidentOut:
        actions = store.incident_actions(incident.id)
        return IncidentOut.of(incident, actions, personal=_personal(who))

    @router.get("/api/incidents")
    def incidents(who: Reader) -> list[IncidentOut]:
        return [incident_out(i, who) for i in store.incidents()]

    @router.get("/api/incidents/{incident_id}", responses=problems)
    def one_incident(incident_id: RowId, who: Reader) -> IncidentOut:
        found = store.incident(incident_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no incident {incident_id}")
        return incident_out(found, who)

    @router.post("/api/incidents", status_code=status.HTTP_201_CREATED, responses=problems)
    async def report(body: IncidentIn, who: Reader) -> IncidentOut:
        """Report an incident (any role: a worker reports too); the line manager is told."""
        now = clock.wall_ms()
        if body.worker_id and store.worker(body.worker_id) is None:
            raise HTTPException(422, f"worker_id: no worker {body.worker_id}")
        if body.alarm_id is not None and store.alarm(body.alarm_id) is None:
            raise HTTPException(422, f"alarm_id: no alarm {body.alarm_id}")
        occurred = body.occurred_ms if body.occurred_ms is not None else now
        if occurred > now:
            raise HTTPException(422, "occurred_ms: an incident has happened already")
        fields = body.model_dump(exclude={"occurred_ms"})
        made = incident_of(store, Report(occurred_ms=occurred, **fields), who.name, now)
        saved = await _wait(store.report_incident(made, f"token:{who.name}"))
        if hooks.incident_reported is not None:
            await hooks.incident_reported(saved)
        return incident_out(saved, who)

    async def change(
        incident_id: int, who: Principal, rule: Callable[[Incident], Incident], action: str
    ) -> IncidentOut:
        future = store.change_incident(
            incident_id, rule, clock.wall_ms(), f"token:{who.name}", action
        )
        return incident_out(await _wait(future), who)

    @router.post("/api/incidents/{incident_id}/investigate", responses=problems)
    async def investigate(incident_id: RowId, body: InvestigateIn, who: Responder) -> IncidentOut:
        rule = lambda i: lifecycle.investigate(i, body.investigator)  # noqa: E731
        return await change(incident_id, who, rule, "incident.investigate")

    @router.post("/api/incidents/{incident_id}/findings", responses=problems)
    async def findings(incident_id: RowId, body: FindingsIn, who: Responder) -> IncidentOut:
        rule = lambda i: lifecycle.write_findings(i, body.findings)  # noqa: E731
        return await change(incident_id, who, rule, "incident.findings")

    @router.post("/api/incidents/{incident_id}/close", responses=problems)
    async def close(incident_id: RowId, body: FindingsIn, who: Responder) -> IncidentOut:
        now = clock.wall_ms()
        rule = lambda i: lifecycle.close(i, body.findings, who.name, now)  # noqa: E731
        return await change(incident_id, who, rule, "incident.close")

    @router.post(
        "/api/incidents/{incident_id}/actions",
        status_code=status.HTTP_201_CREATED,
        responses=problems,
    )
    async def add_action(incident_id: RowId, body: ActionIn, who: Responder) -> ActionOut:
        action = IncidentAction(0, incident_id, body.what.strip(), body.owner.strip(), body.due_ms)
        future = store.add_incident_action(action, clock.wall_ms(), f"token:{who.name}")
        return ActionOut.of(await _wait(future))

    @router.post("/api/incidents/{incident_id}/actions/{action_id}/done", responses=problems)
    async def action_done(incident_id: RowId, action_id: RowId, who: Responder) -> ActionOut:
        future = store.complete_incident_action(
            action_id, clock.wall_ms(), who.name, f"token:{who.name}"
        )
        done = await _wait(future)
        if done is None or done.incident_id != incident_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open action {action_id}")
        return ActionOut.of(done)

    # -- the review -------------------------------------------------------------------------------
    @router.get("/api/review", responses=problems)
    def review(_who: Reader, period: str | None = None) -> ReviewOut:
        """One quarter's numbers (``period=2026-Q1``; the current quarter when left out)."""
        chosen = period_of(period, clock)  # 422 for a period that is no quarter
        return ReviewOut.of(review_of(store, clock, chosen))

    return router


__all__ = ["safety_router"]
