"""Signal black spots (school §5: staff report "any areas where there is a loss of signal").

Each heartbeat a unit sends during a visit says what its modem hears (``rssi`` in dBm from
``AT+CSQ``, ``registered`` from ``AT+CREG?``); it is counted, good or poor, against the visit's
address (``signal_spots``), never as a position or a track. A worker who finds no signal says so
with the unit's "signal report" gesture (an event of kind ``signal_report``) or by telling the
office, who press "poor signal here" on the visit's page. The planner shows what is known of an
address as it is typed.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Event, EventKind, Heartbeat
from loneguard.server.store import Store
from loneguard.server.store.outreach_records import SignalSpot

log = logging.getLogger(__name__)

# The modem's own state says nothing about the place.
_NO_EVIDENCE = frozenset({"absent", "failed", "recovering"})


@dataclass(frozen=True)
class Sample:
    poor: bool
    dbm: int | None


def signal_sample(heartbeat: Heartbeat, poor_dbm: int) -> Sample | None:
    """What one heartbeat says about the signal where the unit is; None: nothing."""
    if heartbeat.modem in _NO_EVIDENCE:
        return None
    if heartbeat.registered is False:
        return Sample(True, heartbeat.rssi)  # not on any network: no signal
    if heartbeat.rssi is None:
        # CSQ 99 ("not known or not detectable") from a working modem: no usable signal.
        return Sample(True, None) if heartbeat.registered is True else None
    return Sample(heartbeat.rssi < poor_dbm, heartbeat.rssi)


def is_black_spot(spot: SignalSpot) -> bool:
    """A place to warn about: a worker said so, or a quarter of its heartbeats were poor."""
    return spot.worker_flags > 0 or (spot.samples >= 4 and spot.poor_share >= 0.25)


class SignalWatch:
    """Ingest's listener for heartbeats and ``signal_report`` events."""

    def __init__(self, store: Store, clock: Clock, poor_dbm: int) -> None:
        self._store = store
        self._clock = clock
        self._poor_dbm = poor_dbm

    def heartbeat(self, received: tuple[str, Heartbeat, int]) -> None:
        device_id, heartbeat, received_ms = received
        sample = signal_sample(heartbeat, self._poor_dbm)
        if sample is not None:
            future = self._store.record_signal_sample(
                device_id, sample.poor, sample.dbm, received_ms
            )
            _logged(future, "count a signal sample")

    def event(self, received: tuple[str, Event]) -> None:
        device_id, event = received
        if event.kind == EventKind.SIGNAL_REPORT:
            # When it was pressed (the device's clock, never later than now): a report made
            # where there was no signal arrives later, from the outbox or by SMS.
            pressed_ms = min(event.ts, self._clock.wall_ms())
            future = self._store.flag_poor_signal(
                pressed_ms, f"device:{device_id}", device_id=device_id
            )
            _logged(future, "mark a worker's signal report")


def _logged(future: Future[Any], what: str) -> None:
    def done(f: Future[Any]) -> None:
        if f.exception() is not None:
            log.error("could not %s: %s", what, f.exception())

    future.add_done_callback(done)


__all__ = ["Sample", "SignalWatch", "is_black_spot", "signal_sample"]
