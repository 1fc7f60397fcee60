"""The Register's roll-call, pure: exactly who is signed in or out on a visit now, since when.

A worker is listed when they are signed in to the building (an open register entry), or when a
session of theirs is live and has begun (a visit planned for later is not "now"). Nobody else:
not a worker who only has an alarm, and never with a made-up time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loneguard.server.store.records import (
    RegisterEntry,
    Session,
    SessionKind,
    SessionState,
    Worker,
)


@dataclass(frozen=True)
class Present:
    name: str
    since_ms: int
    how: str  # "in the building (signed in)", "out on a visit", "on a shift"


def present_now(
    workers: Sequence[Worker],
    register: Sequence[RegisterEntry],
    sessions: Sequence[Session],
    planned_starts: Mapping[int, int],
    now_ms: int,
) -> list[Present]:
    signed_in: dict[str, int] = {}
    for entry in register:
        if entry.worker_id is not None and entry.signed_out_ms is None:
            signed_in[entry.worker_id] = min(
                entry.signed_in_ms, signed_in.get(entry.worker_id, entry.signed_in_ms)
            )
    working: dict[str, tuple[int, str]] = {}
    for s in sorted(sessions, key=lambda s: s.id):
        if s.worker_id is None or s.state == SessionState.ENDED:
            continue
        began = planned_starts.get(s.id, s.started_ms)
        if began > now_ms:
            continue  # planned for later
        how = "out on a visit" if s.kind == SessionKind.VISIT else "on a shift"
        working[s.worker_id] = (began, how)  # the newest live session wins
    present = []
    for w in workers:
        if w.id in signed_in:
            how = "in the building (signed in)"
            if w.id in working:
                how += f", {working[w.id][1]}"
            present.append(Present(w.name, signed_in[w.id], how))
        elif w.id in working:
            present.append(Present(w.name, *working[w.id]))
    present.sort(key=lambda p: (p.name.casefold(), p.since_ms))
    return present
