"""The admin's page of console users: add, disable, enable, set a password.

Every change is audited as ``user:<admin>``; disabling a user or setting their password ends
their live logins and closes their open live streams at once. No ``from __future__ import
annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.console.live import LiveLogins
from loneguard.server.console.security import LoginDependency
from loneguard.server.console.users import (
    UserError,
    change_password,
    create_user,
    set_disabled,
)
from loneguard.server.store import ConsoleLogin, Role, Store

Page = Callable[..., HTMLResponse]
USERS = "/console/users"


def users_router(
    store: Store,
    clock: Clock,
    live: LiveLogins,
    page: Page,
    admin_viewer: LoginDependency,
    admin: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    AdminPage = Annotated[ConsoleLogin, Depends(admin_viewer)]
    Admin = Annotated[ConsoleLogin, Depends(admin)]

    def users_page(
        request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        return page(
            request, "users.html", who, code, users=store.console_users(), roles=list(Role), **ctx
        )

    async def changed(
        request: Request, who: ConsoleLogin, change: Callable[[], None], ends_logins_of: str | None
    ) -> Response:
        try:
            await asyncio.to_thread(change)
        except UserError as exc:
            return users_page(request, who, 422, error=str(exc))
        if ends_logins_of is not None:
            live.end_user(ends_logins_of)
        if ends_logins_of == who.user.name:  # an admin who set their own password logs in again
            return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
        return RedirectResponse(USERS, status.HTTP_303_SEE_OTHER)

    @router.get(USERS, response_class=HTMLResponse)
    def users(request: Request, who: AdminPage) -> Response:
        return users_page(request, who)

    @router.post(USERS, response_class=HTMLResponse)
    async def add_user(
        request: Request,
        who: Admin,
        name: Annotated[str, Form(max_length=64)] = "",
        role: Annotated[str, Form(max_length=16)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        again: Annotated[str, Form(max_length=1024)] = "",
    ) -> Response:
        if role not in {str(r) for r in Role}:
            return users_page(request, who, 422, error="role: choose admin, manager or viewer")
        if password != again:
            return users_page(request, who, 422, error="password: the two entries differ")
        actor = f"user:{who.user.name}"
        now = clock.wall_ms()
        return await changed(
            request,
            who,
            lambda: create_user(store, name.strip(), Role(role), password, now, actor),
            None,
        )

    @router.post(USERS + "/{name}/disable", response_class=HTMLResponse)
    async def disable(request: Request, name: str, who: Admin) -> Response:
        if name == who.user.name:
            error = "You cannot disable your own login: ask another admin."
            return users_page(request, who, 422, error=error)
        actor, now = f"user:{who.user.name}", clock.wall_ms()
        return await changed(
            request, who, lambda: set_disabled(store, name, True, now, actor), name
        )

    @router.post(USERS + "/{name}/enable", response_class=HTMLResponse)
    async def enable(request: Request, name: str, who: Admin) -> Response:
        actor, now = f"user:{who.user.name}", clock.wall_ms()
        return await changed(
            request, who, lambda: set_disabled(store, name, False, now, actor), None
        )

    @router.post(USERS + "/{name}/password", response_class=HTMLResponse)
    async def set_password(
        request: Request,
        name: str,
        who: Admin,
        password: Annotated[str, Form(max_length=1024)] = "",
        again: Annotated[str, Form(max_length=1024)] = "",
    ) -> Response:
        if password != again:
            return users_page(request, who, 422, error="password: the two entries differ")
        actor, now = f"user:{who.user.name}", clock.wall_ms()
        return await changed(
            request, who, lambda: change_password(store, name, password, now, actor), name
        )

    return router
