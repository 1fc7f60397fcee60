"""The ``arc`` channel: an alarm's events handed to the Alarm Receiving Centre's link.

The runtime makes ONE ``arc`` row per alarm, keyed ``alarm:<id>:open`` (``ArcAlarmEvent.key_for``)
whichever steps, repeats and recipients name the channel; ``send`` turns it into an
``ArcAlarmEvent`` (the alarm's kind, worker, device and last GNSS fix) and hands it to the link
(``arc.events.ArcSink``), which stores it, numbers it, sends it and resends it until the ARC
acks. So a first round the ARC did not ack is ``handed_over``, not failed: the dispatcher never
retries it, and a person taking charge never stops it (the ARC has been told; it hears the end
as a restoral). ``alarm_changed`` hands over that restoral (``alarm:<id>:restore``) when an
alarm whose open event went to the ARC is resolved.

Covert duress goes to the ARC like any alarm (Contact ID 121 is how an ARC learns the worker
may be watched); nothing here reaches the device. The worker's name never goes to the link:
the link maps the worker's id to a zone number (``docs/arc.md``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Final

from loneguard.server.arc.contact_id import ALARM_CODES
from loneguard.server.arc.events import ArcAlarmEvent, ArcEventKind, ArcSink
from loneguard.server.escalation.facts import alarm_facts
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification, Recipient
from loneguard.server.store import Alarm, AlarmState, NotificationState, Store

log = logging.getLogger(__name__)

CHANNEL: Final = "arc"
ARC_RECIPIENT: Final = Recipient("the ARC", "arc")
ARC_REF: Final = "arc"  # the rows' recipient_ref: there is one ARC (and its backup receiver)
NOT_CONFIGURED: Final = "no ARC is configured (arc.primary)"

# What the ARC is told, as the alarm page and the audit log say it (Contact ID, SIA DC-05).
_CODE_WORDS: Final = {
    120: "Panic",
    121: "Duress",
    102: "Fail to report in",
    381: "Loss of supervision",
}


def row_text(kind: str) -> str:
    """The arc row's text: the Contact ID event the alarm becomes, e.g. ``120 Panic``."""
    code = ALARM_CODES.get(kind)
    if code is None:
        return f"{kind}: no Contact ID event for this kind of alarm"
    return f"Contact ID {code} {_CODE_WORDS.get(code, '')} to the Alarm Receiving Centre"


def arc_event(store: Store, alarm: Alarm, event: ArcEventKind, occurred_ms: int) -> ArcAlarmEvent:
    """The alarm as the link takes it: kind, worker, device and (for the open event) the fix."""
    fix = alarm_facts(store, alarm, covert=False).fix if event == "open" else None
    return ArcAlarmEvent(
        key=ArcAlarmEvent.key_for(alarm.id, event),
        alarm_id=alarm.id,
        alarm_kind=str(alarm.kind),
        event=event,
        worker_id=alarm.worker_id,
        device_id=alarm.device_id,
        occurred_ms=occurred_ms,
        location=(fix.lat, fix.lon) if fix is not None else None,
    )


class ArcChannel:
    """Sends an alarm's ``arc`` row through ``sink`` (the ARC link)."""

    name = CHANNEL

    def __init__(self, sink: ArcSink, store: Store) -> None:
        self._sink = sink
        self._store = store

    def gap(self, recipient: Recipient) -> str | None:
        return None if self._sink.configured else NOT_CONFIGURED

    async def send(self, n: Notification) -> DeliveryResult:
        alarm = self._store.alarm(n.alarm_id)
        if alarm is None:
            return DeliveryResult(False, f"no alarm {n.alarm_id} in the store", retryable=False)
        started = alarm.started_ms if alarm.started_ms is not None else alarm.opened_ms
        result = await self._sink.deliver(arc_event(self._store, alarm, "open", started))
        if result.ok:
            return replace(result, retryable=False)
        # The link has stored it and keeps sending until the ARC acks: not a failure here.
        return replace(result, retryable=False, handed_over=True)

    def alarm_changed(self, alarm: Alarm) -> None:
        """An alarm whose open event went to the ARC is over for the ARC: hand over its
        restoral. Over means resolved, or (overdue, missed check-in) the worker checked in:
        the ARC must not send help to a worker who has reported in, even while the office
        still has the alarm open to look into. The link keeps one restoral per alarm (its
        key), so the resolve after a check-in sends nothing more."""
        if not self._sink.configured:
            return
        if alarm.checked_in_ms is not None:
            at = alarm.checked_in_ms  # resolved since or not, the restoral is the check-in
        elif alarm.state == AlarmState.RESOLVED:
            at = alarm.resolved_ms if alarm.resolved_ms is not None else alarm.opened_ms
        else:
            return
        if not self.went_to_arc(alarm.id):
            return
        self._sink.enqueue(arc_event(self._store, alarm, "restore", at))
        log.info("alarm %d: restoral handed to the ARC link", alarm.id)

    def went_to_arc(self, alarm_id: int) -> bool:
        """The alarm's open event was handed to the ARC link (sent, or being sent)."""
        return any(
            row.channel == CHANNEL and row.state != NotificationState.NOT_CONFIGURED
            for row in self._store.notifications(alarm_id)
        )


__all__ = ["ARC_RECIPIENT", "ARC_REF", "CHANNEL", "NOT_CONFIGURED", "ArcChannel", "arc_event"]
