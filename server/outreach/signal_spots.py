"""Signal black spots (school §5: staff report "any areas where there is a loss of signal").

Each heartbeat a unit sends during a visit says what its modem hears (``rssi`` in dBm from
``AT+CSQ``, ``registered`` from ``AT+CREG?``); it is counted, good or poor, against the visit's
address (``signal_spots``), never as a position or a track. A worker who finds no signal says so
with the unit's "signal report" gesture (an event of kind ``signal_report``) or by telling the
office, who press "poor signal here" on the visit's page. The planner shows what is known of an
address as it is typed.

Heartbeats are many (a fleet of 10,000 sends 333 a second), so their samples are gathered in
memory per device and minute and written when the minute is over, all devices' minutes in one
transaction (``store.record_signal_minutes``), and the rest at a clean stop; the heartbeat
book's flush (``ingest/heartbeats.py``) drives it. A crash loses at most the last minute or so
of samples: counts for black spots, not a safety record.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Event, EventKind, Heartbeat
from loneguard.server.store import Store
from loneguard.server.store.outreach_records import SignalMinute, SignalSample, SignalSpot

log = logging.getLogger(__name__)

MINUTE_MS = 60_000

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
        # (device, minute) -> that minute's samples, in the order heard
        self._minutes: dict[tuple[str, int], list[SignalSample]] = {}

    def heartbeat(self, received: tuple[str, Heartbeat, int]) -> None:
        device_id, heartbeat, received_ms = received
        sample = signal_sample(heartbeat, self._poor_dbm)
        if sample is not None:
            key = (device_id, received_ms // MINUTE_MS)
            self._minutes.setdefault(key, []).append(
                SignalSample(received_ms, sample.poor, sample.dbm)
            )

    async def flush(self, everything: bool) -> None:
        """Write the minutes that are over (``everything``: every minute held)."""
        now = self._clock.wall_ms() // MINUTE_MS
        done = [key for key in self._minutes if everything or key[1] < now]
        if not done:
            return
        minutes = [SignalMinute(key[0], tuple(self._minutes.pop(key))) for key in done]
        try:
            await asyncio.wrap_future(self._store.record_signal_minutes(minutes))
        except Exception as exc:  # counts, not a safety record: logged and let go
            log.error("could not count %d minutes of signal samples: %s", len(minutes), exc)

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
