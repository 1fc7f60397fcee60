"""Who a ladder role means for one alarm: roles in, recipients (with how to reach them) out.

``worker`` is the worker's mobile, ``worker_home`` their home phone, ``line_manager`` the line
manager's mobile, ``visit_contact`` the contact on the visit form, ``admins`` and ``on_call``
the people configured under ``[escalation]``, and ``person:NAME`` a worker (or a configured
person) of that name. Each recipient comes with a ``ref`` (a worker id, a session id or a
configured name, never a number) so a notification row can find its recipient again after a
restart. A role nobody fills resolves to nothing; the escalation engine records that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loneguard.server.config import Person
from loneguard.server.escalation.notify.notification import Recipient
from loneguard.server.escalation.policy import PERSON_PREFIX
from loneguard.server.phone import DEFAULT_REGION, legacy
from loneguard.server.store import Alarm, Store, Worker


@dataclass(frozen=True)
class Found:
    ref: str  # how to find the recipient again: "worker:<id>", "session:<id>", "config:<name>"
    recipient: Recipient


CONSOLE = Found("console", Recipient("console", "console"))
# The roles a worker's own record answers (the line manager's through the worker's).
WORKER_ROLES = ("worker", "worker_home", "line_manager")


class Directory:
    def __init__(
        self,
        store: Store,
        admins: tuple[Person, ...] = (),
        on_call: tuple[Person, ...] = (),
        *,
        region: str = DEFAULT_REGION,
    ) -> None:
        self._store = store
        self._groups = {"admins": admins, "on_call": on_call}
        self._region = region  # numbers an older hub stored nationally are read here

    def resolve(self, role: str, alarm: Alarm) -> list[Found]:
        """The people ``role`` means for ``alarm``; empty when nobody fills it."""
        if role in WORKER_ROLES:
            worker = self._store.worker(alarm.worker_id) if alarm.worker_id else None
            return self.of_worker(role, worker, self._store.worker) if worker else []
        if role == "visit_contact":
            session = self._store.session(alarm.session_id) if alarm.session_id else None
            if session is None or not (session.contact_name or session.contact_phone):
                return []
            name = session.contact_name or "visit contact"
            phone = legacy(session.contact_phone, self._region)
            return [Found(f"session:{session.id}", Recipient(name, role, phone))]
        if role in self._groups:
            return [self._person(p, role) for p in self._groups[role]]
        if role.startswith(PERSON_PREFIX):
            return self._named(role[len(PERSON_PREFIX) :], role)
        return []

    def of_worker(
        self, role: str, worker: Worker, find: Callable[[str], Worker | None]
    ) -> list[Found]:
        """Whom a worker role (``WORKER_ROLES``) means for ``worker``; ``find`` gives the line
        manager's record (the store, or records already read: the health check has them all)."""
        if role == "worker":
            return self._worker(worker, role, worker.mobile)
        if role == "worker_home":
            return self._worker(worker, role, worker.home_phone)
        manager = find(worker.line_manager) if worker.line_manager else None
        return self._worker(manager, role, manager.mobile if manager else None)

    def group(self, role: str) -> list[Found]:
        """The configured people of ``admins`` or ``on_call`` (for the channel health check)."""
        return [self._person(p, role) for p in self._groups.get(role, ())]

    def again(self, ref: str, role: str, alarm: Alarm) -> Recipient | None:
        """The recipient a stored notification row names (for a resend after a restart)."""
        if ref == CONSOLE.ref:
            return CONSOLE.recipient
        for found in self.resolve(role, alarm):
            if found.ref == ref:
                return found.recipient
        return None

    def phone(self, ref: str, role: str, alarm: Alarm) -> str | None:
        """The number of the recipient a stored row names (for a person to ring them)."""
        found = self.again(ref, role, alarm)
        return found.phone if found is not None else None

    def _person(self, person: Person, role: str) -> Found:
        if person.worker_id is not None:
            worker = self._store.worker(person.worker_id)
            if worker is not None:
                return self._worker(worker, role, worker.mobile)[0]
        return Found(f"config:{person.name}", Recipient(person.name, role, person.phone))

    def _named(self, name: str, role: str) -> list[Found]:
        for worker in self._store.workers():
            if worker.name == name:
                return self._worker(worker, role, worker.mobile)
        for group in self._groups.values():
            for person in group:
                if person.name == name:
                    return [self._person(person, role)]
        return []

    def _worker(self, worker: Worker | None, role: str, phone: str | None) -> list[Found]:
        if worker is None:
            return []
        number = legacy(phone, self._region)
        recipient = Recipient(worker.name, role, number, worker.apprise_urls)
        return [Found(f"worker:{worker.id}", recipient)]
