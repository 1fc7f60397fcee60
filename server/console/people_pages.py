"""Read-only pages: people and devices, escalation policies, and the director's report.

No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from protocol.clock import Clock
from server.console import reports
from server.console.db import Login
from server.console.security import LoginDependency
from server.policy import Policy
from server.store import Store

Page = Callable[..., HTMLResponse]


def people_router(
    store: Store,
    clock: Clock,
    policies: Mapping[str, Policy],
    page: Page,
    viewer: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[Login, Depends(viewer)]

    @router.get("/console/people", response_class=HTMLResponse)
    def people(request: Request, who: Viewer) -> Response:
        workers = store.workers()
        return page(
            request,
            "people.html",
            who,
            workers=workers,
            names={w.id: w.name for w in workers},
            devices=store.devices(),
            policies=policies,
        )

    @router.get("/console/reports", response_class=HTMLResponse)
    def report(request: Request, who: Viewer) -> Response:
        alarms = store.alarms()
        names = {w.id: w.name for w in store.workers()}
        weeks = reports.alarms_per_week(alarms, clock.wall_ms())
        ack = reports.time_to_acknowledge(alarms)
        late = reports.overdue_per_worker(alarms, names)
        ack_rows = [(f"{a.kind} p50", a.p50_s or 0.0) for a in ack] + [
            (f"{a.kind} p95", a.p95_s or 0.0) for a in ack
        ]
        return page(
            request,
            "reports.html",
            who,
            weeks=weeks,
            ack=ack,
            late=late,
            kinds=reports.KIND_COLOURS,
            weekly_svg=Markup(reports.stacked_bars_svg(weeks)),  # built from escaped text
            ack_svg=Markup(reports.hbars_svg(sorted(ack_rows), "s")),
            late_svg=Markup(reports.hbars_svg([(n, float(c)) for n, c in late], "late")),
        )

    return router
