"""The benchmarks run and report what their issues ask for (a small n: no timing is asserted)."""

from bench import latency


def test_latency_benchmark_reports_both_round_trips() -> None:
    result = latency.run(n=20, verbose=False)
    for key in ("raw_p50_ms", "raw_p99_ms", "hub_p50_ms", "hub_p99_ms", "n"):
        assert key in result
    assert result["n"] == 20
    assert result["hub_p99_ms"] >= result["hub_p50_ms"] > 0
