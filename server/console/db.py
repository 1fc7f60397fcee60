"""What the console asks of the store: users, logins and failed logins, visit plans and records.

The tables are the store's (numbered steps of its one schema, since step 6), reached only through
the store's public interface; this keeps the console's names for them in one place.
"""

from __future__ import annotations

from concurrent.futures import Future

from loneguard.server.store import (
    ConsoleLogin,
    ConsoleUser,
    ConsoleUserExists,
    Role,
    Store,
    VisitRecord,
)

User = ConsoleUser
Login = ConsoleLogin
UserExists = ConsoleUserExists

__all__ = ["ConsoleDb", "Login", "User", "UserExists", "VisitRecord"]


class ConsoleDb:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- users ----------------------------------------------------------------------------------
    def user(self, name: str) -> User | None:
        return self._store.console_user(name)

    def users(self) -> list[User]:
        return self._store.console_users()

    def create_user(
        self, name: str, role: Role, password_hash: str, at_ms: int, actor: str
    ) -> Future[None]:
        return self._store.create_console_user(name, role, password_hash, at_ms, actor)

    def set_disabled(self, name: str, disabled: bool, at_ms: int, actor: str) -> Future[bool]:
        """Disable (ending the user's live logins) or enable a user; False if there is none."""
        return self._store.set_console_user_disabled(name, disabled, at_ms, actor)

    def set_password(self, name: str, password_hash: str, at_ms: int, actor: str) -> Future[bool]:
        """Change a user's password and end their live logins; False if there is no such user."""
        return self._store.set_console_password(name, password_hash, at_ms, actor)

    # -- logins ---------------------------------------------------------------------------------
    def start_login(
        self, token_hash: str, user: User, csrf: str, at_ms: int, expires_ms: int, ip: str
    ) -> Future[None]:
        return self._store.start_console_login(token_hash, user.name, csrf, at_ms, expires_ms, ip)

    def login(self, token_hash: str, now_ms: int) -> Login | None:
        """The live login with this cookie hash: not ended, not expired, its user enabled."""
        return self._store.console_login(token_hash, now_ms)

    def end_login(self, token_hash: str, user_name: str, at_ms: int) -> Future[None]:
        return self._store.end_console_login(token_hash, user_name, at_ms)

    def failed_login(self, name: str, at_ms: int, ip: str, refused: bool) -> Future[int]:
        action = "login.refused" if refused else "login.failed"
        return self._store.append_audit(at_ms, "anonymous", action, f"user:{name[:64]}", {"ip": ip})

    def recent_login_outcomes(self, since_ms: int) -> list[tuple[int, str, str, str]]:
        """Failed and successful logins since ``since_ms``, oldest first: (at, action, name, ip).

        What the login limiter replays at start, so a restart does not reset its counts.
        """
        return [
            (
                int(e.at_ms),
                str(e.action),
                e.subject.removeprefix("user:") if e.subject else "",
                str(e.detail.get("ip", "unknown")),
            )
            for e in self._store.audit_since(since_ms, ("login", "login.failed"))
        ]

    # -- visits ---------------------------------------------------------------------------------
    def plan_visit(self, session_id: int, planned_start_ms: int, by: str) -> Future[None]:
        return self._store.plan_visit(session_id, planned_start_ms, by)

    def planned_starts(self) -> dict[int, int]:
        return {i: p.planned_start_ms for i, p in self._store.visit_plans().items()}

    def save_visit_record(self, record: VisitRecord, actor: str) -> Future[None]:
        return self._store.save_visit_record(record, actor)

    def visit_record(self, session_id: int) -> VisitRecord | None:
        return self._store.visit_record(session_id)

    def purge_visit_details(self, before_ms: int, at_ms: int) -> Future[int]:
        """Forget the address, contact and record of visits that ended before ``before_ms``."""
        return self._store.purge_visit_details(before_ms, at_ms)
