"""What the API tells the running hub when people change things, and what it may read from it.

The API alone (tests, tools) works with the defaults: changes are stored and audited, and the
hub's timers pick them up at its next start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loneguard.server.escalation.notify.console_channel import Broadcaster
from loneguard.server.phone import DEFAULT_REGION
from loneguard.server.store import Alarm, Session

if TYPE_CHECKING:
    from loneguard.server.scheduler import Scheduler


def _ignore(_: object) -> None:
    return None


@dataclass(frozen=True)
class ApiHooks:
    session_changed: Callable[[Session], None] = _ignore  # re-arm its deadline
    alarm_changed: Callable[[Alarm], None] = _ignore  # acknowledged/resolved: stop the ladder
    grace_s: int = 300  # defaults for sessions started over the API
    prealert_s: int = 300
    broadcaster: Broadcaster | None = None  # GET /api/stream when set
    scheduler: Scheduler | None = None  # the hub's timers, for the console's housekeeping
    phone_region: str = DEFAULT_REGION  # where a nationally written number is read
    # Lines for the console's banner: policy steps whose channel is not configured.
    channel_gaps: Callable[[], tuple[str, ...]] = tuple
