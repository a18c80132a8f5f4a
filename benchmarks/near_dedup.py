"""Near-duplicate removal at scale: tunelab.data.dedup_near (MinHash LSH) vs all-pairs Jaccard.

Generates 100,000 instruction strings from templates and a vocabulary, plants near duplicates
(a copy with one or two words changed or appended), removes them with ``dedup_near`` and
checks against the naive peer (every item against every kept item, exact Jaccard) on a random
subsample. Prints the figures as one JSON line last.

    python benchmarks/near_dedup.py [--n 100000] [--sample 2000] [--threshold 0.8]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from tunelab.data import dedup_near
from tunelab.data._dedup import jaccard, shingles

VERBS = "explain summarize compute translate classify describe compare list estimate rewrite outline evaluate".split()
TOPICS = (
    "blood pressure,creatinine clearance,body mass index,quarterly revenue,net margin,cash flow,tumor staging,"
    "dosage schedule,interest rate,inventory turnover,heart rate,tax liability,glucose level,bond yield"
).split(",")
WORDS = [f"w{i}" for i in range(5000)]


def generate(n: int, dup_frac: float, seed: int) -> tuple[list[str], dict[int, int]]:
    """``n`` strings; about ``dup_frac`` of them near copies of an earlier one. Returns (strings, copy -> source)."""
    rng = random.Random(seed)
    items: list[str] = []
    planted: dict[int, int] = {}
    for i in range(n):
        if items and rng.random() < dup_frac:
            src = rng.randrange(len(items))
            words = items[src].split()
            for _ in range(rng.choice((1, 2))):
                if rng.random() < 0.5:
                    words[-1 - rng.randrange(min(3, len(words)))] = rng.choice(WORDS)
                else:
                    words.append(rng.choice(WORDS))
            items.append(" ".join(words))
            planted[i] = src
        else:
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(25, 45)))
            items.append(f"{rng.choice(VERBS)} the {rng.choice(TOPICS)} for this case: {body}")
    return items, planted


def naive(items: list[str], threshold: float) -> list[int]:
    kept: list[set[str]] = []
    removed = []
    for i, it in enumerate(items):
        sh = shingles(it)
        if any(jaccard(sh, k) >= threshold for k in kept):
            removed.append(i)
        else:
            kept.append(sh)
    return removed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    items, planted = generate(args.n, 0.1, args.seed)
    t0 = time.perf_counter()
    res = dedup_near(items, threshold=args.threshold)
    t_full = time.perf_counter() - t0
    removed = {r.index for r in res.removed}
    print(f"dedup_near: {args.n} strings in {t_full:.1f} s, removed {len(removed)} (planted {len(planted)})")

    # agreement on a subsample: both methods see the same subsample in the same order
    rng = random.Random(args.seed + 1)
    # a contiguous window, so the subsample holds planted copies together with their sources
    start = rng.randrange(args.n - args.sample + 1)
    sub = items[start : start + args.sample]
    t0 = time.perf_counter()
    ours = dedup_near(sub, threshold=args.threshold)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer = set(naive(sub, args.threshold))
    t_peer = time.perf_counter() - t0
    mine = {r.index for r in ours.removed}
    agree = len(mine & peer)
    # planted copies whose Jaccard with their source really reaches the threshold
    above = {
        i for i, j in planted.items() if jaccard(shingles(items[i]), shingles(items[j])) >= args.threshold
    }
    print(
        f"subsample {args.sample}: tunelab removed {len(mine)} in {t_ours:.2f} s, all-pairs removed {len(peer)} in {t_peer:.2f} s"
    )
    figures = {
        "n": args.n,
        "threshold": args.threshold,
        "seconds": round(t_full, 2),
        "removed": len(removed),
        "planted": len(planted),
        "planted_at_or_above_threshold": len(above),
        "recall_on_planted": round(len(removed & above) / max(1, len(above)), 4),
        "unplanted_removed": len(removed - set(planted)),
        "sample": args.sample,
        "sample_removed_tunelab": len(mine),
        "sample_removed_naive": len(peer),
        "sample_agreement": agree,
        "sample_missed_by_lsh": len(peer - mine),
        "sample_extra_vs_naive": len(mine - peer),
        "sample_seconds_tunelab": round(t_ours, 3),
        "sample_seconds_naive": round(t_peer, 3),
        "speedup_on_sample": round(t_peer / t_ours, 1) if t_ours else None,
        "under_60s": t_full < 60,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
