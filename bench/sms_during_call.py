"""Alarm SMS while a call rings: how much a call under way slows each SMS on the shared modem.

On the fake modem (a pty), sends ``n`` SMS with the modem idle (the baseline), then ``n`` more
while a call rings unanswered and its driver follows it (``AT+CLCC`` and the unsolicited results
every ``poll_interval``), one SMS every ``gap`` seconds in both. The call never holds the modem
between its exchanges, so an SMS waits at most for one short exchange: ``call_over_idle_p50``
and ``_p99`` are the ratios of the send times (p99 is noisy on a shared machine).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.gsm.voice import VoiceCalls

NUMBER = "+447700900101"


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _send_times(modem: Modem, n: int, gap: float) -> list[float]:
    times: list[float] = []
    for i in range(n):
        time.sleep(gap)  # an alarm's SMS trickle in; the call's polls fall between them
        started = time.perf_counter()
        modem.send_sms("+447700900999", f"loneguard alarm {i}: Ann is overdue. Reply ACK {i}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(
    n: int | None = None, verbose: bool = False, poll_interval: float = 0.05, gap: float = 0.01
) -> dict[str, Any]:
    n = n or 200
    with FakeModem() as fake, Modem(fake.path, sweep_interval=None) as modem:
        modem.initialise()
        idle = _send_times(modem, n, gap)
        calls = VoiceCalls(modem, poll_interval=poll_interval)
        stop = threading.Event()
        ringing = threading.Thread(
            target=calls.ring,
            args=(NUMBER, lambda _: "alarm"),
            kwargs={"ring_time": 3600, "listen_time": 5, "stop": stop.is_set},
            daemon=True,
        )
        ringing.start()
        while not any(c.startswith("AT+CLCC") for c in fake.commands()):
            time.sleep(0.01)
        during = _send_times(modem, n, gap)
        polls = sum(1 for c in fake.commands() if c == "AT+CLCC")
        stop.set()
        ringing.join(10)
    result = {
        "benchmark": "sms_during_call",
        "n": n,
        "poll_interval_s": poll_interval,
        "gap_s": gap,
        "idle_p50_ms": round(_percentile(idle, 0.5), 2),
        "idle_p99_ms": round(_percentile(idle, 0.99), 2),
        "call_p50_ms": round(_percentile(during, 0.5), 2),
        "call_p99_ms": round(_percentile(during, 0.99), 2),
        "call_over_idle_p50": round(_percentile(during, 0.5) / _percentile(idle, 0.5), 2),
        "call_over_idle_p99": round(_percentile(during, 0.99) / _percentile(idle, 0.99), 2),
        "clcc_polls": polls,
    }
    if verbose:
        print(result)
    return result
