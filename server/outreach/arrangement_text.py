"""What the delivery manager is sent when a visit is planned, changed or cancelled (CIC App.1
1.1: "a copy of all arrangements made"). Pure: the visit and its names are handed in.

The email (any apprise URL) carries every arrangement: worker, address, contact, times,
accompanied or who approved it, the risk rating when the visit has one, and who made the change.
The SMS is one message: the worker, the times and as much of the address as fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loneguard.gsm.sms import sms_text
from loneguard.server.store import Session
from loneguard.server.store.outreach_records import ArrangementChange

VERBS = {
    ArrangementChange.PLAN: "planned",
    ArrangementChange.CHANGE: "changed",
    ArrangementChange.CANCEL: "cancelled",
}


@dataclass(frozen=True)
class Arrangement:
    change: ArrangementChange
    visit: Session
    worker: str  # the worker's name
    planned_start_ms: int
    by: str  # who made the change ("user:max")
    risk_rating: str | None = None  # from the visit's risk assessment, when it has one


def _at(ms: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if ms is None:
        return "not set"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt) + " UTC"


def _company(visit: Session) -> str:
    if visit.accompanied:
        return "accompanied"
    if visit.approved_by:
        return f"unaccompanied, approved in advance by {visit.approved_by}"
    return "unaccompanied, with no recorded approval"


def title(a: Arrangement) -> str:
    return f"loneguard: visit {VERBS[a.change]} for {a.worker}, {_at(a.planned_start_ms)}"


def body(a: Arrangement) -> str:
    v = a.visit
    contact = ", ".join(p for p in (v.contact_name, v.contact_phone) if p) or "none given"
    lines = [
        f"Visit {VERBS[a.change]} (loneguard visit {v.id}).",
        "",
        f"Worker: {a.worker}",
        f"Address: {v.address or 'not given'}",
        f"Contact: {contact}",
        f"Expected start: {_at(a.planned_start_ms)}",
        f"Expected end: {_at(v.expected_end_ms)}",
        f"Accompanied: {_company(v)}",
    ]
    if a.risk_rating:
        lines.append(f"Risk rating: {a.risk_rating}")
    lines.append(f"{VERBS[a.change].capitalize()} by: {a.by.removeprefix('user:')}")
    if a.change == ArrangementChange.CANCEL:
        lines += ["", "The visit will not take place: its safety timer is stopped."]
    return "\n".join(lines)


def _fits(text: str) -> bool:
    try:
        sms_text(text)
    except ValueError:
        return False
    return True


def sms_summary(a: Arrangement) -> str:
    """One SMS: the address is cut (ending in "...") until the whole fits."""
    v = a.visit
    end = _at(v.expected_end_ms, "%H:%M")
    head = f"loneguard visit {v.id} {VERBS[a.change]}: {a.worker}"
    tail = f", {_at(a.planned_start_ms, '%d %b %H:%M')[:-4]}-{end}, {_company(v)}."
    if a.risk_rating:
        tail += f" Risk {a.risk_rating}."
    address = " ".join((v.address or "").split())
    for cut in range(len(address), -1, -1):
        shown = address if cut == len(address) else address[:cut].rstrip() + "..."
        text = f"{head}, {shown}{tail}" if shown else head + tail
        if _fits(text):
            return sms_text(text)
    return f"loneguard visit {v.id} {VERBS[a.change]}: the details are in the email."
