"""Notifications through apprise URLs (email, Matrix, ntfy, Signal, webhooks, ...).

apprise is an optional dependency of the hub: it is imported on first use, and a hub without
it reports every apprise attempt as a non-retryable failure instead of failing to start.
Each of a recipient's URLs is tried on its own; a retry of the same notification (same key)
skips the URLs that already took it, so nobody is told twice. The URLs hold credentials: they
never appear in results or logs, only their position in the recipient's list.

The sends themselves run in worker processes (``escalation.apprise_worker``), started on the
first send: at thousands of alarms at once, apprise's CPU must not hold the interpreter lock the
hub's event loop and store writer need. A worker that dies fails its attempt (retryable) and a
fresh pool is started for the next.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from loneguard.server.escalation.apprise_worker import load_apprise, notify_in_worker, warm
from loneguard.server.escalation.notify.notification import (
    DeliveryResult,
    Notification,
    Recipient,
)

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 1024  # keys with a partial delivery, kept for their retries
WORKERS = 2  # worker processes, each sending one message at a time


class AppriseChannel:
    name = "apprise"

    def __init__(self, *, title: str = "loneguard alarm", workers: int = WORKERS) -> None:
        self.title = title
        self._delivered: OrderedDict[str, frozenset[int]] = OrderedDict()
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # the hub's start warms it up from a thread

    def gap(self, recipient: Recipient) -> str | None:
        """Why this recipient cannot be reached over apprise at all, or None."""
        if not recipient.apprise_urls:
            return f"no apprise URL for {recipient.role}"
        if load_apprise() is None:
            return "apprise is not installed"
        return None

    async def send(self, n: Notification) -> DeliveryResult:
        urls = n.recipient.apprise_urls
        if not urls:
            return DeliveryResult(False, f"no apprise URL for {n.recipient.role}", False)
        if load_apprise() is None:
            return DeliveryResult(False, "apprise not installed", retryable=False)
        already = self._delivered.get(n.key, frozenset())
        title = f"{self.title} {n.alarm_id}"
        try:
            delivered, invalid = await asyncio.get_running_loop().run_in_executor(
                self._worker_pool(), notify_in_worker, urls, already, title, n.text
            )
        except BrokenProcessPool:
            self.shutdown()  # the next send starts a fresh pool
            return DeliveryResult(False, "apprise worker stopped", retryable=True)
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

    def warm_up(self) -> None:
        """Start the worker processes now (at the hub's start, when someone has an apprise
        URL), so the first alarm's notification does not wait for them to start."""
        if load_apprise() is None:
            return
        pool = self._worker_pool()
        for _ in range(self._workers):
            pool.submit(warm)

    def shutdown(self) -> None:
        """Stop the worker processes (at the hub's stop); a later send starts new ones."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _worker_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                # spawn, not fork: the hub's threads (the store's writer, the clock's) must not
                # be copied half-way through their work.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self._workers, mp_context=context)
            return self._pool


__all__ = ["AppriseChannel"]
