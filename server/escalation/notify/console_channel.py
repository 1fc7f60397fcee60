"""The console channel: an in-process fan-out of server-sent events for ``/api/stream``.

``Broadcaster.publish`` may be called from any thread; frames are numbered in publish order and
kept in a small ring so a browser that reconnects with ``Last-Event-ID`` gets what it missed.
Each subscriber has a bounded queue: one that cannot keep up loses its queued frames and gets
a ``resync`` event (refetch the state over the JSON API) instead of slowing the hub down.

Event ids are ``<instance>-<n>``: after a hub restart the instance differs, so a browser's old
Last-Event-ID asks for a resync rather than a replay of unrelated events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from loneguard.server.escalation.notify.notification import DeliveryResult, Notification

log = logging.getLogger(__name__)

KEEPALIVE_FRAME = ": keep-alive\n\n"


def sse_frame(kind: str, data: dict[str, Any], event_id: str | None) -> str:
    """One server-sent event: ``id:``, ``event:``, ``data:`` (one JSON line), a blank line."""
    if not kind or any(c in kind for c in "\r\n:"):
        raise ValueError("event kind must be a non-empty word")
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}event: {kind}\ndata: {body}\n\n"


class _Subscriber:
    """Held strongly only by its frame iterator: an abandoned iterator unsubscribes itself."""

    __slots__ = ("__weakref__", "frames", "wake")

    def __init__(self) -> None:
        self.frames: deque[str] = deque()
        self.wake = asyncio.Event()


class Broadcaster:
    def __init__(
        self,
        *,
        queue_size: int = 256,
        history: int = 256,
        keepalive: float = 15.0,
        instance: str | None = None,
    ) -> None:
        if queue_size < 1 or history < 0 or keepalive <= 0:
            raise ValueError("queue_size >= 1, history >= 0 and keepalive > 0")
        self.queue_size = queue_size
        self.keepalive = keepalive
        self.instance = instance if instance is not None else secrets.token_hex(4)
        self.published = 0
        self.resyncs = 0  # subscribers that fell behind and were told to resync
        self._lock = threading.Lock()
        self._seq = 0
        self._ring: deque[tuple[int, str]] = deque(maxlen=history)
        self._subscribers: weakref.WeakSet[_Subscriber] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> str:
        """Queue an event for every subscriber; returns its id. Safe from any thread."""
        with self._lock:
            self._seq += 1
            event_id = f"{self.instance}-{self._seq}"
            frame = sse_frame(kind, data, event_id)
            self._ring.append((self._seq, frame))
            self.published += 1
            for sub in self._subscribers:
                self._enqueue(sub, frame, event_id)
            loop = self._loop
        self._wake_from_any_thread(loop)
        return event_id

    def subscribe(self, last_event_id: str | None = None) -> AsyncIterator[str]:
        """Frames for one client, from now on (or after ``last_event_id``, from the ring).

        Call it on the event loop. The subscription starts at once, before the first frame is
        read; it ends when the iterator is closed, cancelled or garbage-collected.
        """
        loop = asyncio.get_running_loop()
        sub = _Subscriber()
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = loop
            if last_event_id is not None:
                self._replay(sub, last_event_id)
            self._subscribers.add(sub)
        return self._frames(sub)

    def close(self) -> None:
        """End every subscription (at shutdown): their iterators stop after queued frames."""
        with self._lock:
            self._closed = True
            loop = self._loop
        self._wake_from_any_thread(loop)

    # -- internals ----------------------------------------------------------------------------

    def _replay(self, sub: _Subscriber, last_event_id: str) -> None:
        instance, _, seq_text = last_event_id.strip().rpartition("-")
        oldest = self._ring[0][0] if self._ring else self._seq + 1
        if instance == self.instance and seq_text.isdigit() and oldest - 1 <= int(seq_text):
            seq = int(seq_text)
            if seq <= self._seq:
                sub.frames.extend(frame for n, frame in self._ring if n > seq)
                return
        # Another hub run, a future id, or older than the ring: the client must refetch.
        current = f"{self.instance}-{self._seq}"
        sub.frames.append(sse_frame("resync", {"reason": "missed events"}, current))
        self.resyncs += 1

    def _enqueue(self, sub: _Subscriber, frame: str, event_id: str) -> None:
        if len(sub.frames) >= self.queue_size:
            sub.frames.clear()
            # The resync stands for everything up to and including this event.
            sub.frames.append(sse_frame("resync", {"reason": "slow subscriber"}, event_id))
            self.resyncs += 1
            log.warning("an SSE subscriber fell behind: frames dropped, resync sent")
        else:
            sub.frames.append(frame)

    def _wake_from_any_thread(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if loop is None:
            return  # nobody has subscribed yet: the ring holds the frame
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_all()
        else:
            # RuntimeError: the loop has closed, no one is left to read.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.wake.set()

    async def _frames(self, sub: _Subscriber) -> AsyncIterator[str]:
        try:
            while True:
                sub.wake.clear()
                with self._lock:
                    frame = sub.frames.popleft() if sub.frames else None
                    closed = self._closed
                if frame is not None:
                    yield frame
                    continue
                if closed:
                    return
                try:
                    await asyncio.wait_for(sub.wake.wait(), self.keepalive)
                except TimeoutError:
                    yield KEEPALIVE_FRAME
        finally:
            with self._lock:
                self._subscribers.discard(sub)


class ConsoleChannel:
    """Shows a notification on every open console as an ``alarm_notification`` event."""

    name = "console"

    def __init__(self, broadcaster: Broadcaster) -> None:
        self._broadcaster = broadcaster

    async def send(self, n: Notification) -> DeliveryResult:
        event_id = self._broadcaster.publish(
            "alarm_notification",
            {
                "key": n.key,
                "alarm_id": n.alarm_id,
                "recipient": n.recipient.name,
                "role": n.recipient.role,
                "text": n.text,
            },
        )
        return DeliveryResult(True, f"shown on the console (event {event_id})", retryable=False)


__all__ = ["KEEPALIVE_FRAME", "Broadcaster", "ConsoleChannel", "sse_frame"]
