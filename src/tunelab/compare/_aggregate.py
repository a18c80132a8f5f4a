"""From per-item rows to the comparison's numbers: per model and metric a mean over seeds with a CI that
covers seed and item variation (hierarchical bootstrap), per-seed values, paired differences, flipped items.

The base model is one model (no training seed): its CI is the item bootstrap, and in a difference with a tuned
model its per-item values are paired with each seed's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tunelab.scoring import hierarchical_bootstrap, mcnemar

__all__ = ["MODELS", "PAIRS", "aggregate_slice"]

MODELS = ("base", "instruction", "finetune")
PAIRS = (("instruction", "finetune"), ("finetune", "base"), ("instruction", "base"))
LN2 = math.log(2)

Rows = dict[str, dict[int, list[dict[str, Any]]]]  # model -> seed -> rows (base under seed -1)


def _bpb(rows: Sequence[dict[str, Any]]) -> float:
    return math.fsum(r["nll"] for r in rows) / math.fsum(r["n_bytes"] for r in rows) / LN2


def _kl(rows: Sequence[dict[str, Any]]) -> float:
    return math.fsum(r["kl_sum"] for r in rows) / max(1, sum(r["positions"] for r in rows))


def _groups(rows: Rows, m: str) -> list[list[dict[str, Any]]]:
    return [rows[m][s] for s in sorted(rows[m])]


def _model_entry(
    rows: Rows, m: str, stat: Callable[[Sequence[Any]], float], nb: int, seed: int
) -> dict[str, Any]:

    groups = _groups(rows, m)
    ci = hierarchical_bootstrap(groups, n=nb, seed=seed, statistic=stat)
    per_seed = {str(s): stat(rows[m][s]) for s in sorted(rows[m]) if s >= 0}
    return {"value": ci.estimate, "ci": [ci.low, ci.high], "per_seed": per_seed}


def _paired_groups(rows: Rows, a: str, b: str) -> dict[int, list[tuple[dict[str, Any], dict[str, Any]]]]:
    out = {}
    for s in sorted(rows[a] if a != "base" else rows[b]):
        ra = rows[a][s if a != "base" else -1]
        rb = rows[b][s if b != "base" else -1]
        if [r["id"] for r in ra] != [r["id"] for r in rb]:
            raise ValueError(f"{a} and {b} were graded on different items")
        out[s] = list(zip(ra, rb))
    return out


def _pair_entry(
    rows: Rows, a: str, b: str, stat: Callable[[Sequence[Any]], float], nb: int, seed: int
) -> dict[str, Any]:

    groups = _paired_groups(rows, a, b)

    def diff(pairs: Sequence[Any]) -> float:
        return stat([x for x, _ in pairs]) - stat([y for _, y in pairs])

    ci = hierarchical_bootstrap(list(groups.values()), n=nb, seed=seed, statistic=diff)
    return {
        "diff": ci.estimate,
        "ci": [ci.low, ci.high],
        "per_seed": {str(s): diff(g) for s, g in groups.items()},
        "n_seeds": len(groups),
    }


def _flips(rows: Rows, a: str, b: str, metric: str, limit: int = 8) -> dict[str, Any]:
    """Items that flipped between a and b under ``metric``, per seed counts; the first seed's items listed
    with both outputs."""

    groups = _paired_groups(rows, a, b)
    counts, listed, mc = {}, [], None
    for k, (s, pairs) in enumerate(groups.items()):
        gained = [(x, y) for x, y in pairs if x[metric] >= 0.5 > y[metric]]
        lost = [(x, y) for x, y in pairs if y[metric] >= 0.5 > x[metric]]
        counts[str(s)] = {"gained": len(gained), "lost": len(lost)}
        if k == 0:
            mc = mcnemar([x[metric] >= 0.5 for x, _ in pairs], [y[metric] >= 0.5 for _, y in pairs]).p_value
            for direction, lst in (("gained", gained), ("lost", lost)):
                for x, y in lst[:limit]:
                    listed.append(
                        {"id": x["id"], "seed": s, "direction": direction, "prompt": x.get("prompt", ""),
                         "gold": x.get("gold"), "outputs": {a: x.get("prediction", ""), b: y.get("prediction", "")}}
                    )  # fmt: skip
    first = next(iter(counts.values()))
    return {
        "per_seed": counts,
        "gained": first["gained"],
        "lost": first["lost"],
        "mcnemar_p": mc,
        "items": listed,
    }


def _mean_key(key: str) -> Callable[[Sequence[dict[str, Any]]], float]:
    return lambda rows: math.fsum(float(r[key]) for r in rows) / len(rows)


METRIC_NAMES = {
    "generate": ("strict", "lenient", "format"),
    "ifeval": ("strict", "lenient", "format"),
}


def aggregate_slice(key: str, spec: dict[str, Any], rows: Rows, nb: int, seed: int) -> dict[str, Any]:
    """The compare.json entry of one slice (see ``compare/_compare.py`` for the shape)."""
    kind = spec["kind"]
    if kind in METRIC_NAMES:
        stats = {m: _mean_key(m) for m in METRIC_NAMES[kind]}
        headline, scale, higher = "strict", "fraction", True
    elif kind == "bits_per_byte":
        stats, headline, scale, higher = {"bits_per_byte": _bpb}, "bits_per_byte", "absolute", False
    else:
        stats, headline, scale, higher = {"kl": _kl}, "kl", "absolute", False
    metrics: dict[str, Any] = {}
    for name, stat in stats.items():
        metrics[name] = {
            "models": {m: _model_entry(rows, m, stat, nb, seed) for m in MODELS},
            "pairs": {f"{a}-{b}": _pair_entry(rows, a, b, stat, nb, seed) for a, b in PAIRS},
        }
    out: dict[str, Any] = {
        "key": key,
        "name": spec["name"],
        "kind": kind,
        "metric": headline,
        "scale": scale,
        "higher_is_better": higher,
        "n": len(rows["base"][-1]),
        "description": spec["description"],
        "metrics": metrics,
        "models": metrics[headline]["models"],
        "pairs": metrics[headline]["pairs"],
    }
    if kind in METRIC_NAMES:
        for a, b in PAIRS:
            out["pairs"][f"{a}-{b}"]["flipped"] = _flips(rows, a, b, "strict")
        out["per_task"] = _per_task(rows)
        out["examples"] = _examples(rows)
    return out


def _per_task(rows: Rows) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for m in MODELS:
        tot: dict[str, list[float]] = {}
        for s in rows[m]:
            for r in rows[m][s]:
                tot.setdefault(str(r.get("task") or "?"), []).append(float(r["strict"]))
        for t, v in tot.items():
            out.setdefault(t, {})[m] = math.fsum(v) / len(v)
    return out


def _examples(rows: Rows, k: int = 4) -> list[dict[str, Any]]:
    base = rows["base"][-1]
    first = {m: rows[m][min(rows[m])] for m in MODELS}
    return [
        {"id": base[i]["id"], "prompt": base[i]["prompt"], "gold": base[i]["gold"],
         "outputs": {m: first[m][i]["prediction"] for m in MODELS},
         "scores": {m: {x: first[m][i][x] for x in ("strict", "lenient", "format")} for m in MODELS}}
        for i in range(min(k, len(base)))
    ]  # fmt: skip
