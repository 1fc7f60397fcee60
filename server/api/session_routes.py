"""Sessions, the sign-in register, and the people and devices they need, over the JSON API.

Viewers read; managers and admins start, extend and end sessions; only admins change worker
records and devices. Every change is audited with the token's name. No
``from __future__ import annotations``: FastAPI reads the route annotations.
"""

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, status

from loneguard.protocol.clock import Clock
from loneguard.server.api.auth import Principal
from loneguard.server.api.hooks import ApiHooks
from loneguard.server.api.models import (
    DeviceIn,
    DeviceOut,
    ExtendIn,
    Problem,
    RegisterOut,
    RowId,
    SessionIn,
    SessionOut,
    WorkerIn,
    WorkerOut,
)
from loneguard.server.bounds import DeviceId, WorkerId
from loneguard.server.phone import PhoneNumber, PhoneNumberError
from loneguard.server.privacy import visible
from loneguard.server.sessions import rules
from loneguard.server.store import (
    Session,
    SessionConflict,
    SessionKind,
    SessionNotFound,
    SessionState,
    Store,
    Worker,
)
from loneguard.server.store.outreach_records import ArrangementChange

T = TypeVar("T")
Dependency = Callable[..., Principal]


async def _wait(future: "Future[T]") -> T:
    try:
        return await asyncio.wrap_future(future)
    except SessionNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except SessionConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def sessions_router(
    store: Store,
    clock: Clock,
    hooks: ApiHooks,
    reader: Dependency,
    responder: Dependency,
    admin: Dependency,
) -> APIRouter:
    router = APIRouter()
    Reader = Annotated[Principal, Depends(reader)]
    Responder = Annotated[Principal, Depends(responder)]
    Admin = Annotated[Principal, Depends(admin)]
    problems: dict[int | str, dict[str, object]] = {
        404: {"model": Problem},
        409: {"model": Problem},
        422: {"model": Problem},
    }

    @router.get("/api/sessions")
    def list_sessions(who: Reader, state: SessionState | None = None) -> list[SessionOut]:
        return [SessionOut.of(visible(s, who.role)) for s in store.sessions(state)]

    @router.post("/api/sessions", status_code=status.HTTP_201_CREATED, responses=problems)
    async def start_session(body: SessionIn, who: Responder) -> SessionOut:
        now = clock.wall_ms()
        device_id = body.device_id or _device_of(store, body.worker_id)
        interval = _interval(hooks, body)
        end = body.expected_end_ms
        if end is None and body.minutes is not None:
            end = now + body.minutes * 60_000
        plan = rules.SessionPlan(
            kind=body.kind,
            worker_id=body.worker_id,
            device_id=device_id,
            started_ms=now,
            grace_s=body.grace_s if body.grace_s is not None else hooks.grace_s,
            prealert_s=hooks.prealert_s,
            expected_end_ms=end if body.kind == SessionKind.VISIT else None,
            address=body.address,
            contact_name=body.contact_name,
            contact_phone=_phone(body.contact_phone, "contact_phone", hooks),
            accompanied=body.accompanied,
            approved_by=body.approved_by,
            checkin_interval_s=interval,
        )
        if body.worker_id is not None and store.worker(body.worker_id) is None:
            raise HTTPException(422, f"worker_id: no worker {body.worker_id}")
        try:
            plan.check()
        except rules.SessionRefused as exc:
            raise HTTPException(422, str(exc)) from None
        session = await _wait(store.start_session(plan, f"token:{who.name}"))
        if body.shift_type is not None and body.kind == SessionKind.SHIFT:
            await _wait(store.set_shift_type(session.id, body.shift_type))
        hooks.session_changed(session)
        if session.kind == SessionKind.VISIT:  # the delivery manager's copy (CIC App.1 1.1)
            hooks.visit_arranged(ArrangementChange.PLAN, session, f"token:{who.name}")
        return SessionOut.of(session)

    @router.post("/api/sessions/{session_id}/end", responses=problems)
    async def end_session(session_id: RowId, who: Responder) -> SessionOut:
        actor = f"token:{who.name}"
        now = clock.wall_ms()
        future = store.change_session(
            session_id, lambda s: rules.end(s, now, actor), now, actor, "session.end"
        )
        return _changed(hooks, await _wait(future))

    @router.post("/api/sessions/{session_id}/extend", responses=problems)
    async def extend_session(
        session_id: RowId, who: Responder, body: ExtendIn | None = None
    ) -> SessionOut:
        minutes = (body or ExtendIn()).minutes
        now = clock.wall_ms()
        future = store.change_session(
            session_id,
            lambda s: rules.extend(s, minutes, now),
            now,
            f"token:{who.name}",
            "session.extend",
        )
        return _changed(hooks, await _wait(future))

    @router.get("/api/register")
    def register(_who: Reader) -> list[RegisterOut]:
        """Who is signed in now."""
        return [RegisterOut.of(r) for r in store.signed_in()]

    @router.post("/api/workers", status_code=status.HTTP_201_CREATED)
    async def create_worker(body: WorkerIn, who: Admin) -> WorkerOut:
        worker = _worker(body.id or f"w-{uuid.uuid4().hex[:12]}", body, hooks)
        await asyncio.wrap_future(store.save_worker(worker, f"token:{who.name}"))
        return WorkerOut.of(worker)

    @router.put("/api/workers/{worker_id}")
    async def save_worker(worker_id: WorkerId, body: WorkerIn, who: Admin) -> WorkerOut:
        worker = _worker(worker_id, body, hooks)
        await asyncio.wrap_future(store.save_worker(worker, f"token:{who.name}"))
        return WorkerOut.of(worker)

    @router.put("/api/devices/{device_id}", responses=problems)
    async def save_device(device_id: DeviceId, body: DeviceIn, who: Admin) -> DeviceOut:
        actor = f"token:{who.name}"
        if body.worker_id is not None and store.worker(body.worker_id) is None:
            raise HTTPException(422, f"worker_id: no worker {body.worker_id}")
        if "worker_id" in body.model_fields_set:
            await asyncio.wrap_future(store.assign_device(device_id, body.worker_id, actor))
        if body.sms_secret is not None:
            await asyncio.wrap_future(store.set_device_secret(device_id, body.sms_secret, actor))
        device = store.device(device_id)
        if device is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id}")
        return DeviceOut.of(device)

    return router


def _interval(hooks: ApiHooks, body: SessionIn) -> int | None:
    """The shift's check-in interval: as given, else its shift type's."""
    if body.shift_type is None:
        return body.checkin_interval_s
    shift = hooks.shift_types.get(body.shift_type)
    if body.kind != SessionKind.SHIFT or shift is None:
        known = ", ".join(sorted(hooks.shift_types))
        raise HTTPException(422, f"shift_type: a shift of one of the types {known}")
    return body.checkin_interval_s or shift.checkin_interval_s


def _changed(hooks: ApiHooks, session: Session) -> SessionOut:
    hooks.session_changed(session)
    return SessionOut.of(session)


def _device_of(store: Store, worker_id: str | None) -> str | None:
    if worker_id is None:
        return None
    for device in store.devices():
        if device.worker_id == worker_id:
            return device.id
    return None


def _phone(text: str | None, field: str, hooks: ApiHooks) -> PhoneNumber | None:
    """A number from a request in E.164, or a 422 naming the field."""
    try:
        return PhoneNumber.optional(text, hooks.phone_region, field=field)
    except PhoneNumberError as exc:
        raise HTTPException(422, str(exc)) from None


def _worker(worker_id: str, body: WorkerIn, hooks: ApiHooks) -> Worker:
    return Worker(
        id=worker_id,
        name=body.name,
        mobile=_phone(body.mobile, "mobile", hooks),
        home_phone=_phone(body.home_phone, "home_phone", hooks),
        line_manager=body.line_manager,
        apprise_urls=tuple(body.apprise_urls),
        policy=body.policy,
    )
