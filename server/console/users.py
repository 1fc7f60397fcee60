"""Managing console users (``loneguard-hub user ...`` and the admin's users page)."""

from __future__ import annotations

import re

from loneguard.server.console.passwords import WeakPassword, hash_password
from loneguard.server.store import ConsoleUser, ConsoleUserExists, Store
from loneguard.server.store.records import Role

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UserError(ValueError):
    pass


def checked_hash(password: str, name: str = "") -> str:
    try:
        return hash_password(password, user_inputs=(name,) if name else ())
    except WeakPassword as exc:
        raise UserError(str(exc)) from None


def create_user(
    store: Store, name: str, role: Role, password: str, now_ms: int, actor: str = "cli"
) -> None:
    if not NAME.fullmatch(name):
        raise UserError("name: 1-64 letters, digits, dots, dashes, underscores or @")
    password_hash = checked_hash(password, name)
    try:
        store.create_console_user(name, role, password_hash, now_ms, actor).result()
    except ConsoleUserExists as exc:
        raise UserError(str(exc)) from None


def set_disabled(store: Store, name: str, disabled: bool, now_ms: int, actor: str) -> None:
    """Disable (its live logins end at once) or enable a user."""
    if not store.set_console_user_disabled(name, disabled, now_ms, actor).result():
        raise UserError(f"name: no console user called {name!r}")


def change_password(store: Store, name: str, password: str, now_ms: int, actor: str) -> None:
    """A new password; the user's live logins end at once."""
    password_hash = checked_hash(password, name)
    if not store.set_console_password(name, password_hash, now_ms, actor).result():
        raise UserError(f"name: no console user called {name!r}")


def user_lines(users: list[ConsoleUser]) -> list[str]:
    """``name role enabled|disabled``, one user a line: never the password hash."""
    return [f"{u.name}\t{u.role}\t{'disabled' if u.disabled else 'enabled'}" for u in users]
