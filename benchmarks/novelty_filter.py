"""ROUGE-L novelty filter at scale: tunelab's indexed filter vs the naive all-pairs loop calling rouge_score.

Generates instruction strings from templates and a vocabulary, plants near duplicates (a copy of an earlier
instruction with a word or two changed, inserted or dropped), and filters them in order the Self-Instruct way:
keep an instruction unless its ROUGE-L F against some kept instruction is above the threshold.

- peer: for each new instruction, ``RougeScorer(["rougeL"]).score(kept, new)`` against every kept instruction
  (stopping at the first one above the threshold: the peer's fastest form), on the first ``--sample`` items;
- tunelab: :class:`tunelab.synth._novelty.NoveltyIndex` on the same sample (decisions must be identical),
  then on all ``--n`` items (bar: under 60 s).

Prints the figures as one JSON line last.

    python benchmarks/novelty_filter.py [--n 20000] [--sample 2000] [--threshold 0.7]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from rouge_score import rouge_scorer

from tunelab.synth._novelty import NoveltyIndex

VERBS = "explain summarize compute translate classify describe compare list estimate rewrite outline evaluate".split()
TOPICS = (
    "blood pressure,creatinine clearance,body mass index,quarterly revenue,net margin,cash flow,tumor staging,"
    "dosage schedule,interest rate,inventory turnover,heart rate,tax liability,glucose level,bond yield"
).split(",")
FUNCTION_WORDS = "the a of and to for in on with by from that is are how what which".split()
WORDS = [f"w{i}" for i in range(5000)]


def _fresh(r: random.Random) -> str:
    """A new instruction: a verb, a topic and 4-24 words mixing function words and a large vocabulary."""
    words = [
        r.choice(FUNCTION_WORDS) if r.random() < 0.35 else r.choice(WORDS) for _ in range(r.randint(4, 24))
    ]
    return f"{r.choice(VERBS).capitalize()} the {r.choice(TOPICS)} " + " ".join(words) + "."


def generate(n: int, dup_frac: float, seed: int) -> list[str]:
    """``n`` instructions; about ``dup_frac`` of them near copies of an earlier one."""
    r = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        if out and r.random() < dup_frac:
            toks = r.choice(out).split()
            for _ in range(r.randint(1, 2)):
                op = r.random()
                if op < 0.5:
                    toks[r.randrange(len(toks))] = r.choice(WORDS)
                elif op < 0.8:
                    toks.insert(r.randrange(len(toks) + 1), r.choice(WORDS))
                elif len(toks) > 4:
                    del toks[r.randrange(len(toks))]
            out.append(" ".join(toks))
        else:
            out.append(_fresh(r))
    return out


def naive(texts: list[str], threshold: float) -> list[bool]:
    """The peer: every new instruction scored with rouge_score against the kept ones (early exit)."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept: list[str] = []
    decisions = []
    for t in texts:
        novel = True
        for k in kept:
            if scorer.score(k, t)["rougeL"].fmeasure > threshold:
                novel = False
                break
        decisions.append(novel)
        if novel:
            kept.append(t)
    return decisions


def ours(texts: list[str], threshold: float) -> list[bool]:
    index = NoveltyIndex(threshold)
    return [index.check_and_add(t).novel for t in texts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--dup-frac", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    texts = generate(args.n, args.dup_frac, args.seed)
    sample = texts[: args.sample]
    t0 = time.perf_counter()
    peer = naive(sample, args.threshold)
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    mine = ours(sample, args.threshold)
    t_ours = time.perf_counter() - t0
    identical = peer == mine
    t0 = time.perf_counter()
    full = ours(texts, args.threshold)
    t_full = time.perf_counter() - t0

    print(f"sample of {len(sample)}: rouge_score all-pairs {t_peer:.2f} s, tunelab {t_ours:.3f} s "
          f"(x{t_peer / t_ours:.0f}); identical decisions: {identical}")  # fmt: skip
    print(f"all {len(texts)}: tunelab {t_full:.2f} s, kept {sum(full)}, rejected {len(full) - sum(full)}")
    print(
        json.dumps(
            {
                "benchmark": "novelty_filter",
                "n": len(texts),
                "sample": len(sample),
                "threshold": args.threshold,
                "sample_identical_decisions": identical,
                "sample_rejected": len(sample) - sum(mine),
                "sample_seconds_rouge_score": round(t_peer, 3),
                "sample_seconds_tunelab": round(t_ours, 3),
                "speedup_on_sample": round(t_peer / t_ours, 1) if t_ours else None,
                "full_seconds_tunelab": round(t_full, 3),
                "full_kept": sum(full),
                "full_rejected": len(full) - sum(full),
                "under_60s": t_full < 60,
            }
        )
    )


if __name__ == "__main__":
    main()
