"""``python -m bench NAME [--json]``: run one benchmark; its last line is one JSON object."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

BENCHMARKS = {
    "latency": "bench.latency",
    "timers": "bench.timers",
    "ingest": "bench.ingest",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument("-n", type=int, default=None, help="number of samples")
    args = parser.parse_args(argv)
    module = importlib.import_module(BENCHMARKS[args.name])
    result: dict[str, Any] = module.run(n=args.n, verbose=not args.json)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
