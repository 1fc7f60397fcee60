"""A person takes charge of an alarm from their phone: by an SMS reply or a 1 pressed on a call.

The acknowledgement is recorded in that person's name exactly as one made on the console
(actor ``sms`` or ``call``) and stops the ladder at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from loneguard.protocol.clock import Clock
from loneguard.server.store import Alarm, AlarmConflict, AlarmNotFound, Store

log = logging.getLogger(__name__)


class AlarmAcks:
    def __init__(
        self, store: Store, clock: Clock, on_acknowledged: Callable[[Alarm], None]
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_acknowledged = on_acknowledged

    async def acknowledge(self, alarm_id: int, name: str, actor: str) -> str | None:
        """Acknowledge ``alarm_id`` as ``name``; None when done, else why not (safe to log)."""
        future = self._store.acknowledge_alarm(alarm_id, name, self._clock.wall_ms(), actor)
        try:
            alarm = await asyncio.wrap_future(future)
        except AlarmNotFound:
            return f"there is no alarm {alarm_id}"
        except AlarmConflict as exc:
            log.info("alarm %d: %s could not take charge by %s: %s", alarm_id, name, actor, exc)
            return str(exc)
        self._on_acknowledged(alarm)
        return None

    async def take_charge_by_call(self, alarm_id: int, name: str) -> str:
        """For the call channel: what happened, for the call's result on the timeline."""
        refused = await self.acknowledge(alarm_id, name, "call")
        return f"{name} took charge" if refused is None else f"not taken: {refused}"
