"""``python -m bench NAME [--json]``: run one benchmark; its last line is one JSON object.

``python -m bench all`` runs every one at its default size and writes docs/benchmarks.md;
``python -m bench NAME --doc`` rewrites only that benchmark's section of it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

BENCHMARKS = {
    "latency": "bench.latency",
    "ingest": "bench.ingest",
    "fleet": "bench.fleet",
    "timers": "bench.timers",
    "recovery": "bench.recovery",
    "footprint": "bench.footprint",
    "sms_during_call": "bench.sms_during_call",
    "arc": "bench.arc",
    "e2e": "bench.e2e",
    "storm": "bench.storm",
}


def run_one(name: str, n: int | None, verbose: bool) -> dict[str, Any]:
    module = importlib.import_module(BENCHMARKS[name])
    result: dict[str, Any] = module.run(n=n, verbose=verbose)
    return result


def run_all(verbose: bool) -> dict[str, Any]:
    from bench import report

    results: dict[str, dict[str, Any]] = {}
    for name in BENCHMARKS:
        if verbose:
            print(f"== {name}", flush=True)
        try:
            results[name] = run_one(name, None, verbose)
        except Exception as exc:  # one failing benchmark must not lose the others' numbers
            results[name] = {"benchmark": name, "error": f"{type(exc).__name__}: {exc}"}
    host = report.write(results)
    if verbose:
        print(f"wrote {report.DOC}")
    return {"benchmark": "all", "machine": host, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("-n", type=int, default=None, help="size: samples, events, devices...")
    parser.add_argument(
        "--doc", action="store_true", help="also write its section of docs/benchmarks.md"
    )
    args = parser.parse_args(argv)
    if args.name == "all":
        result = run_all(verbose=not args.json)
    else:
        result = run_one(args.name, args.n, verbose=not args.json)
        if args.doc:
            from bench import report

            report.update(args.name, result)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
