"""The console's ARC page: the Alarm Receiving Centre link's state (up or down, last ack and
which receiver, failures since, pending alarm messages, next supervision test), its recent
messages, and the worker → zone sheet to send the ARC for its account. An admin may give every
worker a zone at once (otherwise each gets one with their first alarm), so the sheet is complete
before the first alarm. No ``from __future__ import annotations``: FastAPI reads the route
annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.arc_views import contact_id_text, link_status, zone_sheet
from loneguard.server.console.security import LoginDependency
from loneguard.server.store import ConsoleLogin, Store
from loneguard.server.store.arc_records import ArcZonesFull

Page = Callable[..., HTMLResponse]
RECENT_MESSAGES = 20


def arc_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    page: Page,
    viewer: LoginDependency,
    admin: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Admin = Annotated[ConsoleLogin, Depends(admin)]

    def arc_page(request: Request, who: ConsoleLogin, error: str | None = None) -> HTMLResponse:
        state = hooks.arc_state()
        zones, unzoned = zone_sheet(store)
        return page(
            request,
            "arc.html",
            who,
            422 if error else 200,
            state=state,
            status=link_status(state),
            messages=store.arc_messages(limit=RECENT_MESSAGES) if state.configured else [],
            contact_id_text=contact_id_text,
            zones=zones,
            unzoned=unzoned,
            account=hooks.arc_account,
            error=error,
        )

    @router.get("/console/arc", response_class=HTMLResponse)
    def show(request: Request, who: Viewer) -> Response:
        return arc_page(request, who)

    @router.post("/console/arc/zones", response_class=HTMLResponse)
    async def give_every_worker_a_zone(request: Request, who: Admin) -> Response:
        now = clock.wall_ms()
        before = {z.worker_id for z in store.arc_zones()}
        given = 0
        try:
            for worker in store.workers():
                if worker.id not in before:
                    await asyncio.wrap_future(store.arc_zone(worker.id, now))
                    given += 1
        except ArcZonesFull:
            return arc_page(request, who, "Every zone from 1 to 999 is taken on this account.")
        finally:
            if given:
                await asyncio.wrap_future(
                    store.append_audit(
                        now, f"user:{who.user.name}", "arc.zones", None, {"workers": given}
                    )
                )
        return RedirectResponse("/console/arc", 303)

    return router
