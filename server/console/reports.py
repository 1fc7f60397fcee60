"""The report page's numbers and charts, pure: alarms per week by kind, time to acknowledge
(p50/p95), overdue sessions per worker. Charts are SVG made here, so they print and work offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from loneguard.server.store.records import Alarm, AlarmKind

WEEK_MS = 7 * 86_400_000
KIND_COLOURS = {
    AlarmKind.PANIC: "#c0001a",
    AlarmKind.DURESS: "#6d28d9",
    AlarmKind.OVERDUE: "#d97800",
    AlarmKind.MISSED_CHECKIN: "#b59a00",
    AlarmKind.DEVICE_OFFLINE: "#4b5563",
}
LATE_KINDS = frozenset({AlarmKind.OVERDUE, AlarmKind.MISSED_CHECKIN})


def week_start(ms: int) -> datetime:
    day = datetime.fromtimestamp(ms / 1000, UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def alarms_per_week(
    alarms: Sequence[Alarm], now_ms: int, weeks: int = 12
) -> list[tuple[str, Counter[AlarmKind]]]:
    """The last ``weeks`` weeks (Monday to Sunday, UTC), oldest first, with counts by kind."""
    this_week = week_start(now_ms)
    starts = [this_week - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts: dict[datetime, Counter[AlarmKind]] = {s: Counter() for s in starts}
    for a in alarms:
        start = week_start(a.opened_ms)
        if start in counts:
            counts[start][a.kind] += 1
    return [(s.strftime("%d %b"), counts[s]) for s in starts]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class AckTimes:
    kind: str
    count: int  # acknowledged
    p50_s: float | None
    p95_s: float | None
    unacknowledged: int = 0  # nobody took charge (yet): counted, never left out


def time_to_acknowledge(alarms: Sequence[Alarm]) -> list[AckTimes]:
    """Seconds from opening to acknowledgement, by kind and for all alarms; alarms nobody
    acknowledged are counted beside them, so a policy that is not working shows."""
    by_kind: dict[str, list[float]] = {}
    nobody: Counter[str] = Counter()
    for a in alarms:
        for kind in (str(a.kind), "all"):
            by_kind.setdefault(kind, [])
            if a.acknowledged_ms is None:
                nobody[kind] += 1
            else:
                by_kind[kind].append(max(0, a.acknowledged_ms - a.opened_ms) / 1000)
    return [
        AckTimes(kind, len(v), percentile(v, 50), percentile(v, 95), nobody[kind])
        for kind, v in sorted(by_kind.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    ]


def overdue_per_worker(alarms: Sequence[Alarm], names: Mapping[str, str]) -> list[tuple[str, int]]:
    """Overdue visits and missed check-ins per worker, most first."""
    counts = Counter(
        names.get(a.worker_id or "", a.worker_id or "unknown")
        for a in alarms
        if a.kind in LATE_KINDS
    )
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def stacked_bars_svg(weeks: list[tuple[str, Counter[AlarmKind]]]) -> str:
    width, height, left, bottom = 720, 240, 30, 30
    top = max([sum(c.values()) for _, c in weeks] + [1])
    slot = (width - left) / max(len(weeks), 1)
    scale = (height - bottom - 10) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="alarms per week by kind">',
        f'<text x="0" y="12" font-size="11">{top}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#888"/>',
    ]
    for i, (label, counts) in enumerate(weeks):
        x = left + i * slot + 4
        y = float(height - bottom)
        for kind in AlarmKind:
            n = counts.get(kind, 0)
            if n:
                h = n * scale
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - 8:.1f}" height="{h:.1f}" '
                    f'fill="{KIND_COLOURS[kind]}"><title>{escape(label)}: {n} {kind}</title></rect>'
                )
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="10">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hbars_svg(rows: Sequence[tuple[str, float]], unit: str) -> str:
    width, row_h, label_w = 720, 22, 200
    top = max([v for _, v in rows] + [1.0])
    height = row_h * max(len(rows), 1) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(unit)}">'
    ]
    for i, (label, value) in enumerate(rows):
        y = i * row_h + 2
        w = (width - label_w - 60) * value / top
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="#1f2a36"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" font-size="12">'
            f"{value:g} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
