"""The console's fixtures, shared: the security tests use the console and the API together."""

from tests.server.console.conftest import app_client, keepalive_s, live_console, users

__all__ = ["app_client", "keepalive_s", "live_console", "users"]
