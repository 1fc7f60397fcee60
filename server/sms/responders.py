"""SMS from people: ``ACK <alarm id>`` from a known number takes charge of the alarm.

The sender's number must belong to a worker (their mobile) or to a person configured under
``[escalation]``; the acknowledgement is recorded in that person's name, exactly as one made
on the console, and stops the ladder at once. Unknown numbers get no reply. Numbers are compared
in E.164 (``server.phone``): the sender as the network gives it and the stored numbers, even
those an older hub stored nationally, are read in the hub's default region first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from loneguard.protocol.clock import Clock
from loneguard.server.config import Person
from loneguard.server.escalation.alarm_acks import AlarmAcks
from loneguard.server.phone import DEFAULT_REGION, legacy
from loneguard.server.store import Alarm, Store

log = logging.getLogger(__name__)


class SmsAcks:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        people: tuple[Person, ...],
        on_acknowledged: Callable[[Alarm], None],
        *,
        region: str = DEFAULT_REGION,
    ) -> None:
        self._region = region
        self._store = store
        self._people = people
        self._acks = AlarmAcks(store, clock, on_acknowledged)

    def who(self, sender: str) -> str | None:
        """The name behind a number, or None for a stranger."""
        wanted = legacy(sender, self._region)
        if not wanted:
            return None
        for worker in self._store.workers():
            if legacy(worker.mobile, self._region) == wanted:
                return worker.name
        for person in self._people:
            if legacy(person.phone, self._region) == wanted:
                return person.name
        return None

    async def on_ack(self, alarm_id: int, sender: str) -> str | None:
        name = self.who(sender)
        if name is None:
            log.warning("ACK for alarm %d from an unknown number ignored", alarm_id)
            return None
        refused = await self._acks.acknowledge(alarm_id, name, "sms")
        if refused is not None:
            return f"loneguard: {refused}."
        return f"loneguard: alarm {alarm_id} is yours, {name}. Resolve it on the console."
