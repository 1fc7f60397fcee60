"""Risk assessments of lone-working patterns (CIC 7.4, 7.10; school §6): a regular evening
class, a building-based shift, working from home. Visits are assessed in the planner.

No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.console import risk_form
from loneguard.server.console.security import LoginDependency
from loneguard.server.risk import assessment as risk
from loneguard.server.store import ConsoleLogin, Store

Page = Callable[..., HTMLResponse]


def risk_router(
    store: Store, clock: Clock, page: Page, viewer: LoginDependency, responder: LoginDependency
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    def risk_page(request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any) -> HTMLResponse:
        workers = store.workers()
        return page(
            request,
            "risk.html",
            who,
            code,
            assessments=store.risk_assessments(),
            workers=workers,
            names={w.id: w.name for w in workers},
            risk_factors=risk.FACTORS,
            risk_ratings=risk_form.RATINGS,
            form=ctx.pop("form", {}),
            **ctx,
        )

    @router.get("/console/risk", response_class=HTMLResponse)
    def show(request: Request, who: Viewer) -> Response:
        return risk_page(request, who)

    @router.post("/console/risk", response_class=HTMLResponse)
    async def assess_pattern(
        request: Request,
        who: Responder,
        pattern: Annotated[str, Form(max_length=200)] = "",
        worker_id: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        """Assess (or assess again) a lone-working pattern by its name."""
        form = dict(await request.form())
        try:
            if not pattern.strip():
                raise risk.RiskRefused("pattern", "name the pattern of lone working")
            draft = risk_form.read_assessment(
                form,
                worker_id=worker_id or None,
                assessed_by=who.user.name,
                at_ms=clock.wall_ms(),
                pattern=pattern.strip(),
            )
            assessment = risk.check(draft, None)
        except risk.RiskRefused as exc:
            return risk_page(request, who, 422, error=str(exc), form=form)
        await asyncio.wrap_future(store.save_risk_assessment(assessment, f"user:{who.user.name}"))
        return RedirectResponse("/console/risk", status.HTTP_303_SEE_OTHER)

    return router
