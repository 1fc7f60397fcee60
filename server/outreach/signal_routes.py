"""Signal black spots over the JSON API: managers and admins read them (addresses included).
No ``from __future__ import annotations``: FastAPI reads the route annotations."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from loneguard.server.api.auth import Principal
from loneguard.server.outreach.signal_spots import is_black_spot
from loneguard.server.store import Store
from loneguard.server.store.outreach_records import SignalSpot


class SignalSpotOut(BaseModel):
    address_key: str
    address: str
    samples: int
    poor_samples: int
    worker_flags: int
    worst_dbm: int | None
    first_seen_ms: int
    last_seen_ms: int
    last_poor_ms: int | None
    black_spot: bool

    @classmethod
    def of(cls, spot: SignalSpot) -> "SignalSpotOut":
        fields = {name: getattr(spot, name) for name in SignalSpot.__dataclass_fields__}
        return cls(**fields, black_spot=is_black_spot(spot))


def signal_api(store: Store, responder: Callable[..., Principal]) -> APIRouter:
    router = APIRouter()
    Responder = Annotated[Principal, Depends(responder)]

    @router.get("/api/signal-spots")
    def signal_spots(_who: Responder, black_only: bool = False) -> list[SignalSpotOut]:
        """Visit addresses with the signal heard there, the most reported first."""
        spots = [SignalSpotOut.of(s) for s in store.signal_spots()]
        return [s for s in spots if s.black_spot] if black_only else spots

    return router
