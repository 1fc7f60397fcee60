"""The apprise sends, run in worker processes of their own (``AppriseChannel`` starts them).

Each message costs apprise about a millisecond of CPU or more (its URL parsed, the request made
with ``requests``). At thousands of alarms at once that work, on threads of the hub's process,
would hold the interpreter lock the event loop and the store's writer need: timers would fire
late and alarms commit late behind notifications. In a worker process it costs the hub only the
hand-over. This module imports nothing of the hub, so a worker starts quickly.

Each URL is parsed once per worker and its ``Apprise`` object kept (``Targets``); apprise is told
not to start a thread pool of its own for every message (``async_mode`` off): the channel already
sends several messages at once, one per worker.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

_MAX_TARGETS = 20_000  # parsed URLs kept: one per recipient URL of a large fleet


def load_apprise() -> ModuleType | None:
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


class Targets:
    """Each URL's ``Apprise`` object, made once (None: apprise cannot use the URL); the least
    recently used are dropped beyond ``_MAX_TARGETS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: OrderedDict[str, Any] = OrderedDict()

    def get(self, apprise: ModuleType, url: str) -> Any:
        with self._lock:
            if url in self._by_url:
                self._by_url.move_to_end(url)
                return self._by_url[url]
        target = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        found = target if target.add(url) else None
        with self._lock:
            self._by_url[url] = found
            while len(self._by_url) > _MAX_TARGETS:
                self._by_url.popitem(last=False)
        return found


def _notify_each(
    apprise: ModuleType,
    targets: Targets,
    urls: tuple[str, ...],
    already: frozenset[int],
    title: str,
    body: str,
) -> tuple[set[int], list[int]]:
    """In a worker thread: positions delivered (now or before) and positions not usable."""
    delivered = set(already)
    invalid: list[int] = []
    for i, url in enumerate(urls):
        if i in delivered:
            continue
        target = targets.get(apprise, url)
        if target is None:
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


_TARGETS = Targets()  # this worker process's


def notify_in_worker(
    urls: tuple[str, ...], already: frozenset[int], title: str, body: str
) -> tuple[set[int], list[int]]:
    """In a worker process: positions delivered (now or before) and positions not usable."""
    apprise = load_apprise()
    if apprise is None:
        return set(already), []  # the hub checks first: this worker cannot be without it
    return _notify_each(apprise, _TARGETS, urls, already, title, body)


def warm() -> bool:
    """In a worker process, before any alarm: import apprise and its plugins (a few hundred
    milliseconds the first notification would otherwise wait)."""
    apprise = load_apprise()
    if apprise is None:
        return False
    apprise.Apprise().add("json://localhost/")
    return True


__all__ = ["load_apprise", "notify_in_worker", "warm"]
