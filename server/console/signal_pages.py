"""Signal black spots on the console: the planner's note on the address being typed, the list
of places with poor or no signal, and "poor signal here" for a visit (a worker who rang in to
say so). Addresses are for managers and admins only. No ``from __future__ import
annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.console.security import LoginDependency
from loneguard.server.outreach.signal_spots import is_black_spot
from loneguard.server.sessions.rules import MAX_TEXT
from loneguard.server.store import ConsoleLogin, SessionKind, Store

Page = Callable[..., HTMLResponse]


def signal_router(
    store: Store,
    clock: Clock,
    page: Page,
    responder_page: LoginDependency,
    responder: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    ResponderPage = Annotated[ConsoleLogin, Depends(responder_page)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    @router.get("/console/signal/note", response_class=HTMLResponse)
    def planner_note(
        request: Request,
        who: ResponderPage,
        address: Annotated[str, Query(max_length=MAX_TEXT)] = "",
    ) -> Response:
        """The planner's fragment: what is known of the signal at ``address``."""
        spot = store.signal_spot(address) if address.strip() else None
        return page(
            request, "_signal_note.html", who, spot=spot, black=spot and is_black_spot(spot)
        )

    @router.get("/console/signal", response_class=HTMLResponse)
    def black_spots(request: Request, who: ResponderPage) -> Response:
        spots = store.signal_spots()
        return page(
            request,
            "signal_spots.html",
            who,
            black=[s for s in spots if is_black_spot(s)],
            others=[s for s in spots if not is_black_spot(s)],
        )

    @router.post("/console/visits/{session_id}/signal")
    async def poor_signal_here(session_id: int, who: Responder) -> Response:
        visit = store.session(session_id)
        if visit is None or visit.kind != SessionKind.VISIT or not visit.address:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no visit {session_id} with an address")
        await asyncio.wrap_future(
            store.flag_poor_signal(clock.wall_ms(), f"user:{who.user.name}", session_id=session_id)
        )
        return RedirectResponse(f"/console/visits/{session_id}/change", status.HTTP_303_SEE_OTHER)

    return router
