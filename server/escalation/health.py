"""Channel health: which policy steps name a channel or a recipient the hub cannot reach.

Checked when the hub starts (a log line each), and for the console's banner (asked again at
most every 10 s, so a number added on the People page clears it): a step's channel the hub has
no means for (``sms`` without a modem), configured people without a number or URL for it,
workers whose record lacks what their role on the ladder needs. Generic over channels: it asks
the dispatcher's ``gap(channel, recipient)``, which asks each channel's own ``gap``, so a new
channel (``call``) takes part by having one. When an alarm comes, each row such a gap touches
is stored as ``not_configured`` (``runtime``), never as a failed delivery.

The visit contact is checked per visit, when the row is made: no alarm, no visit. Nothing here
names a person or a number (the log is no place for them): roles, counts and setting names only.

The ``arc`` channel has one recipient, the ARC: without one configured it is a gap only in a
policy the operator wrote (the shipped policies name ``arc`` for hubs that have one, and are
quiet on hubs without). An ARC configured but not answering is a health problem of its own
(``arc_link_problem``): the console shows it as a red banner on every page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from loneguard.server.arc.events import ArcLinkState
from loneguard.server.escalation.directory import WORKER_ROLES, Directory
from loneguard.server.escalation.notify.notification import Recipient
from loneguard.server.escalation.policy import PERSON_PREFIX, Policy, is_shipped
from loneguard.server.store import Alarm, AlarmKind, AlarmState, Worker

log = logging.getLogger(__name__)

Gap = Callable[[str, Recipient], str | None]

# A recipient with every address a channel could want: what is left is the channel's own gap.
_ANYONE = Recipient("anyone", "anyone", "+447700900000", ("json://localhost",))


@dataclass(frozen=True)
class ChannelGap:
    channel: str
    role: str
    reason: str
    steps: tuple[str, ...]  # "overdue step 1" (steps count from 1 here: these are for people)

    def line(self) -> str:
        return f"{self.channel} to {self.role}: {self.reason} (in {', '.join(self.steps)})"


def channel_gaps(
    policies: Mapping[str, Policy], gap: Gap, directory: Directory, workers: Iterable[Worker]
) -> list[ChannelGap]:
    """Every (channel, role, reason) some step cannot send, with the steps it touches."""
    workers = list(workers)
    found: dict[tuple[str, str, str], list[str]] = {}
    known: dict[tuple[str, str], list[str]] = {}  # a role's gaps on a channel, asked once
    for name, policy in policies.items():
        for index, step in enumerate(policy.steps):
            where = f"{name} step {index + 1}"
            for channel in step.channels:
                if channel == "console":
                    continue
                whole = gap(channel, _ANYONE)
                if channel == "arc":  # one recipient, the ARC, whoever the step notifies
                    if whole is not None and not is_shipped(policy):
                        found.setdefault((channel, "the ARC", whole), []).append(where)
                    continue
                if whole is not None:
                    found.setdefault((channel, "every recipient", whole), []).append(where)
                    continue
                for role in step.notify:
                    if (channel, role) not in known:
                        known[channel, role] = _role_gaps(channel, role, gap, directory, workers)
                    for reason in known[channel, role]:
                        found.setdefault((channel, role, reason), []).append(where)
    return [ChannelGap(c, r, why, tuple(steps)) for (c, r, why), steps in found.items()]


def arc_link_problem(state: ArcLinkState) -> str | None:
    """Why alarms may not be reaching the ARC, or None: none configured, or the link is up
    (or not yet tried: a link that has neither acked nor failed has nothing to report)."""
    if not state.configured or state.up:
        return None
    if state.down_since_ms is None and state.failures == 0 and state.last_failure is None:
        return None
    tried = f"{state.failures} failed attempts since the last ack"
    last = f"; last: {state.last_failure}" if state.last_failure else ""
    return f"the ARC's receivers are not acking ({tried}{last})"


def log_gaps(gaps: list[ChannelGap]) -> None:
    for g in gaps:
        log.warning("not configured: %s", g.line())
    if not gaps:
        log.info("channel health: every step's channel and recipients are configured")


def _role_gaps(
    channel: str, role: str, gap: Gap, directory: Directory, workers: list[Worker]
) -> list[str]:
    if role in ("admins", "on_call"):
        people = directory.group(role)
        if not people:
            return [f"nobody is configured (escalation.{role})"]
        reasons = [r for p in people if (r := gap(channel, p.recipient)) is not None]
        return [f"{len(reasons)} of {len(people)} configured: {r}" for r in sorted(set(reasons))]
    if role.startswith(PERSON_PREFIX):
        named = directory.resolve(role, _alarm_of(None))
        if not named:
            return [f"nobody is named {role[len(PERSON_PREFIX) :]!r}"]
        return [r for f in named if (r := gap(channel, f.recipient)) is not None]
    if role in WORKER_ROLES:
        by_id = {worker.id: worker for worker in workers}  # read once, not once per worker
        counts: dict[str, int] = {}
        for worker in workers:
            resolved = directory.of_worker(role, worker, by_id.get)
            if not resolved:
                reason = "no line manager on record" if role == "line_manager" else "nobody"
            else:
                reason = gap(channel, resolved[0].recipient) or ""
            if reason:
                counts[reason] = counts.get(reason, 0) + 1
        return [f"{n} of {len(workers)} workers: {r}" for r, n in sorted(counts.items())]
    return []  # the visit contact: per visit, when the row is made


def _alarm_of(worker_id: str | None) -> Alarm:
    """An alarm of ``worker_id`` with no session: enough for the directory to resolve roles."""
    return Alarm(0, AlarmKind.OVERDUE, AlarmState.OPEN, None, worker_id, None, 0)


__all__ = ["ChannelGap", "arc_link_problem", "channel_gaps", "log_gaps"]
