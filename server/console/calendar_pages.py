"""The console's calendar feeds: make one (its secret link shown once, with a copy button), list
them, revoke one. Managers and admins may put addresses in a feed; a viewer's feed never has
them, and a viewer sees and revokes only their own feeds. No ``from __future__ import
annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.console.security import LoginDependency
from loneguard.server.outreach.calendar_feeds import (
    MAX_LABEL,
    FeedRefused,
    create_feed,
    may_see_addresses,
)
from loneguard.server.store import ConsoleLogin, Store
from loneguard.server.store.outreach_records import CalendarFeed, FeedScope

Page = Callable[..., HTMLResponse]
CALENDARS = "/console/calendars"


def _actor(who: ConsoleLogin) -> str:
    return f"user:{who.user.name}"


def _mine(who: ConsoleLogin, feed: CalendarFeed) -> bool:
    return may_see_addresses(who.user.role) or feed.created_by == _actor(who)


def calendar_router(
    store: Store, clock: Clock, page: Page, viewer: LoginDependency, anyone: LoginDependency
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    AnyUser = Annotated[ConsoleLogin, Depends(anyone)]

    def feeds_page(
        request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        workers = store.workers()
        return page(
            request,
            "calendars.html",
            who,
            code,
            feeds=[f for f in store.calendar_feeds() if _mine(who, f)],
            workers=workers,
            names={w.id: w.name for w in workers},
            full=may_see_addresses(who.user.role),
            max_label=MAX_LABEL,
            **ctx,
        )

    @router.get(CALENDARS, response_class=HTMLResponse)
    def show_feeds(request: Request, who: Viewer) -> Response:
        return feeds_page(request, who)

    @router.post(CALENDARS, response_class=HTMLResponse)
    async def make_feed(
        request: Request,
        who: AnyUser,
        label: Annotated[str, Form(max_length=MAX_LABEL)] = "",
        scope: Annotated[str, Form(max_length=16)] = "worker",
        subject: Annotated[str, Form(max_length=64)] = "",
        with_addresses: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        try:
            kind = FeedScope(scope)
        except ValueError:
            return feeds_page(request, who, 422, error="scope: choose worker, team or all")
        try:
            made = await create_feed(
                store,
                label,
                kind,
                subject or None,
                bool(with_addresses),
                who.user.role,
                clock.wall_ms(),
                _actor(who),
            )
        except FeedRefused as exc:
            return feeds_page(request, who, 422, error=str(exc))
        # Shown this once: the store keeps only the secret's hash.
        return feeds_page(request, who, 201, made=made.feed, url=made.url(str(request.base_url)))

    @router.post(CALENDARS + "/{feed_id}/revoke")
    async def revoke_feed(feed_id: int, who: AnyUser) -> Response:
        feed = next((f for f in store.calendar_feeds() if f.id == feed_id), None)
        if feed is None or not _mine(who, feed):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no calendar feed {feed_id}")
        await asyncio.wrap_future(store.revoke_calendar_feed(feed_id, clock.wall_ms(), _actor(who)))
        return RedirectResponse(CALENDARS, status.HTTP_303_SEE_OTHER)

    return router
