"""Managing console users (``loneguard-hub user ...`` and the admin's users page)."""

from __future__ import annotations

import re

from loneguard.server.console.db import ConsoleDb, User, UserExists
from loneguard.server.console.passwords import WeakPassword, hash_password
from loneguard.server.store import Store
from loneguard.server.store.records import Role

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UserError(ValueError):
    pass


def checked_hash(password: str) -> str:
    try:
        return hash_password(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from None


def create_user(
    store: Store, name: str, role: Role, password: str, now_ms: int, actor: str = "cli"
) -> None:
    if not NAME.fullmatch(name):
        raise UserError("name: 1-64 letters, digits, dots, dashes, underscores or @")
    db = ConsoleDb(store)
    password_hash = checked_hash(password)
    try:
        db.create_user(name, role, password_hash, now_ms, actor).result()
    except UserExists as exc:
        raise UserError(str(exc)) from None


def set_disabled(db: ConsoleDb, name: str, disabled: bool, now_ms: int, actor: str) -> None:
    """Disable (its live logins end at once) or enable a user."""
    if not db.set_disabled(name, disabled, now_ms, actor).result():
        raise UserError(f"name: no console user called {name!r}")


def change_password(db: ConsoleDb, name: str, password: str, now_ms: int, actor: str) -> None:
    """A new password; the user's live logins end at once."""
    password_hash = checked_hash(password)
    if not db.set_password(name, password_hash, now_ms, actor).result():
        raise UserError(f"name: no console user called {name!r}")


def user_lines(users: list[User]) -> list[str]:
    """``name role enabled|disabled``, one user a line: never the password hash."""
    return [f"{u.name}\t{u.role}\t{'disabled' if u.disabled else 'enabled'}" for u in users]
