"""Adds the pages of risk assessments, incidents and the policy review to the console."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.incident_pages import incidents_router
from loneguard.server.console.review_pages import review_router
from loneguard.server.console.risk_pages import risk_router
from loneguard.server.console.security import RESPONDERS, action_login, page_login
from loneguard.server.console.views import ROLES
from loneguard.server.store import Store


def safety_routers(
    router: APIRouter,
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    page: Callable[..., HTMLResponse],
) -> None:
    viewer = page_login(store, clock)
    responder = action_login(store, clock, RESPONDERS)
    anyone = action_login(store, clock, frozenset(ROLES))  # a worker reports on the simple form
    router.include_router(incidents_router(store, clock, hooks, page, viewer, anyone, responder))
    router.include_router(risk_router(store, clock, page, viewer, responder))
    router.include_router(review_router(store, clock, page, viewer))
