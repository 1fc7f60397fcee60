"""The console's settings (from ``[console]`` in the hub's configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loneguard.server.escalation.policy import Policy


@dataclass(frozen=True)
class ConsoleSettings:
    session_hours: float = 12.0  # a login lasts this long
    cookie_secure: bool = False  # set the cookie's Secure flag (the hub behind HTTPS)
    visit_retention_days: int = 0  # purge ended visits' addresses, contacts, records; 0: keep
    max_login_failures: int = 5  # per user name and per address, in 15 minutes
    policies: Mapping[str, Policy] = field(default_factory=dict)  # shown on the people page

    @classmethod
    def from_values(
        cls, values: Mapping[str, Any], policies: Mapping[str, Policy] | None = None
    ) -> ConsoleSettings:
        return cls(
            session_hours=float(values["console.session_hours"]),
            cookie_secure=bool(values["console.cookie_secure"]),
            visit_retention_days=int(values["console.visit_retention_days"]),
            max_login_failures=int(values["console.max_login_failures"]),
            policies=dict(policies or {}),
        )
