"""Tell the line manager at once when an incident is reported (CIC App.1 1.8).

The worker's line manager (``Worker.line_manager``) is told through their apprise URLs (email,
Signal, ntfy, a webhook...), with the same channel and retries as alarms, and open consoles see
it on the live stream. Each attempt's outcome (never the URL or the text) goes to the audit log
as ``incident.notify``. No line manager on record: that is audited too, so the review sees it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from loneguard.protocol.clock import Clock
from loneguard.server.escalation.notify import (
    AppriseChannel,
    Broadcaster,
    Channel,
    DeliveryResult,
    Dispatcher,
    Notification,
    Recipient,
)
from loneguard.server.store import Store, Worker
from loneguard.server.store.safety_records import Incident

log = logging.getLogger(__name__)

TITLE = "loneguard incident"
WHAT_CHARS = 300


def incident_text(incident: Incident, worker: Worker | None, when: Callable[[int], str]) -> str:
    """What the line manager reads: who, where, what, and how to take it up."""
    who = worker.name if worker else "no worker named"
    kind = str(incident.kind).replace("_", " ")
    what = incident.what if len(incident.what) <= WHAT_CHARS else incident.what[:WHAT_CHARS] + "…"
    lines = [
        f"Incident #{incident.id} reported: {kind}, {incident.severity} severity.",
        f"Worker: {who}. When: {when(incident.occurred_ms)}.",
    ]
    if incident.address:
        lines.append(f"Where: {incident.address}.")
    lines.append(f"What happened: {what}")
    if incident.immediate_actions:
        lines.append(f"Done at once: {incident.immediate_actions}")
    lines.append(
        f"Reported by {incident.reported_by}. Open /console/incidents/{incident.id}"
        " to name who investigates."
    )
    return "\n".join(lines)


class LineManagerNotice:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        channel: Channel | None = None,
        broadcaster: Broadcaster | None = None,
        when: Callable[[int], str] = str,
    ) -> None:
        self._store = store
        self._clock = clock
        self._broadcaster = broadcaster
        self._when = when
        channel = channel or AppriseChannel(title=TITLE)
        self._dispatcher = Dispatcher({"apprise": channel}, clock, self._record)
        self._tasks: set[asyncio.Task[DeliveryResult | None]] = set()

    async def reported(self, incident: Incident) -> DeliveryResult | None:
        """Send the notice (retries continue in the background); None: nobody to tell."""
        if self._broadcaster is not None:
            self._broadcaster.publish(
                "incident", {"id": incident.id, "severity": str(incident.severity)}
            )
        worker = self._store.worker(incident.worker_id) if incident.worker_id else None
        manager_id = worker.line_manager if worker else None
        manager = self._store.worker(manager_id) if manager_id else None
        if manager is None or not manager.apprise_urls:
            reason = "no line manager on record" if manager is None else "no apprise URL"
            await self._audit({"result": f"not sent: {reason}"}, f"incident:{incident.id}")
            return None
        notice = Notification(
            key=f"incident:{incident.id}:line_manager:{manager.id}",
            alarm_id=incident.id,  # the dispatcher's grouping key: this notice's incident
            channel="apprise",
            recipient=Recipient(manager.name, "line_manager", manager.mobile, manager.apprise_urls),
            text=incident_text(incident, worker, self._when),
        )
        return await self._dispatcher.dispatch(notice)

    async def report_soon(self, incident: Incident) -> None:
        """Send the notice in the background: a slow mail server never holds up the reporter."""
        task = asyncio.get_running_loop().create_task(self.reported(incident))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._dispatcher.aclose()

    async def _record(self, n: Notification, attempt: int, result: DeliveryResult) -> None:
        detail = {
            "to": n.recipient.name,
            "attempt": attempt,
            "ok": result.ok,
            "result": result.detail,
        }
        await self._audit(detail, f"incident:{n.alarm_id}")

    async def _audit(self, detail: dict[str, object], subject: str) -> None:
        future = self._store.append_audit(
            self._clock.wall_ms(), "hub", "incident.notify", subject, detail
        )
        try:
            await asyncio.wrap_future(future)
        except Exception as exc:  # the notice matters more than its log line
            log.error("incident notice: audit failed: %s", type(exc).__name__)
