"""From what the hub knows to what the ARC receives, pure: an alarm event becomes a stored
message (its Contact ID code, the account, the worker whose zone it carries, the location), a
stored message becomes the DC-09 frame of each attempt, and a failed round sets the next one.
"""

from __future__ import annotations

from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.arc.contact_id import ContactIdEvent, for_alarm, periodic_test
from loneguard.server.arc.dc09 import Account, Dc09Error, Dc09Frame, Location
from loneguard.server.arc.events import ArcAlarmEvent
from loneguard.server.store.arc_records import ArcMessage, NewArcMessage

# A failed round of an alarm message is tried again after 5 s, then 10, 20, 40, then every 60 s,
# forever: an alarm is never given up on while the hub runs (nor after: it is in the store).
RETRY_FIRST_S = 5.0
RETRY_MAX_S = 60.0


def account_for(settings: ArcSettings, device_id: str | None) -> str:
    """The device's own account where the ARC gave it one, else the organisation's."""
    if device_id is not None and device_id in settings.device_accounts:
        return settings.device_accounts[device_id]
    return settings.account


def alarm_message(event: ArcAlarmEvent, settings: ArcSettings) -> NewArcMessage:
    """The stored message of an alarm event; KeyError names an alarm kind with no code."""
    cid = for_alarm(
        event.alarm_kind, zone=0, group=settings.group, restore=event.event == "restore"
    )
    latitude, longitude = event.location if event.location is not None else (None, None)
    return NewArcMessage(
        key=event.key,
        alarm_id=event.alarm_id,
        qualifier=cid.qualifier,
        code=cid.code,
        partition=cid.group,
        account=account_for(settings, event.device_id),
        occurred_ms=event.occurred_ms,
        worker_id=event.worker_id,
        latitude=latitude,
        longitude=longitude,
    )


def test_message(due_ms: int, settings: ArcSettings) -> NewArcMessage:
    """The periodic test (602) due at ``due_ms``: one per due time, whichever hub sends it."""
    cid = periodic_test(group=settings.group)
    return NewArcMessage(
        key=f"test:{due_ms}",
        alarm_id=None,
        qualifier=cid.qualifier,
        code=cid.code,
        partition=cid.group,
        account=settings.account,
        occurred_ms=due_ms,
    )


def frame_of(message: ArcMessage, settings: ArcSettings) -> Dc09Frame:
    """The DC-09 frame of a stored message: its own sequence number on every attempt."""
    location = None
    if message.latitude is not None and message.longitude is not None:
        try:
            location = Location(message.latitude, message.longitude)
        except Dc09Error:
            location = None  # a fix out of range: the alarm goes without it
    return Dc09Frame.adm_cid(
        message.sequence,
        Account(message.account),
        ContactIdEvent(message.qualifier, message.code, message.partition, message.zone),
        line=settings.line,
        receiver=settings.receiver or None,
        location=location,
    )


def retry_after_s(rounds_failed: int) -> float:
    """How long after its ``rounds_failed``-th failed round a message is tried again."""
    return min(RETRY_FIRST_S * 2.0 ** max(rounds_failed - 1, 0), RETRY_MAX_S)
