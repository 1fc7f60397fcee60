"""The console's banner of policy steps whose channel is not configured (escalation.health)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loneguard.protocol.clock import FakeClock
from loneguard.server.api import create_app
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.store.sqlite import SqliteStore
from tests.server.console.conftest import log_in

GAP = "sms to every recipient: no modem is configured (modem.port) (in panic step 1)"


def test_the_console_shows_the_gaps_in_a_banner(
    store: SqliteStore, clock: FakeClock, users: None
) -> None:
    hooks = ApiHooks(channel_gaps=lambda: (GAP,))
    app = create_app(store, clock=clock, hooks=hooks, console=ConsoleSettings())
    with TestClient(app, follow_redirects=False) as client:
        assert "channel-health" not in client.get("/login").text  # not before logging in
        log_in(client, "vic")
        page = client.get("/console").text
        assert 'id="channel-health"' in page
        assert "Not configured" in page and "no modem is configured (modem.port)" in page
