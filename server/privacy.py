"""Personal data, field by field: which fields hold it, and who may see them. The one policy.

Every interface that shows records (the JSON API, the console's pages, its live stream, its CSV
export, the metrics, and any later export) passes them through ``visible`` (or asks ``may_see``)
with the audience it serves: a role, or ``None`` for anyone who can reach the hub without a login
(the metrics). A new field holding personal data is added to ``FIELDS`` once, and every interface
hides it from whoever may not see it.

- ``CONTACT``: phone numbers, addresses, positions, the network addresses of logins: managers and
  admins, who act on alarms, see them; viewers do not.
- ``SECRET``: credentials kept for sending (apprise URLs hold tokens): written, never shown.
- ``COVERT``: that a covert (duress) alarm exists: every console user sees it, the public never.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from loneguard.server.store.records import AuditEntry, EventRow, Role, Session, Worker


class Category(StrEnum):
    CONTACT = "contact"
    SECRET = "secret"
    COVERT = "covert"


# Who may see each category; ``None`` in a set would mean "anyone": no category is public.
AUDIENCES: Mapping[Category, frozenset[Role]] = {
    Category.CONTACT: frozenset({Role.ADMIN, Role.MANAGER}),
    Category.SECRET: frozenset(),
    Category.COVERT: frozenset(Role),
}

# Record type → field → category. A dotted name reaches into a mapping field (``body.location``).
FIELDS: Mapping[type, Mapping[str, Category]] = {
    Worker: {
        "mobile": Category.CONTACT,
        "home_phone": Category.CONTACT,
        "apprise_urls": Category.SECRET,
    },
    Session: {
        "address": Category.CONTACT,
        "contact_name": Category.CONTACT,
        "contact_phone": Category.CONTACT,
    },
    EventRow: {"body.location": Category.CONTACT},
    AuditEntry: {"detail.ip": Category.CONTACT},
}

# Event kinds only a logged-in audience may learn of (counts included): a covert alarm is covert.
COVERT_EVENT_KINDS = frozenset({"duress"})

T = TypeVar("T")


def may_see(role: Role | None, category: Category) -> bool:
    return role is not None and role in AUDIENCES[category]


def hidden_fields(kind: type, role: Role | None) -> frozenset[str]:
    """The (dotted) fields of ``kind`` that ``role`` may not see."""
    return frozenset(
        name for name, category in FIELDS.get(kind, {}).items() if not may_see(role, category)
    )


def visible(record: T, role: Role | None) -> T:
    """``record`` (a frozen dataclass) as ``role`` may see it: hidden fields emptied."""
    hidden = hidden_fields(type(record), role)
    if not hidden:
        return record
    changes: dict[str, Any] = {}
    for name in hidden:
        top, _, inner = name.partition(".")
        value = changes.get(top, getattr(record, top))
        if inner:
            if isinstance(value, Mapping) and inner in value:
                changes[top] = {k: v for k, v in value.items() if k != inner}
        elif value is not None:
            changes[top] = () if isinstance(value, tuple) else None
    return dataclasses.replace(record, **changes) if changes else record  # type: ignore[type-var]


def visible_dict(kind: type, data: Mapping[str, Any], role: Role | None) -> dict[str, Any]:
    """A record of ``kind`` already turned into a mapping, without what ``role`` may not see."""
    hidden = hidden_fields(kind, role)
    return {k: v for k, v in data.items() if k not in hidden}


def public_event_kind(kind: str) -> bool:
    """May the public (no login) learn that events of ``kind`` happen?"""
    return kind not in COVERT_EVENT_KINDS
