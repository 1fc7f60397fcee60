"""Call tasks: where no modem can ring, a `call` step is a person's job on the alarm page.

Each task says whom to ring, on which number (a ``tel:`` link), and why (the step's message);
the person who rang records how it went: answered, no answer, or answered and they took charge
(which acknowledges the alarm as that console user). The task is the alarm's pending call
notification (``escalation/notify/call_channel.py`` marks it); recording the outcome is the
notification's final attempt, so it shows on the alarm's timeline like any other.

No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from loneguard.protocol.clock import Clock
from loneguard.server.api.alarm_changes import changed_alarm
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.console.security import LoginDependency
from loneguard.server.escalation.notify.call_channel import CONSOLE_TASK
from loneguard.server.store import Alarm, AlarmState, ConsoleLogin, NotificationState, Store

PhoneOf = Callable[[str, str, Alarm], str | None]
Page = Callable[..., HTMLResponse]

# What the person who rang may record, and the words it is recorded in.
OUTCOMES = {
    "answered": "answered",
    "no_answer": "no answer",
    "took_charge": "answered and they took charge",
}

ROLE_WORDS = {
    "worker": "the worker",
    "visit_contact": "the visit contact",
    "worker_home": "the worker at home",
    "line_manager": "the line manager",
    "admins": "the office",
    "on_call": "on call",
}


@dataclass(frozen=True)
class CallTask:
    key: str
    name: str
    role: str  # in words: "the visit contact"
    phone: str | None
    why: str  # the step's message: what to ask or say
    attempts: int
    since_ms: int

    @property
    def tel(self) -> str | None:
        """The ``tel:`` URI of the number as stored (spaces dropped; RFC 3966 digits and +)."""
        if not self.phone:
            return None
        digits = "".join(c for c in self.phone if c.isdigit() or c == "+")
        return f"tel:{digits}" if digits else None


def call_tasks(store: Store, alarm: Alarm, phone_of: PhoneOf) -> list[CallTask]:
    """The calls a person should make now for ``alarm`` (none once someone took charge)."""
    if alarm.state != AlarmState.OPEN:
        return []
    return [
        CallTask(
            row.key,
            row.recipient_name,
            ROLE_WORDS.get(row.recipient_role, row.recipient_role),
            phone_of(row.recipient_ref, row.recipient_role, alarm),
            row.text,
            row.attempts,
            row.created_ms,
        )
        for row in store.notifications(alarm.id, NotificationState.PENDING)
        if row.channel == "call" and (row.last_result or "").startswith(CONSOLE_TASK)
    ]


def call_tasks_router(
    store: Store,
    clock: Clock,
    phone_of: PhoneOf,
    hooks: ApiHooks,
    page: Page,
    viewer: LoginDependency,
    responder: LoginDependency,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Responder = Annotated[ConsoleLogin, Depends(responder)]

    def alarm_of(alarm_id: int) -> Alarm:
        alarm = store.alarm(alarm_id)
        if alarm is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}")
        return alarm

    @router.get("/console/alarms/{alarm_id}/calls", response_class=HTMLResponse)
    def calls_fragment(request: Request, alarm_id: int, who: Viewer) -> Response:
        alarm = alarm_of(alarm_id)
        return page(
            request,
            "_call_tasks.html",
            who,
            alarm_id=alarm.id,
            call_tasks=call_tasks(store, alarm, phone_of),
        )

    @router.post("/console/alarms/{alarm_id}/calls")
    async def record_call(
        request: Request,
        alarm_id: int,
        who: Responder,
        key: Annotated[str, Form()],
        outcome: Annotated[str, Form()],
    ) -> Response:
        alarm = alarm_of(alarm_id)
        if outcome not in OUTCOMES:
            raise HTTPException(422, f"outcome must be one of {', '.join(OUTCOMES)}")
        task = next((t for t in call_tasks(store, alarm, phone_of) if t.key == key), None)
        if task is None:
            raise HTTPException(status.HTTP_409_CONFLICT, "that call is no longer waiting")
        name = who.user.name
        now = clock.wall_ms()
        detail = f"call: {OUTCOMES[outcome]} (rung by {name} from the console)"
        done = store.record_attempt(
            key, task.attempts + 1, outcome != "no_answer", True, detail, now
        )
        await asyncio.wrap_future(done)
        if outcome == "took_charge":
            future = store.acknowledge_alarm(alarm_id, name, now, f"user:{name}")
            await changed_alarm(future, alarm_id, hooks)
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Trigger": "lg-refresh"})
        return RedirectResponse(f"/console/alarms/{alarm_id}", status.HTTP_303_SEE_OTHER)

    return router
