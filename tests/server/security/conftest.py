"""Shared fixtures: the console's (the security tests use the console and the API together) and
the end-to-end tests' Chromium."""

from tests.e2e.conftest import browser
from tests.server.console.conftest import app_client, keepalive_s, live_console, users

__all__ = ["app_client", "browser", "keepalive_s", "live_console", "users"]
