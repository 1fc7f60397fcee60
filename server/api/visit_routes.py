"""Visits over the JSON API: visit sessions with their plans, and their records.

The same role rules as ``/api/sessions``: any live token reads them; addresses and contacts only
managers and admins (``server/privacy.py``). Visits are planned and records written on the
console. No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from loneguard.server.api.auth import RESPONDERS, Principal
from loneguard.server.api.models import Problem, RowId, VisitOut, VisitRecordOut
from loneguard.server.api.safety_models import RiskAssessmentOut
from loneguard.server.privacy import visible
from loneguard.server.store import Role, Session, SessionKind, SessionState, Store


def visits_router(store: Store, reader: Callable[..., Principal]) -> APIRouter:
    router = APIRouter()
    Reader = Annotated[Principal, Depends(reader)]
    problems: dict[int | str, dict[str, object]] = {404: {"model": Problem}}

    @router.get("/api/visits")
    def list_visits(who: Reader, state: SessionState | None = None) -> list[VisitOut]:
        """Visits, newest first: by default those not ended (planned or under way)."""
        visits = [s for s in store.sessions(state) if s.kind == SessionKind.VISIT]
        if state is None:
            visits = [s for s in visits if s.state != SessionState.ENDED]
        return _visits(store, visits, who.role)

    @router.get("/api/visits/{session_id}", responses=problems)
    def get_visit(session_id: RowId, who: Reader) -> VisitOut:
        return _visits(store, [visit_of(store, session_id)], who.role)[0]

    @router.get("/api/visits/{session_id}/record", responses=problems)
    def get_record(session_id: RowId, _who: Reader) -> VisitRecordOut:
        visit_of(store, session_id)
        record = store.visit_record(session_id)
        if record is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"visit {session_id} has no record")
        return VisitRecordOut.of(record)

    return router


def visit_of(store: Store, session_id: int) -> Session:
    session = store.session(session_id)
    if session is None or session.kind != SessionKind.VISIT:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no visit {session_id}")
    return session


def _visits(store: Store, visits: list[Session], role: Role) -> list[VisitOut]:
    plans = store.visit_plans()
    recorded = store.visits_with_records()
    personal = role in RESPONDERS
    out = []
    for s in visits:
        visit = VisitOut.visit(visible(s, role), plans.get(s.id), s.id in recorded)
        risk = store.risk_assessment(s.id)
        if risk is not None:
            visit.risk = RiskAssessmentOut.of(risk, personal=personal)
        out.append(visit)
    return out
