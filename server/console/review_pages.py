"""The policy review page: one quarter's numbers for the directors, printable.

Server-rendered with its own print stylesheet (``static/review.css``, no CDN): the browser's
print gives the paper the directors sign. Viewers see counts and no addresses. No
``from __future__ import annotations``: FastAPI reads the route annotations.
"""

from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.console import review as policy_review
from loneguard.server.console.security import LoginDependency
from loneguard.server.store import ConsoleLogin, Store

Page = Callable[..., HTMLResponse]


def signal_spots(
    store: Store, period: policy_review.Period
) -> Sequence[policy_review.SignalSpot] | None:
    """Black spots from the store, once it records them (``signal_spots``); None until then."""
    spots = getattr(store, "signal_spots", None)
    if spots is None:
        return None
    found: Sequence[policy_review.SignalSpot] = spots(period.start_ms, period.end_ms)
    return found


def review_of(store: Store, clock: Clock, period: policy_review.Period) -> policy_review.Review:
    return policy_review.review(
        period,
        clock.wall_ms(),
        store.alarms(),
        store.incidents(),
        store.incident_actions(),
        store.risk_assessments(),
        signal_spots(store, period),
    )


def period_of(name: str | None, clock: Clock) -> policy_review.Period:
    if not name:
        return policy_review.quarter_of(clock.wall_ms())
    try:
        return policy_review.quarter(name)
    except policy_review.PeriodRefused as exc:
        raise HTTPException(422, str(exc)) from None


def review_router(store: Store, clock: Clock, page: Page, viewer: LoginDependency) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]

    @router.get("/console/review", response_class=HTMLResponse)
    def review_page(request: Request, who: Viewer, period: str | None = None) -> Response:
        chosen = period_of(period, clock)
        return page(
            request,
            "review.html",
            who,
            review=review_of(store, clock, chosen),
            earlier=policy_review.previous(chosen),
            later=policy_review.quarter_of(chosen.end_ms),
            names={w.id: w.name for w in store.workers()},
        )

    return router
