"""What a person handling a panic shows on the worker's unit: help is coming, then all clear.

The hub acks a panic ``help_coming`` when it stores it (``ingest.pipeline``). When a person takes
charge the same ack goes again (a unit that rebooted, or whose panic went by SMS, shows it now),
and when the alarm is resolved an ack ``resolved`` for the panic's event clears the unit's
"help coming" pattern (the wire contract's ``dev/{id}/ack``). A duress sends nothing, ever: the
unit must look exactly as after a check-in. Other alarms were not raised from the unit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from loneguard.protocol.messages import Ack, AckStatus
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.ingest.pipeline import ACK_QOS, Publisher
from loneguard.server.store import Alarm, AlarmKind, AlarmState

log = logging.getLogger(__name__)

_STATUS_AFTER = {
    AlarmState.ACKNOWLEDGED: AckStatus.HELP_COMING,
    AlarmState.RESOLVED: AckStatus.RESOLVED,
}


def unit_ack(alarm: Alarm) -> tuple[str, Ack] | None:
    """The ack to send the unit for this change of the alarm (topic, ack), or None."""
    if alarm.kind != AlarmKind.PANIC or alarm.event_id is None or alarm.device_id is None:
        return None  # never for a duress, and only alarms raised from a unit
    status = _STATUS_AFTER.get(alarm.state)
    if status is None:
        return None
    return str(DeviceTopic(alarm.device_id, Channel.ACK)), Ack(alarm.event_id, status)


class UnitFeedback:
    """Sends ``unit_ack`` of each changed alarm to its unit over MQTT (QoS 1)."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._tasks: set[asyncio.Task[Any]] = set()

    def alarm_changed(self, alarm: Alarm) -> None:
        found = unit_ack(alarm)
        if found is None:
            return
        topic, ack = found
        task = asyncio.get_running_loop().create_task(self._send(alarm.id, topic, ack))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, alarm_id: int, topic: str, ack: Ack) -> None:
        try:
            await self._publisher.publish(topic, ack.encode(), qos=ACK_QOS)
        except Exception as exc:  # the unit clears "help coming" at its next check-in anyway
            log.warning("alarm %d: could not tell the unit %s: %s", alarm_id, ack.status, exc)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
