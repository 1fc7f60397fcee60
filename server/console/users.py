"""Creating console users (for ``loneguard-hub user create``)."""

from __future__ import annotations

import re

from server.console.db import ConsoleDb, UserExists
from server.console.passwords import WeakPassword, hash_password
from server.store import Store
from server.store.records import Role

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UserError(ValueError):
    pass


def create_user(store: Store, name: str, role: Role, password: str, now_ms: int) -> None:
    from server.store.sqlite import SqlStore

    if not NAME.fullmatch(name):
        raise UserError("name: 1-64 letters, digits, dots, dashes, underscores or @")
    if not isinstance(store, SqlStore):
        raise UserError("db.url: console users need the SQLite or PostgreSQL store")
    try:
        password_hash = hash_password(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None
    db = ConsoleDb(store, now_ms)
    try:
        db.create_user(name, role, password_hash, now_ms, "cli").result()
    except UserExists as exc:
        raise UserError(str(exc)) from None
