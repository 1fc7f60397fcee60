"""A stand-in for the ARC link (``arc.events.ArcSink``) that records every hand-over.

It does NOT merge repeated events by key, as the real link does: a test sees every ``deliver``
and ``enqueue`` the escalation makes, so one too many shows.
"""

from __future__ import annotations

from collections.abc import Callable

from loneguard.server.arc.events import ArcAlarmEvent, ArcLinkState
from loneguard.server.escalation.notify.notification import DeliveryResult

Listener = Callable[[ArcLinkState], None]


class FakeArcSink:
    def __init__(self, *, configured: bool = True, acks: bool = True) -> None:
        self._configured = configured
        self.acks = acks  # False: every first round goes unanswered (the link keeps trying)
        self.delivered: list[ArcAlarmEvent] = []
        self.enqueued: list[ArcAlarmEvent] = []
        self._state = ArcLinkState(configured=configured, up=configured)
        self._listeners: list[Listener] = []

    @property
    def configured(self) -> bool:
        return self._configured

    async def deliver(self, event: ArcAlarmEvent) -> DeliveryResult:
        self.delivered.append(event)
        if self.acks:
            return DeliveryResult(True, "acked by the primary receiver")
        return DeliveryResult(False, "primary: timeout; backup: refused", retryable=False)

    def enqueue(self, event: ArcAlarmEvent) -> None:
        self.enqueued.append(event)

    def state(self) -> ArcLinkState:
        return self._state

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def change(self, state: ArcLinkState) -> None:
        """The link's state changes (an ack, a failed supervision test): listeners hear."""
        self._state = state
        for listener in self._listeners:
            listener(state)
