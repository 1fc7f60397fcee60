"""Another copy of an event id that is already stored: a duplicate, a completion, or a refusal.

An event is stored once per (device, id). A panic or duress may arrive first by the SMS fallback
line, which carries neither the device's ``seq`` nor the location; the device's MQTT copy of the
same id then completes the stored record (its ``seq`` and body, so its location) and the path is
added to ``links``, all audited as ``event.completed``. It opens nothing a second time. A copy by a
path already on record changes nothing. Ids are each device's own: the same id from another
device is another event, stored beside it, so no device can take, block or pass for another
device's event.
"""

from __future__ import annotations

import json
from typing import Any

from loneguard.protocol.messages import Event, Link
from loneguard.server.store.records import EventOutcome, EventRow
from loneguard.server.store.sql import Connection, audit, for_update, to_json

EVENT_COLUMNS = "id, device_id, kind, ts_ms, seq, link, received_ms, body, links"
LINKS_SEPARATOR = ","


def event_row(row: tuple[Any, ...]) -> EventRow:
    """An ``EventRow`` from a row of ``EVENT_COLUMNS``."""
    links = tuple(path for path in str(row[8]).split(LINKS_SEPARATOR) if path)
    return EventRow(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]), links
    )


def complete_event(
    conn: Connection, device_id: str, event: Event, received_ms: int
) -> EventOutcome:
    """Handle ``event`` whose id the insert found stored already; in the writer's transaction."""
    row = conn.execute(
        f"SELECT seq, links FROM events WHERE device_id = ? AND id = ?{for_update(conn)}",
        (device_id, event.id),
    ).fetchone()
    if row is None:  # cannot happen: the insert conflicted on this (device, id)
        return EventOutcome(inserted=False)
    stored_seq, stored_links = row
    links = [path for path in str(stored_links).split(LINKS_SEPARATOR) if path]
    path = str(event.link)
    if path in links:
        return EventOutcome(inserted=False)  # a plain redelivery
    links.append(path)
    detail: dict[str, Any] = {"link": path, "links": links}
    if event.link == Link.MQTT:
        # The device's own copy: its seq and location are the real ones; the SMS line has none.
        conn.execute(
            "UPDATE events SET links = ?, seq = ?, body = ? WHERE device_id = ? AND id = ?",
            (LINKS_SEPARATOR.join(links), event.seq, to_json(event.to_json()), device_id, event.id),
        )
        detail["seq"] = {"from": stored_seq, "to": event.seq}
        detail["location"] = event.location is not None  # that it came, never where
    else:
        conn.execute(
            "UPDATE events SET links = ? WHERE device_id = ? AND id = ?",
            (LINKS_SEPARATOR.join(links), device_id, event.id),
        )
    audit(conn, received_ms, f"device:{device_id}", "event.completed", event.id, detail)
    return EventOutcome(inserted=False, completed=True)
