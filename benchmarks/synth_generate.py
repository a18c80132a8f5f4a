"""Generate and verify 10,000 examples of every synthetic task; print seconds per task and examples/s.

Bar: under 10 s per 10,000 examples of any task on the project's 2-core CPU machines (generation
includes the independent verification of every example). No peer: nothing else generates these
verified tasks; the figures are absolute. The last line is one JSON object.

Usage: python benchmarks/synth_generate.py [--n 10000] [--seed 0] [--tasks bmi,cagr]
"""

from __future__ import annotations

import argparse
import json
import time

from tunelab.synth import generate_report, list_tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", default="", help="comma-separated subset (default: all)")
    args = ap.parse_args()
    names = [t.name for t in list_tasks()]
    if args.tasks:
        names = [n for n in names if n in set(args.tasks.split(","))]
    results = {}
    for name in names:
        t0 = time.perf_counter()
        report = generate_report(name, args.n, seed=args.seed)
        secs = time.perf_counter() - t0
        results[name] = {
            "seconds": round(secs, 3),
            "examples_per_s": round(args.n / secs, 1),
            "generated": report.generated,
            "rejected": report.rejected,
        }
        print(f"{name:24s} {secs:7.2f} s  {args.n / secs:9.0f} ex/s  rejected {report.rejected}", flush=True)
    worst = max(results, key=lambda k: results[k]["seconds"])
    summary = {
        "benchmark": "synth_generate",
        "n_per_task": args.n,
        "tasks": results,
        "worst_task": worst,
        "worst_seconds": results[worst]["seconds"],
        "bar_seconds": 10.0 * args.n / 10_000,
        "meets_bar": results[worst]["seconds"] < 10.0 * args.n / 10_000,
        "total_rejected": sum(r["rejected"] for r in results.values()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
