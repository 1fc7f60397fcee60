"""Notifications through apprise URLs (email, Matrix, ntfy, Signal, webhooks, ...).

apprise is an optional dependency of the hub: it is imported on first use, and a hub without
it reports every apprise attempt as a non-retryable failure instead of failing to start.
Each of a recipient's URLs is tried on its own; a retry of the same notification (same key)
skips the URLs that already took it, so nobody is told twice. The URLs hold credentials: they
never appear in results or logs, only their position in the recipient's list.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import OrderedDict
from types import ModuleType

from loneguard.server.escalation.notify.notification import (
    DeliveryResult,
    Notification,
    Recipient,
)

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 1024  # keys with a partial delivery, kept for their retries


def _load_apprise() -> ModuleType | None:
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


class AppriseChannel:
    name = "apprise"

    def __init__(self, *, title: str = "loneguard alarm") -> None:
        self.title = title
        self._delivered: OrderedDict[str, frozenset[int]] = OrderedDict()

    def gap(self, recipient: Recipient) -> str | None:
        """Why this recipient cannot be reached over apprise at all, or None."""
        if not recipient.apprise_urls:
            return f"no apprise URL for {recipient.role}"
        if _load_apprise() is None:
            return "apprise is not installed"
        return None

    async def send(self, n: Notification) -> DeliveryResult:
        urls = n.recipient.apprise_urls
        if not urls:
            return DeliveryResult(False, f"no apprise URL for {n.recipient.role}", False)
        apprise = _load_apprise()
        if apprise is None:
            return DeliveryResult(False, "apprise not installed", retryable=False)
        already = self._delivered.get(n.key, frozenset())
        title = f"{self.title} {n.alarm_id}"
        outcome = await asyncio.to_thread(_notify_each, apprise, urls, already, title, n.text)
        delivered, invalid = outcome
        total = len(urls)
        failed = total - len(delivered) - len(invalid)
        if failed == 0:
            self._delivered.pop(n.key, None)
        else:
            self._delivered[n.key] = frozenset(delivered)
            self._delivered.move_to_end(n.key)
            while len(self._delivered) > _MAX_REMEMBERED:
                self._delivered.popitem(last=False)
        detail = f"apprise: {len(delivered)} of {total} delivered"
        if invalid:
            detail += f", invalid URL at position {', '.join(str(i + 1) for i in invalid)}"
        if failed:
            detail += f", {failed} failed"
            log.warning(
                "alarm %d: apprise delivery to %s: %s", n.alarm_id, n.recipient.role, detail
            )
            return DeliveryResult(False, detail, retryable=True)
        if not delivered:
            return DeliveryResult(False, detail, retryable=False)  # every URL was invalid
        return DeliveryResult(True, detail, retryable=False)


def _notify_each(
    apprise: ModuleType, urls: tuple[str, ...], already: frozenset[int], title: str, body: str
) -> tuple[set[int], list[int]]:
    """In a worker thread: positions delivered (now or before) and positions not usable."""
    delivered = set(already)
    invalid: list[int] = []
    for i, url in enumerate(urls):
        if i in delivered:
            continue
        target = apprise.Apprise()
        if not target.add(url):
            invalid.append(i)
            continue
        try:
            ok = target.notify(body=body, title=title, notify_type=apprise.NotifyType.FAILURE)
        except Exception as exc:  # a plugin bug must not end the ladder; say which kind
            log.warning("apprise target %d raised %s", i + 1, type(exc).__name__)
            ok = False
        if ok:
            delivered.add(i)
    return delivered, invalid


__all__ = ["AppriseChannel"]
