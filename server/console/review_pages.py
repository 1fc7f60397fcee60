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
from loneguard.server.outreach.signal_spots import is_black_spot
from loneguard.server.store import ConsoleLogin, Store

Page = Callable[..., HTMLResponse]


def signal_spots(
    store: Store, period: policy_review.Period
) -> Sequence[policy_review.SignalSpot] | None:
    """The black spots seen during the period (``outreach.signal_spots``): places a worker
    reported, or where a quarter of the units' heartbeats were poor. The store keeps one running
    total per address, so a place counts in every period its samples span."""
    return [
        policy_review.SignalSpot(place=spot.address, reports=spot.worker_flags + spot.poor_samples)
        for spot in store.signal_spots()
        if is_black_spot(spot)
        and spot.last_seen_ms >= period.start_ms
        and spot.first_seen_ms < period.end_ms
    ]


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
