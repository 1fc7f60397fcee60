"""Calendar feeds: made with a secret shown once, found by its hash, revoked for good.

The secret is 256 random bits in the feed's URL (``/calendar/<secret>.ics``), the only way a
calendar program can authenticate; the store keeps its SHA-256 hash, as for API tokens. Who may
see addresses decides what the feed carries: a viewer's feed never has addresses or contacts.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from loneguard.server.admin.tokens import hash_token
from loneguard.server.store import Role, Store
from loneguard.server.store.outreach_records import CalendarFeed, FeedScope

PREFIX = "lgcal_"
PATH = "/calendar/{secret}.ics"
MAX_LABEL = 80


class FeedRefused(ValueError):
    """A feed that cannot be made; the message names the field and the reason."""


@dataclass(frozen=True)
class NewFeed:
    feed: CalendarFeed
    secret: str  # shown once: the store keeps only its hash

    def url(self, base: str) -> str:
        return base.rstrip("/") + PATH.format(secret=self.secret)


def may_see_addresses(role: Role) -> bool:
    return role in (Role.ADMIN, Role.MANAGER)


def check_feed(store: Store, label: str, scope: FeedScope, subject: str | None) -> str | None:
    """The subject to keep; raises ``FeedRefused``."""
    if not label.strip() or len(label) > MAX_LABEL:
        raise FeedRefused(f"label: give the feed a name of at most {MAX_LABEL} characters")
    if scope == FeedScope.ALL:
        return None
    if not subject or store.worker(subject) is None:
        who = "worker" if scope == FeedScope.WORKER else "line manager"
        raise FeedRefused(f"subject: choose the {who} (a worker id)")
    return subject


async def create_feed(
    store: Store,
    label: str,
    scope: FeedScope,
    subject: str | None,
    want_addresses: bool,
    role: Role,
    at_ms: int,
    actor: str,
) -> NewFeed:
    """A new feed; addresses only if asked for and the maker's role may see them."""
    subject = check_feed(store, label, scope, subject)
    secret = PREFIX + secrets.token_urlsafe(32)
    with_addresses = want_addresses and may_see_addresses(role)
    feed = await asyncio.wrap_future(
        store.create_calendar_feed(
            label.strip(), scope, subject, with_addresses, hash_token(secret), at_ms, actor
        )
    )
    return NewFeed(feed, secret)


def feed_by_secret(store: Store, secret: str) -> CalendarFeed | None:
    """The live feed whose secret this is (None for anything else, revoked ones included)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    return store.calendar_feed_by_hash(hash_token(secret))
