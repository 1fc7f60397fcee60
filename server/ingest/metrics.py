"""In-process counters and the ack-latency histogram, rendered as Prometheus text."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from loneguard.server.privacy import public_event_kind

# Seconds from a message's arrival to its ack being handed to the MQTT client.
ACK_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: Counter[str] = Counter()  # stored, by kind
        self.duplicates = 0
        self.events_completed = 0  # duplicates that completed a record first stored from SMS
        self.rejected: Counter[str] = Counter()  # by message type: topic, event, status, …
        self.statuses = 0
        self.stale_statuses = 0
        self.heartbeats = 0
        self.acks = 0
        self.ack_failures = 0
        self.store_failures = 0
        self._ack_buckets = [0] * len(ACK_LATENCY_BUCKETS)
        self._ack_count = 0
        self._ack_sum = 0.0

    @property
    def rejected_total(self) -> int:
        with self._lock:
            return sum(self.rejected.values())

    def count_event(self, kind: str, inserted: bool) -> None:
        with self._lock:
            if inserted:
                self.events[kind] += 1
            else:
                self.duplicates += 1

    def count_rejected(self, field: str) -> None:
        # Only the first part of the field: the rest can be chosen by whoever publishes, and a
        # label must not grow without bound.
        with self._lock:
            self.rejected[field.split(".", 1)[0][:20]] += 1

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def observe_ack(self, seconds: float) -> None:
        with self._lock:
            self.acks += 1
            self._ack_count += 1
            self._ack_sum += seconds
            for i, bound in enumerate(ACK_LATENCY_BUCKETS):
                if seconds <= bound:
                    self._ack_buckets[i] += 1

    def render(self, public: bool = False) -> str:
        """Prometheus text. ``public``: for a reader without a token, so what the privacy policy
        keeps covert (duress events) is left out, and so is the ack count that would betray it."""
        with self._lock:
            lines: list[str] = []
            kinds = sorted(
                (k, v) for k, v in self.events.items() if not public or public_event_kind(k)
            )
            _family(
                lines,
                "loneguard_events_total",
                "counter",
                "Events stored, by kind.",
                ((f'{{kind="{k}"}}', v) for k, v in kinds),
            )
            _family(
                lines,
                "loneguard_duplicate_events_total",
                "counter",
                "Events whose id was already stored (acked again, not stored again).",
                [("", self.duplicates)],
            )
            _family(
                lines,
                "loneguard_completed_events_total",
                "counter",
                "Duplicates that completed the stored event (the MQTT copy after the SMS line).",
                [("", self.events_completed)],
            )
            _family(
                lines,
                "loneguard_rejected_total",
                "counter",
                "Messages rejected into the dead-letter table, by message type.",
                ((f'{{message="{k}"}}', v) for k, v in sorted(self.rejected.items())),
            )
            if not self.rejected:
                lines.append("loneguard_rejected_total 0")
            _family(
                lines,
                "loneguard_statuses_total",
                "counter",
                "Device status messages.",
                [("", self.statuses)],
            )
            _family(
                lines,
                "loneguard_stale_statuses_total",
                "counter",
                "Status messages ignored because their boot was older than the newest.",
                [("", self.stale_statuses)],
            )
            _family(
                lines,
                "loneguard_heartbeats_total",
                "counter",
                "Device heartbeats.",
                [("", self.heartbeats)],
            )
            _family(
                lines,
                "loneguard_ack_failures_total",
                "counter",
                "Acks that could not be published.",
                [("", self.ack_failures)],
            )
            _family(
                lines,
                "loneguard_store_failures_total",
                "counter",
                "Messages the store failed to record.",
                [("", self.store_failures)],
            )
            if public:
                return "\n".join(lines) + "\n"
            lines.append("# HELP loneguard_ack_latency_seconds From arrival to ack publish.")
            lines.append("# TYPE loneguard_ack_latency_seconds histogram")
            for bound, n in zip(ACK_LATENCY_BUCKETS, self._ack_buckets, strict=True):
                lines.append(f'loneguard_ack_latency_seconds_bucket{{le="{bound}"}} {n}')
            lines.append(f'loneguard_ack_latency_seconds_bucket{{le="+Inf"}} {self._ack_count}')
            lines.append(f"loneguard_ack_latency_seconds_sum {self._ack_sum:.6f}")
            lines.append(f"loneguard_ack_latency_seconds_count {self._ack_count}")
            return "\n".join(lines) + "\n"


def _family(
    lines: list[str], name: str, kind: str, help_text: str, samples: Iterable[tuple[str, int]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    lines.extend(f"{name}{labels} {value}" for labels, value in samples)
