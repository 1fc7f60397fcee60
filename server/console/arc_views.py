"""What the console shows of the Alarm Receiving Centre's link: the red banner while alarms are
not reaching the ARC, the link's state, an alarm's ARC messages and their attempts, and the
worker → zone sheet the ARC keeps on its account. Plain functions and small rows.

The link is down when a message (a 602 supervision test or an alarm) reached no receiver; the
banner stays on every console page until a receiver acks again (``health.arc_link_problem``).
"""

from __future__ import annotations

from dataclasses import dataclass

from loneguard.server.arc.contact_id import ContactIdEvent
from loneguard.server.arc.events import ArcLinkState
from loneguard.server.escalation.health import arc_link_problem
from loneguard.server.store import Store
from loneguard.server.store.arc_records import ArcMessage

# What each outcome of an attempt means to the office (arc.transmitter's outcomes).
OUTCOME_WORDS = {
    "ack": "acked",
    "nak": "refused (NAK)",
    "duh": "not understood (DUH)",
    "timeout": "no answer",
    "refused": "connection refused",
    "error": "error",
}


@dataclass(frozen=True)
class ArcBanner:
    """The console alarm while the link is down: whom to ring, since when, and why."""

    phone: str
    down_since_ms: int | None
    problem: str


def arc_banner(state: ArcLinkState, phone: str) -> ArcBanner | None:
    problem = arc_link_problem(state)
    if problem is None:
        return None
    return ArcBanner(phone, state.down_since_ms, problem)


def link_status(state: ArcLinkState) -> str:
    """One word for the link: not configured, up, down, or not yet confirmed."""
    if not state.configured:
        return "not configured"
    if state.up:
        return "up"
    return "down" if arc_link_problem(state) is not None else "not yet confirmed"


def contact_id_text(message: ArcMessage) -> str:
    """The event as the ARC's screen shows it: ``1120 01 003``."""
    try:
        event = ContactIdEvent(message.qualifier, message.code, message.partition, message.zone)
    except ValueError:
        return f"{message.qualifier}{message.code:03d}"  # the store holds what was sent
    return event.text()


@dataclass(frozen=True)
class ArcEntry:
    """One line of an alarm's timeline about the ARC."""

    at_ms: int
    who: str
    what: str
    detail: str


def alarm_arc_entries(store: Store, alarm_id: int) -> list[ArcEntry]:
    """The alarm's ARC messages (its open event, its restoral) and every attempt at each."""
    entries = []
    for message in store.arc_messages(alarm_id=alarm_id):
        what = "ARC restoral" if message.qualifier == 3 else "ARC message"
        entries.append(
            ArcEntry(
                message.created_ms,
                "hub",
                f"{what} stored",
                f"Contact ID {contact_id_text(message)}, account {message.account}, "
                f"sequence {message.sequence:04d}: {message.state}",
            )
        )
        for attempt in store.arc_attempts(message.id):
            entries.append(
                ArcEntry(
                    attempt.finished_ms,
                    f"ARC {attempt.receiver} receiver",
                    f"{what} {OUTCOME_WORDS.get(attempt.outcome, attempt.outcome)}",
                    f"sequence {message.sequence:04d}: {attempt.detail}",
                )
            )
    return entries


@dataclass(frozen=True)
class ZoneLine:
    zone: int
    worker_id: str
    name: str


def zone_sheet(store: Store) -> tuple[list[ZoneLine], list[str]]:
    """Each zone and its worker (by zone), and the workers with no zone yet (by name)."""
    names = {w.id: w.name for w in store.workers()}
    lines = [
        ZoneLine(z.zone, z.worker_id, names.get(z.worker_id, z.worker_id))
        for z in store.arc_zones()
    ]
    zoned = {line.worker_id for line in lines}
    return lines, sorted(name for wid, name in names.items() if wid not in zoned)


__all__ = [
    "ArcBanner",
    "ArcEntry",
    "ZoneLine",
    "alarm_arc_entries",
    "arc_banner",
    "contact_id_text",
    "link_status",
    "zone_sheet",
]
