"""Calendar feeds over HTTP: the feed itself (its secret URL is its only key) and the JSON API
that makes, lists and revokes feeds. No ``from __future__ import annotations``: FastAPI reads
the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from loneguard.protocol.clock import Clock
from loneguard.server.api.auth import Principal
from loneguard.server.api.models import Problem, RowId
from loneguard.server.outreach.calendar_feeds import (
    MAX_LABEL,
    FeedRefused,
    create_feed,
    feed_by_secret,
    may_see_addresses,
)
from loneguard.server.store import Store
from loneguard.server.store.outreach_records import CalendarFeed, FeedScope

ICS_TYPE = "text/calendar; charset=utf-8"


class FeedIn(BaseModel):
    label: str = Field(min_length=1, max_length=MAX_LABEL)
    scope: FeedScope
    subject: str | None = Field(
        default=None, max_length=64, description="the worker (worker scope) or line manager"
    )
    with_addresses: bool = Field(
        default=False, description="addresses and contacts in the feed (never for a viewer)"
    )


class FeedOut(BaseModel):
    id: int
    label: str
    scope: FeedScope
    subject: str | None
    with_addresses: bool
    created_by: str
    created_ms: int
    revoked_ms: int | None

    @classmethod
    def of(cls, feed: CalendarFeed) -> "FeedOut":
        return cls.model_validate(feed, from_attributes=True)


class NewFeedOut(FeedOut):
    url: str = Field(description="the feed's secret URL: shown this once, never again")


def feed_router(store: Store, clock: Clock, reminder_min: Callable[[], int]) -> APIRouter:
    """``GET /calendar/<secret>.ics``: the feed, or 404 for an unknown or revoked secret."""
    router = APIRouter(include_in_schema=False)

    @router.get("/calendar/{secret}.ics")
    def calendar(secret: str) -> Response:
        feed = feed_by_secret(store, secret)
        if feed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such calendar")
        # icalendar takes a fifth of a second to import: not on the hub's way to its first
        # ladder step after a restart, only on the first calendar fetch.
        from loneguard.server.outreach.calendar_ics import visits_calendar

        body = visits_calendar(
            feed,
            store.sessions(),
            store.visit_plans(),
            store.workers(),
            reminder_min(),
            clock.wall_ms(),
        )
        return Response(body, media_type=ICS_TYPE, headers={"Cache-Control": "no-store"})

    return router


def calendars_api(
    store: Store,
    clock: Clock,
    reader: Callable[..., Principal],
    responder: Callable[..., Principal],
) -> APIRouter:
    """Any token lists and makes feeds (a viewer's never with addresses); managers revoke."""
    router = APIRouter()
    Reader = Annotated[Principal, Depends(reader)]
    Responder = Annotated[Principal, Depends(responder)]

    @router.get("/api/calendars")
    def list_feeds(who: Reader) -> list[FeedOut]:
        """Every feed for managers and admins; a viewer's own feeds for a viewer."""
        feeds = store.calendar_feeds()
        if not may_see_addresses(who.role):
            feeds = [f for f in feeds if f.created_by == f"token:{who.name}"]
        return [FeedOut.of(f) for f in feeds]

    @router.post(
        "/api/calendars", status_code=status.HTTP_201_CREATED, responses={422: {"model": Problem}}
    )
    async def make_feed(body: FeedIn, who: Reader, request: Request) -> NewFeedOut:
        try:
            made = await create_feed(
                store,
                body.label,
                body.scope,
                body.subject,
                body.with_addresses,
                who.role,
                clock.wall_ms(),
                f"token:{who.name}",
            )
        except FeedRefused as exc:
            raise HTTPException(422, str(exc)) from None
        out = FeedOut.of(made.feed).model_dump()
        return NewFeedOut(**out, url=made.url(str(request.base_url)))

    @router.post("/api/calendars/{feed_id}/revoke", responses={404: {"model": Problem}})
    async def revoke_feed(feed_id: RowId, who: Responder) -> FeedOut:
        done = await asyncio.wrap_future(
            store.revoke_calendar_feed(feed_id, clock.wall_ms(), f"token:{who.name}")
        )
        feed = next((f for f in store.calendar_feeds() if f.id == feed_id), None)
        if not done and (feed is None or feed.revoked_ms is None):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no calendar feed {feed_id}")
        assert feed is not None
        return FeedOut.of(feed)

    return router
