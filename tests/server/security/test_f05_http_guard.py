"""Findings 5, 7 and 11: what every response says, and what no request may send.

5 (Medium): the console could be framed, so a same-site page got a manager's one click to
acknowledge a panic. 7 (Medium): an unauthenticated 200 MB JSON body was parsed before the
token check. 11 (Low): no CSP, ``X-Content-Type-Options``, ``Referrer-Policy`` or
``Cache-Control: no-store`` on pages and JSON holding personal data; ``/docs`` and ``/redoc``
loaded Swagger from a CDN into the hub's origin.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.store.sqlite import SqlStore
from tests.server.console.conftest import log_in

PAGES = ["/console", "/console/visits", "/console/alarms", "/api/health", "/metrics"]


@pytest.mark.usefixtures("users")
@pytest.mark.parametrize("path", PAGES)
def test_every_response_carries_the_security_headers(app_client: TestClient, path: str) -> None:
    log_in(app_client, "max")
    response = app_client.get(path)
    assert response.status_code == 200, path
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def test_errors_and_refusals_carry_them_too(app_client: TestClient) -> None:
    for path in ("/api/workers", "/no/such/page", "/login", "/console"):
        response = app_client.get(path)
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"


def test_static_files_may_be_cached_but_not_framed_or_sniffed(app_client: TestClient) -> None:
    response = app_client.get("/console/static/console.js")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers.get("cache-control") != "no-store"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_api_pages_load_scripts_from_elsewhere(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 404
    assert "cdn" not in response.text.lower()


@pytest.fixture
def small_app(store: SqlStore, clock: FakeClock) -> Iterator[TestClient]:
    """The app with the default body limit (``http.max_body_bytes``, 1 MiB)."""
    with TestClient(create_app(store, clock=clock)) as c:
        yield c


def test_a_huge_body_is_refused_before_it_is_read(small_app: TestClient) -> None:
    body = b'{"worker_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = small_app.post(
        "/api/sessions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"]


def test_a_huge_chunked_body_is_refused_too(small_app: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"worker_id": "'
        for _ in range(300):
            yield b"x" * 4096
        yield b'"}'

    response = small_app.post(
        "/api/sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_a_body_within_the_limit_still_reaches_the_route(small_app: TestClient) -> None:
    response = small_app.post("/api/sessions", json={"worker_id": "w1"})
    assert response.status_code == 401  # read, then refused for want of a token
