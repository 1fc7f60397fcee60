"""``python -m bench all``: every benchmark in turn, written to docs/benchmarks.md."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from bench.common import machine

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"

# What each benchmark measures and which of its numbers matter most, for the page.
ABOUT: dict[str, tuple[str, tuple[str, ...]]] = {
    "latency": (
        "Event → ack round trip through the hub (ack after the SQLite commit), beside a raw "
        "Mosquitto QoS 1 round trip.",
        ("hub_p50_ms", "hub_p99_ms", "raw_p50_ms", "raw_p99_ms", "hub_over_raw_p99"),
    ),
    "ingest": (
        "Sustained durable ingest: events/s through the hub on SQLite (synchronous=FULL, ack "
        "after commit), beside raw Mosquitto throughput from the same load generator, then the "
        "same load through a hub on PostgreSQL (a schema of its own on "
        "`LONEGUARD_BENCH_PG_URL`, batches in psycopg's pipeline mode). The rate follows the CPU "
        "the hub gets on a shared machine; `hub_cpu_ms_per_event` is its cost. Issue 17 asks "
        "for `hub_over_raw` ≥ 0.2 (goal 0.5) and `pg_events_per_s` ≥ 3,000 (goal 5,000).",
        (
            "hub_events_per_s",
            "raw_events_per_s",
            "hub_over_raw",
            "hub_cpu_ms_per_event",
            "pg_events_per_s",
            "pg_over_raw",
            "pg_cpu_ms_per_event",
        ),
    ),
    "fleet": (
        "Devices connected at once, each with a heartbeat every interval: the hub's CPU (% of "
        "one core) and memory, beside the hub idle and Mosquitto in the same window. The hub "
        "holds heartbeats in memory and writes the devices' last-seen in batches: "
        "`heartbeats_taken` is what it took of those sent in the window, `last_seen_stored` the "
        "devices whose last heartbeat the database holds after the hub's clean stop.",
        (
            "devices",
            "heartbeat_interval_s",
            "hub_cpu_pct",
            "hub_rss_mb",
            "hub_idle_cpu_pct",
            "broker_cpu_pct",
            "heartbeats_per_s",
            "heartbeats_sent",
            "heartbeats_taken",
            "last_seen_stored",
        ),
    ),
    "timers": (
        "Visits whose deadlines fall due within 10 s, grace 0, each opening an overdue alarm "
        "whose first step goes by apprise json:// to a local receiver: from each deadline, how "
        "late its timer ran (beside bare asyncio timers), when its alarm was committed and when "
        "its first notification arrived (beside one apprise round trip at a time); and the "
        "restore time of a restarted hub with every alarm still open.",
        (
            "sessions",
            "lateness_p50_ms",
            "lateness_p99_ms",
            "raw_lateness_p99_ms",
            "alarm_p50_ms",
            "alarm_p99_ms",
            "notify_p50_ms",
            "notify_p99_ms",
            "raw_notify_p99_ms",
            "restore_s",
        ),
    ),
    "recovery": (
        "Hub restart after kill -9 with N active sessions, to serving with every timer armed, "
        "beside the same restart on an empty database.",
        ("sessions", "restart_s", "empty_restart_s", "restart_over_empty", "armed"),
    ),
    "footprint": (
        "The device process (simulated pins) idle and while sending check-ins, beside a bare "
        "Python interpreter. `rss_mb` is the larger of its idle and sending RSS (issue 17 asks "
        "for ≤ 28, goal 25); `unit_rss_mb` is the unit's own run path (no --simulate: no "
        "simulator or web page) on mock pins, idle, what a unit on a Pi holds. Modules the "
        "unit's libraries import but it does not use (OpenSSL's `ssl` and `hashlib` on a plain "
        "`mqtt://` broker, `urllib.request`) are loaded only when first used.",
        (
            "rss_mb",
            "unit_rss_mb",
            "python_rss_mb",
            "idle_cpu_pct",
            "idle_rss_mb",
            "sending_cpu_pct",
            "sending_rss_mb",
            "events_per_s",
        ),
    ),
    "sms_during_call": (
        "Alarm SMS on the fake modem while a call rings and its driver follows it, beside the "
        "same SMS with the modem idle: a call never holds the modem between its exchanges.",
        (
            "idle_p50_ms",
            "idle_p99_ms",
            "call_p50_ms",
            "call_p99_ms",
            "call_over_idle_p50",
            "call_over_idle_p99",
        ),
    ),
    "arc": (
        "Panic press on a simulated device → hub → the ARC receiver's ack (pysiaalarm, SIA DC-09 "
        "over TCP, AES-128), one alarm at a time, beside a raw DC-09 round trip to the same "
        "receiver. Issue 16 asks for `hub_p99_ms` ≤ 1000. `hub_*`: `arc.send_location` off, as "
        "for a receiver known not to read the position; `located_*`: on (the default), which "
        "pysiaalarm NAKs, so each alarm is sent again at once without it.",
        (
            "hub_p50_ms",
            "hub_p99_ms",
            "located_p50_ms",
            "located_p99_ms",
            "raw_p50_ms",
            "raw_p99_ms",
            "hub_over_raw_p99",
        ),
    ),
    "e2e": (
        "Panic held on a simulated unit (its own process) → hub → the office, one alarm at a "
        "time, each resolved before the next, timed from the press's `ts`: `sms_*` to the "
        "alarm SMS whole at the hub's fake modem (the Ctrl-Z of its last AT+CMGS body; the "
        "fake adds no module or network delay), `stream_*` to the alarm's first event on the "
        "console's live stream read by a logged-in client, `sms_after_stream_*` each SMS less "
        "its own console event. Beside them: `raw_*`, a Mosquitto QoS 1 round trip, and "
        "`bare_sms_*`, the same SMS written by the modem driver straight to a fake modem, "
        "without the hub.",
        (
            "sms_p50_ms",
            "sms_p99_ms",
            "bare_sms_p50_ms",
            "bare_sms_p99_ms",
            "stream_p50_ms",
            "stream_p99_ms",
            "sms_after_stream_p50_ms",
            "sms_after_stream_p99_ms",
            "raw_p50_ms",
            "raw_p99_ms",
            "sms_parts_max",
        ),
    ),
    "storm": (
        "A reconnect storm: after a broker restart 10,000 devices reconnect at once, each "
        "flushing 5 queued check-ins, and 20 other devices press panic one by one while the "
        "hub works through the backlog; beside the same 20 panics on the idle hub in the same "
        "run. Press → the hub's ack at the device, and → the panic's event on an open console "
        "stream. `lost` counts events never acked (an acked event is stored). Issue 17 asks for "
        "`storm_panic_ack_p99_ms` ≤ 250 and `lost` = 0.",
        (
            "devices",
            "storm_panic_ack_p50_ms",
            "storm_panic_ack_p99_ms",
            "idle_panic_ack_p50_ms",
            "idle_panic_ack_p99_ms",
            "stream_panic_p99_ms",
            "idle_stream_panic_p99_ms",
            "panics_during_backlog",
            "backlog_drain_s",
            "lost",
        ),
    ),
}


def markdown(results: dict[str, dict[str, Any]], host: dict[str, Any]) -> str:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench all` on {when}. Each benchmark measures a baseline in the",
        "same run (raw Mosquitto, bare asyncio, an empty database, a bare interpreter), so the",
        "ratios mean more than the absolute numbers on a machine shared with other work. Run one",
        "with `python -m bench NAME --json`; `-n` changes its size.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {host['cpu']} |",
        f"| cores | {host['cores']} |",
        f"| RAM | {host['ram_gb']} GB |",
        f"| OS | {host['os']} |",
        f"| Python | {host['python']} |",
        f"| Mosquitto | {host['mosquitto']} |",
        "",
    ]
    for name, result in results.items():
        lines += section(name, result)
    return "\n".join(lines)


def section(name: str, result: dict[str, Any], note: str | None = None) -> list[str]:
    """One benchmark's section of the page: what it measures, its numbers, everything else."""
    about, keys = ABOUT.get(name, ("", ()))
    lines = [f"## {name}", "", about, ""]
    if note:
        lines += [note, ""]
    lines += ["| measure | value |", "|---|---|"]
    if "error" in result:
        lines.append(f"| error | {result['error']} |")
    for key in keys:
        if key in result:
            lines.append(f"| `{key}` | {result[key]} |")
    others = sorted(k for k in result if k not in keys and k not in ("benchmark", "machine"))
    lines += [
        "",
        "Everything it reported: " + ", ".join(f"`{k}` = {result[k]}" for k in others),
        "",
    ]
    return lines


def write(results: dict[str, dict[str, Any]], path: Path = DOC) -> dict[str, Any]:
    host = machine()
    path.write_text(markdown(results, host))
    return host


def update(name: str, result: dict[str, Any], path: Path = DOC) -> None:
    """Replace (or add) one benchmark's section of the page, leaving the others as they are:
    ``python -m bench NAME --doc``. The section says when and where it ran, since the page's
    own date and machine table are those of the last ``python -m bench all``."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = f"This section: `python -m bench {name} --doc` on {when}, {result.get('machine', '')}."
    text = path.read_text()
    head, _, rest = text.partition("\n## ")
    sections = [f"## {part}" for part in rest.split("\n## ")] if rest else []
    new = "\n".join(section(name, result, note.replace(", .", ".")))
    titles = [part.splitlines()[0] for part in sections]
    if f"## {name}" in titles:
        sections[titles.index(f"## {name}")] = new
    else:
        sections.append(new)
    body = "\n".join(part.rstrip("\n") + "\n" for part in sections)
    path.write_text(head.rstrip("\n") + "\n\n" + body)
