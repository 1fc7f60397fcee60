"""Waiting for an alarm change (acknowledge, resolve) as the API and the console both do."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from fastapi import HTTPException, status

from loneguard.server.api.hooks import ApiHooks
from loneguard.server.store import Alarm, AlarmConflict, AlarmNotFound


async def changed_alarm(future: Future[Alarm], alarm_id: int, hooks: ApiHooks) -> Alarm:
    """The changed alarm once stored (404/409 if it cannot change); its ladder is told at once."""
    try:
        alarm = await asyncio.wrap_future(future)
    except AlarmNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id}") from None
    except AlarmConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    hooks.alarm_changed(alarm)  # the ladder stops at once, and open consoles hear of it
    return alarm
