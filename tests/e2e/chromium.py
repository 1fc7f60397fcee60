"""Helpers for the console's tests in a real Chromium (Debian's, driven by Playwright).

Screenshots for review go to ``$LONEGUARD_ARTIFACTS`` when it is set (CI sets it and keeps the
folder); without it nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from loneguard.server.hub import HubThread

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long enough password"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (scripts/setup installs it)",
)


def artifacts() -> Path | None:
    """The folder for screenshots and measurements, from ``$LONEGUARD_ARTIFACTS``; None: unset."""
    value = os.environ.get("LONEGUARD_ARTIFACTS")
    if not value:
        return None
    folder = Path(value)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Page, name: str) -> None:
    """Save the whole page as ``name`` in ``$LONEGUARD_ARTIFACTS``, if set."""
    folder = artifacts()
    if folder is not None:
        page.screenshot(path=folder / name, full_page=True)


def log_in(page: Page, hub: HubThread, name: str = "ada") -> None:
    page.goto(f"{hub.http_url}/console")
    expect(page).to_have_url(f"{hub.http_url}/login?next=/console")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{hub.http_url}/console")
    expect(page.locator("#live")).to_have_text("live")  # the SSE stream is open
