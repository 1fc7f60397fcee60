"""Who is asking: the login cookie, the CSRF token, and the role a page or action needs.

No ``from __future__ import annotations``: FastAPI reads these dependencies' annotations.
"""

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import HTTPException, Request, status

from loneguard.protocol.clock import Clock
from loneguard.server.admin.tokens import hash_token
from loneguard.server.store import ConsoleLogin, Role, Store

COOKIE = "lg_console"
PRELOGIN_COOKIE = "lg_prelogin"  # double-submit CSRF token for the login form itself
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
RESPONDERS = frozenset({Role.ADMIN, Role.MANAGER})

LoginDependency = Callable[..., Awaitable[ConsoleLogin]]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def login_of(store: Store, clock: Clock, request: Request) -> ConsoleLogin | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return store.console_login(hash_token(cookie), clock.wall_ms())


def _login_required(request: Request) -> HTTPException:
    if request.headers.get("HX-Request"):
        # htmx swaps do not follow redirects into the page: tell it to load the login page.
        return HTTPException(status.HTTP_401_UNAUTHORIZED, "log in", {"HX-Redirect": "/login"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, "log in", {"Location": f"/login?next={quote(target)}"}
    )


def page_login(store: Store, clock: Clock, roles: frozenset[Role] | None = None) -> LoginDependency:
    """A logged-in user (of one of ``roles`` if given), for pages that only show; anonymous
    requests go to the login page."""

    async def check(request: Request) -> ConsoleLogin:
        login = login_of(store, clock, request)
        if login is None:
            raise _login_required(request)
        if roles is not None:
            _check_role(login, roles)
        return login

    return check


def action_login(store: Store, clock: Clock, roles: frozenset[Role]) -> LoginDependency:
    """A logged-in user of one of ``roles``, posting with the login's CSRF token."""

    async def check(request: Request) -> ConsoleLogin:
        login = login_of(store, clock, request)
        if login is None:
            raise _login_required(request)
        token = request.headers.get(CSRF_HEADER)
        if token is None:
            form = await request.form()
            field = form.get(CSRF_FIELD)
            token = field if isinstance(field, str) else None
        if not same(token, login.csrf):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or wrong"
            )
        _check_role(login, roles)
        return login

    return check


def _check_role(login: ConsoleLogin, roles: frozenset[Role]) -> None:
    if login.user.role not in roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"the {login.user.role} role may not do this"
        )
