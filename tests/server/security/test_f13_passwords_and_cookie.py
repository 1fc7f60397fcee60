"""Finding 13 (Low): passwords were checked for length only (``password12`` and ``1234567890``
were accepted), and the login cookie was not Secure, even when the hub was reached over HTTPS,
unless configured. Passwords are now scored by zxcvbn; the cookie is Secure whenever the request
came over HTTPS (directly, or as a named proxy says).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.console.passwords import WeakPassword, hash_password, verify_password
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.http_guard import parse_networks
from loneguard.server.store import Role
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import PASSWORD, form_csrf

WEAK = ["password12", "1234567890", "qwertyuiop", "loneguard123", "aaaaaaaaaaaa", "Password123!"]


@pytest.mark.parametrize("weak", WEAK)
def test_common_and_guessable_passwords_are_refused(weak: str) -> None:
    with pytest.raises(WeakPassword, match="password"):
        hash_password(weak)


@pytest.mark.parametrize("strong", [PASSWORD, "correct horse battery staple", "v8#Lq!2mZr@p"])
def test_strong_passwords_are_taken(strong: str) -> None:
    assert verify_password(hash_password(strong), strong)


def test_a_password_made_of_the_users_name_is_refused() -> None:
    with pytest.raises(WeakPassword):
        hash_password("adalovelace1815", user_inputs=("adalovelace",))


def login_cookie(client: TestClient, headers: dict[str, str] | None = None) -> str:
    page = client.get("/login", headers=headers)
    data = {"name": "ada", "password": PASSWORD, "csrf": form_csrf(page.text)}
    response = client.post("/login", data=data, headers=headers)
    assert response.status_code == 303
    return next(c for c in response.headers.get_list("set-cookie") if c.startswith("lg_console="))


def test_the_cookie_is_secure_over_https_without_being_told(
    store: SqliteStore, clock: FakeClock
) -> None:
    create_user(store, "ada", Role.ADMIN, PASSWORD, 0)
    app = create_app(store, clock=clock, console=ConsoleSettings())
    with TestClient(app, base_url="https://hub.example", follow_redirects=False) as client:
        assert "Secure" in login_cookie(client)
    with TestClient(app, base_url="http://hub.example", follow_redirects=False) as client:
        assert "Secure" not in login_cookie(client)


def test_the_cookie_is_secure_behind_a_named_https_proxy(
    store: SqliteStore, clock: FakeClock
) -> None:
    """Through the whole app, as from a socket: a named proxy's word is taken, nobody else's."""
    create_user(store, "ada", Role.ADMIN, PASSWORD, 0)
    proxies = parse_networks(["127.0.0.1"])
    app = create_app(store, clock=clock, console=ConsoleSettings(), trusted_proxies=proxies)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5, 127.0.0.1"}

    async def login_from(peer: str) -> str:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            page = await client.get("/login", headers=forwarded)
            data = {"name": "ada", "password": PASSWORD, "csrf": form_csrf(page.text)}
            # The browser behind the proxy speaks HTTPS, so it sends the Secure cookie back.
            prelogin = page.headers["set-cookie"].split(";", 1)[0]
            headers = {**forwarded, "Cookie": prelogin}
            response = await client.post("/login", data=data, headers=headers)
            assert response.status_code == 303
            cookies = response.headers.get_list("set-cookie")
            return next(c for c in cookies if c.startswith("lg_console="))

    assert "Secure" in asyncio.run(login_from("127.0.0.1"))
    assert "Secure" not in asyncio.run(login_from("198.51.100.7"))  # not a named proxy
    ips = [e.detail["ip"] for e in store.audit() if e.action == "login"]
    assert ips == ["198.51.100.7", "203.0.113.5"]  # newest first: the proxy's client, then ours
