"""The console's errors as pages in its own layout, never raw JSON: a viewer opening Users, an
alarm that does not exist, a form field no browser should send. The API keeps its JSON errors.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from loneguard.protocol.clock import Clock
from loneguard.server.console import views
from loneguard.server.console.security import CSRF_FIELD, login_of
from loneguard.server.store import Store

TEMPLATES = Path(__file__).parent / "templates"
TITLES = {
    400: "That request was not understood",
    401: "Please log in",
    403: "Not allowed",
    404: "Not found",
    409: "Already changed",
    422: "Something in the form is not right",
    429: "Too many tries",
}


def is_console_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/console/static/", "/console/stream")):
        return False
    return path == "/" or path.startswith(("/console", "/login", "/logout"))


def install_error_pages(app: FastAPI, store: Store, clock: Clock) -> None:
    templates = Jinja2Templates(directory=TEMPLATES)
    views.install_filters(templates)

    def error_page(request: Request, code: int, message: str) -> Response:
        login = login_of(store, clock, request)
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "login": login,
                "now_ms": clock.wall_ms(),
                "csrf_field": CSRF_FIELD,
                "code": code,
                "title": TITLES.get(code, "Something went wrong"),
                "message": message,
            },
            status_code=code,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Redirects to the login page, htmx's login redirect and the API answer as they are.
        as_is = exc.status_code < 400 or bool(request.headers.get("HX-Request"))
        if as_is or not is_console_page(request):
            return await http_exception_handler(request, exc)
        response = error_page(request, exc.status_code, _sentence(str(exc.detail)))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_console_page(request):
            return await request_validation_exception_handler(request, exc)
        problems = [
            f"{_field(e.get('loc', ()))}: {e.get('msg', 'not valid')}" for e in exc.errors()
        ]
        return error_page(request, 422, "; ".join(problems) or "the form was not valid")


def _field(loc: object) -> str:
    if not isinstance(loc, tuple | list):
        return "the form"
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "the form"


def _sentence(text: str) -> str:
    text = text.strip() or "no reason given"
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
