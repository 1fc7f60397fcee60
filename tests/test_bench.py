"""The benchmarks run and report what their issues ask for (a small n: no timing is asserted)."""

from pathlib import Path

from bench import (
    arc,
    e2e,
    fleet,
    footprint,
    ingest,
    latency,
    recovery,
    report,
    sms_during_call,
    storm,
    timers,
)


def test_latency_benchmark_reports_both_round_trips() -> None:
    result = latency.run(n=20, verbose=False)
    for key in ("raw_p50_ms", "raw_p99_ms", "hub_p50_ms", "hub_p99_ms", "n"):
        assert key in result
    assert result["n"] == 20
    assert result["hub_p99_ms"] >= result["hub_p50_ms"] > 0


def test_ingest_benchmark_acks_every_event_beside_raw() -> None:
    result = ingest.run(n=400, verbose=False)
    assert result["n"] == 400 and result["duplicate_acks"] == 0
    assert result["hub_events_per_s"] > 0 and result["raw_events_per_s"] > 0
    assert result["hub_cpu_ms_per_event"] > 0
    # PostgreSQL beside it when there is one (LONEGUARD_BENCH_PG_URL), or a reason why not.
    if result["pg_events_per_s"] is None:
        assert result["pg_skipped"].startswith("no PostgreSQL")
    else:
        assert result["pg_acked"] == 400 and result["pg_duplicate_acks"] == 0


def test_storm_benchmark_loses_nothing_and_times_panics_beside_idle() -> None:
    result = storm.run(n=100, verbose=False)
    assert result["devices"] == 100 and result["lost"] == 0
    for key in ("storm_panic_ack", "idle_panic_ack", "stream_panic", "idle_stream_panic"):
        assert result[f"{key}_p99_ms"] >= result[f"{key}_p50_ms"] > 0
    assert result["backlog_drain_s"] > 0 and 0 <= result["panics_during_backlog"] <= 20


def test_fleet_benchmark_reports_hub_cpu_and_memory() -> None:
    result = fleet.run(n=40, verbose=False, interval=1.0)
    assert result["devices"] == 40
    assert result["heartbeats_sent"] > 0
    # At most the heartbeats in flight at either end of the window differ.
    assert abs(result["heartbeats_taken"] - result["heartbeats_sent"]) <= 2 * 40
    # Held in memory, every device's last heartbeat is in the database after a clean stop.
    assert result["last_seen_stored"] == 40
    assert result["hub_rss_mb"] > 0 and result["hub_cpu_pct"] >= 0


def test_recovery_benchmark_rearms_every_session() -> None:
    result = recovery.run(n=30, verbose=False)
    assert result["armed"] == 30
    assert result["restart_s"] > 0 and result["empty_restart_s"] > 0


def test_timers_benchmark_opens_and_notifies_every_alarm_then_restores() -> None:
    result = timers.run(n=20, verbose=False)
    assert result["sessions"] == result["fired"] == 20
    assert result["alarms"] == result["notified"] == 20  # grace 0: every deadline an alarm
    assert result["notify_p99_ms"] >= result["notify_p50_ms"] > 0
    assert result["alarm_p99_ms"] >= result["alarm_p50_ms"] > 0
    assert result["raw_notify_p99_ms"] > 0 and result["raw_lateness_p99_ms"] >= 0
    assert result["restore_s"] > 0


def test_footprint_benchmark_sends_and_measures_the_device() -> None:
    result = footprint.run(n=1, verbose=False)
    assert result["events_sent"] >= 1
    assert result["idle_rss_mb"] > result["python_rss_mb"] > 0
    assert result["rss_mb"] == max(result["idle_rss_mb"], result["sending_rss_mb"])
    assert result["unit_rss_mb"] > result["python_rss_mb"]


def test_sms_during_call_benchmark_sends_while_the_call_is_followed() -> None:
    result = sms_during_call.run(n=20, verbose=False)
    assert result["n"] == 20 and result["clcc_polls"] > 0
    assert result["call_p99_ms"] >= result["call_p50_ms"] > 0 and result["idle_p99_ms"] > 0


def test_arc_benchmark_gets_every_panic_acked_by_the_arc_once() -> None:
    # The bench itself fails when a panic does not reach the receiver within 10 s, reaches it
    # twice (the same zone again) or anything but a 1120 arrives.
    result = arc.run(n=20, verbose=False)
    assert result["n"] == 20 and result["encryption"] == "AES-128"
    assert result["hub_p99_ms"] >= result["hub_p50_ms"] > 0
    assert result["raw_p99_ms"] >= result["raw_p50_ms"] > 0


def test_e2e_benchmark_times_every_panic_to_the_modem_and_the_console() -> None:
    # The bench itself fails when a panic's SMS (matched by its ACK <alarm id>) does not reach
    # the fake modem, or its alarm the console's stream, within 10 s.
    result = e2e.run(n=3, verbose=False)
    assert result["n"] == 3 and result["sms_parts_max"] >= 1
    for prefix in ("sms", "stream", "bare_sms", "raw"):
        assert result[f"{prefix}_p99_ms"] >= result[f"{prefix}_p50_ms"] > 0
    assert result["sms_after_stream_p99_ms"] >= result["sms_after_stream_p50_ms"]


def test_report_has_the_machine_table_and_every_result(tmp_path: Path) -> None:
    results = {"ingest": {"benchmark": "ingest", "hub_events_per_s": 2345, "extra": 1}}
    host = report.write(results, tmp_path / "benchmarks.md")
    text = (tmp_path / "benchmarks.md").read_text()
    for key in ("cpu", "cores", "ram_gb", "os", "python", "mosquitto"):
        assert str(host[key]) in text
    assert "| `hub_events_per_s` | 2345 |" in text and "`extra` = 1" in text


def test_report_update_rewrites_one_section_and_keeps_the_others(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    report.write({"ingest": {"benchmark": "ingest", "hub_events_per_s": 2345}}, doc)
    report.update("arc", {"benchmark": "arc", "hub_p99_ms": 12.5, "machine": "x86_64"}, doc)
    report.update("arc", {"benchmark": "arc", "hub_p99_ms": 7.25, "machine": "x86_64"}, doc)
    text = doc.read_text()
    assert "| `hub_events_per_s` | 2345 |" in text and "## Machine" in text
    assert text.count("## arc") == 1 and "| `hub_p99_ms` | 7.25 |" in text
    assert "12.5" not in text and "`python -m bench arc --doc` on " in text
