"""The delivery manager's copy: every visit planned, changed or cancelled is sent to the
``[delivery_manager]`` recipients, by apprise (email through a ``mailto://`` URL, or any other)
and as a one-SMS summary through the hub's modem.

Each copy to each recipient is a row in ``arrangement_copies``, written ``pending`` before the
attempt and ``sent`` or ``failed`` (with a reason that names no URL or number) after it, so a
failure is on record and on the visit's page, never silent. The sending runs in the background:
the planner's answer does not wait for a mail server.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
from collections.abc import Callable
from types import ModuleType

from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock
from loneguard.server.outreach import arrangement_text
from loneguard.server.outreach.arrangement_text import Arrangement
from loneguard.server.outreach.outreach_settings import DeliveryManagerSettings
from loneguard.server.store import Session, Store
from loneguard.server.store.outreach_records import ArrangementChange

log = logging.getLogger(__name__)

# The visit's risk rating, where a risk assessment gives one (None: the copy leaves it out).


def _load_apprise() -> ModuleType | None:
    try:
        return importlib.import_module("apprise")
    except ImportError:
        return None


def send_apprise(url: str, title: str, body: str) -> tuple[bool, str]:
    """One apprise URL, in a worker thread: delivered, and a detail safe to store."""
    apprise = _load_apprise()
    if apprise is None:
        return False, "apprise not installed"
    target = apprise.Apprise()
    if not target.add(url):
        return False, "invalid apprise URL"
    try:
        ok = bool(target.notify(body=body, title=title, notify_type=apprise.NotifyType.INFO))
    except Exception as exc:  # a plugin bug must not end the others; say which kind
        return False, f"apprise raised {type(exc).__name__}"
    return ok, "delivered" if ok else "not delivered (the service refused or did not answer)"


class ManagerCopies:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: DeliveryManagerSettings,
        *,
        modem: Modem | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._modem = modem
        self._tasks: set[asyncio.Task[None]] = set()
        if not settings.apprise_urls and not settings.sms:
            log.warning(
                "no delivery manager is configured ([delivery_manager]): visit arrangements "
                "are not copied (CIC App.1 1.1)"
            )

    def arranged(self, change: ArrangementChange, visit: Session, by: str) -> None:
        """Send the copy of ``visit``'s arrangements in the background (on the running loop)."""
        task = asyncio.create_task(self.send(change, visit, by), name=f"copy-{visit.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every copy under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send(self, change: ArrangementChange, visit: Session, by: str) -> None:
        try:
            arrangement = self._arrangement(change, visit, by)
        except Exception:
            log.exception("visit %d: could not write the delivery manager's copy", visit.id)
            return
        subject, text = arrangement_text.title(arrangement), arrangement_text.body(arrangement)
        summary = arrangement_text.sms_summary(arrangement)
        attempts: list[tuple[str, str, Callable[[], tuple[bool, str]]]] = [
            (
                "apprise",
                f"config:apprise_urls[{i}]",
                functools.partial(send_apprise, u, subject, text),
            )
            for i, u in enumerate(self._settings.apprise_urls, 1)
        ]
        attempts += [
            ("sms", f"config:sms[{i}]", functools.partial(self._send_sms, phone, summary))
            for i, phone in enumerate(self._settings.sms, 1)
        ]
        for channel, recipient, attempt in attempts:
            await self._attempt(visit.id, change, channel, recipient, attempt)

    def _arrangement(self, change: ArrangementChange, visit: Session, by: str) -> Arrangement:
        worker = self._store.worker(visit.worker_id) if visit.worker_id else None
        plan = self._store.visit_plans().get(visit.id)
        assessment = self._store.risk_assessment(visit.id)
        return Arrangement(
            change,
            visit,
            worker.name if worker else (visit.worker_id or "unknown worker"),
            plan.planned_start_ms if plan is not None else visit.started_ms,
            by,
            str(assessment.rating) if assessment is not None else None,
        )

    def _send_sms(self, phone: str, text: str) -> tuple[bool, str]:
        if self._modem is None:
            return False, "no modem (modem.port is not set)"
        try:
            reference = self._modem.send_sms(phone, text)
        except ValueError:
            return False, "invalid phone number"
        except Exception as exc:  # ModemError names the command, never the number
            return False, f"SMS failed: {type(exc).__name__}"
        return True, f"SMS sent (mr {reference})"

    async def _attempt(
        self,
        session_id: int,
        change: ArrangementChange,
        channel: str,
        recipient: str,
        attempt: Callable[[], tuple[bool, str]],
    ) -> None:
        try:
            copy_id = await asyncio.wrap_future(
                self._store.add_arrangement_copy(
                    session_id, change, channel, recipient, self._clock.wall_ms()
                )
            )
            ok, detail = await asyncio.to_thread(attempt)
            if not ok:
                log.warning(
                    "visit %d: the delivery manager's copy (%s) to %s failed: %s",
                    session_id,
                    change,
                    recipient,
                    detail,
                )
            await asyncio.wrap_future(
                self._store.finish_arrangement_copy(copy_id, ok, detail, self._clock.wall_ms())
            )
        except Exception:
            log.exception("visit %d: could not record the delivery manager's copy", session_id)
