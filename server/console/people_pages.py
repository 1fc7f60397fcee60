"""Read-only pages: people and devices, escalation policies, and the director's report.

No ``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from loneguard.protocol.clock import Clock
from loneguard.server.bounds import DeviceId
from loneguard.server.console import reports
from loneguard.server.console.security import LoginDependency
from loneguard.server.console.visits import FIELD_CAP, check_lengths
from loneguard.server.escalation.policy import Policy
from loneguard.server.phone import DEFAULT_REGION, PhoneNumber, PhoneNumberError
from loneguard.server.sessions.rules import SessionRefused
from loneguard.server.store import ConsoleLogin, Store, Worker

Page = Callable[..., HTMLResponse]
WORKER_FIELD_LIMITS = {
    "worker_id": 64,
    "name": 200,
    "mobile": 40,
    "home_phone": 40,
    "line_manager": 64,
    "policy": 64,
}


def people_router(
    store: Store,
    clock: Clock,
    policies: Mapping[str, Policy],
    page: Page,
    viewer: LoginDependency,
    admin: LoginDependency,
    *,
    phone_region: str = DEFAULT_REGION,
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[ConsoleLogin, Depends(viewer)]
    Admin = Annotated[ConsoleLogin, Depends(admin)]

    def people_page(
        request: Request, who: ConsoleLogin, code: int = 200, **ctx: Any
    ) -> HTMLResponse:
        workers = store.workers()
        return page(
            request,
            "people.html",
            who,
            code,
            workers=workers,
            names={w.id: w.name for w in workers},
            devices=store.devices(),
            policies=policies,
            form=ctx.pop("form", {}),
            errors=ctx.pop("errors", {}),
            **ctx,
        )

    @router.get("/console/people", response_class=HTMLResponse)
    def people(request: Request, who: Viewer) -> Response:
        return people_page(request, who)

    @router.post("/console/people", response_class=HTMLResponse)
    async def save_worker(
        request: Request,
        who: Admin,
        worker_id: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        name: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        mobile: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        home_phone: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        line_manager: Annotated[str, Form(max_length=FIELD_CAP)] = "",
        policy: Annotated[str, Form(max_length=FIELD_CAP)] = "",
    ) -> Response:
        """Add a worker, or change one (``worker_id`` given); admins only."""
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        new_mobile = new_home = None
        try:
            check_lengths(form, WORKER_FIELD_LIMITS)
        except SessionRefused as exc:
            problem: str | None = str(exc)
        else:
            problem = _worker_problem(store, name, line_manager, policy, policies)
            try:
                new_mobile = PhoneNumber.optional(mobile, phone_region, field="mobile")
                new_home = PhoneNumber.optional(home_phone, phone_region, field="home_phone")
            except PhoneNumberError as exc:
                problem = problem or str(exc)
        if problem:
            field, _, reason = problem.partition(": ")
            errors = {field: reason}
            return people_page(request, who, 422, error=problem, errors=errors, form=form)
        # Changing a worker, a blank field keeps what is there: a contact number is never lost
        # by leaving a box empty.
        old = store.worker(worker_id) if worker_id else None
        worker = Worker(
            id=worker_id or f"w-{uuid.uuid4().hex[:12]}",
            name=name.strip(),
            mobile=new_mobile or (old.mobile if old else None),
            home_phone=new_home or (old.home_phone if old else None),
            line_manager=line_manager or (old.line_manager if old else None),
            last_checkin_ms=old.last_checkin_ms if old else None,
            apprise_urls=old.apprise_urls if old else (),
            policy=policy or (old.policy if old else None),
        )
        await asyncio.wrap_future(store.save_worker(worker, f"user:{who.user.name}"))
        return RedirectResponse("/console/people", status.HTTP_303_SEE_OTHER)

    @router.post("/console/devices/{device_id}/assign")
    async def assign_device(
        device_id: DeviceId, who: Admin, worker_id: Annotated[str, Form(max_length=64)] = ""
    ) -> Response:
        if store.device(device_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
        if worker_id and store.worker(worker_id) is None:
            raise HTTPException(422, f"worker_id: no worker {worker_id}")
        actor = f"user:{who.user.name}"
        await asyncio.wrap_future(store.assign_device(device_id, worker_id or None, actor))
        return RedirectResponse("/console/people", status.HTTP_303_SEE_OTHER)

    @router.get("/console/reports", response_class=HTMLResponse)
    def report(request: Request, who: Viewer) -> Response:
        alarms = store.alarms()
        names = {w.id: w.name for w in store.workers()}
        weeks = reports.alarms_per_week(alarms, clock.wall_ms())
        ack = reports.time_to_acknowledge(alarms)
        late = reports.overdue_per_worker(alarms, names)
        ack_rows = [(f"{a.kind} p50", a.p50_s or 0.0) for a in ack] + [
            (f"{a.kind} p95", a.p95_s or 0.0) for a in ack
        ]
        return page(
            request,
            "reports.html",
            who,
            weeks=weeks,
            ack=ack,
            late=late,
            kinds=reports.KIND_COLOURS,
            weekly_svg=Markup(reports.stacked_bars_svg(weeks)),  # built from escaped text
            ack_svg=Markup(reports.hbars_svg(sorted(ack_rows), "s")),
            late_svg=Markup(reports.hbars_svg([(n, float(c)) for n, c in late], "late")),
        )

    return router


def _worker_problem(
    store: Store,
    name: str,
    line_manager: str,
    policy: str,
    policies: Mapping[str, Policy],
) -> str | None:
    if not name.strip():
        return "name: say who the worker is"
    if line_manager and store.worker(line_manager) is None:
        return f"line_manager: no worker {line_manager}"
    if policy and policies and policy not in policies:
        return f"policy: no escalation policy {policy}"
    return None
