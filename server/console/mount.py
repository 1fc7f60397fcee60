"""Adds the console to the hub's FastAPI app."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from loneguard.protocol.clock import Clock
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.error_pages import install_error_pages
from loneguard.server.console.routes import console_router, static_files
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.escalation.policy import Policy
from loneguard.server.store import Store


def mount_console(
    app: FastAPI,
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    settings: ConsoleSettings | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> None:
    """Add the console's pages to ``app``."""
    app.include_router(console_router(store, clock, hooks, settings, policies))
    app.mount("/console/static", static_files(), name="console-static")
    install_error_pages(app, store, clock)
