"""From raw outputs to scores: answer extraction per item, per-item scorers, suite metrics with bootstrap CIs.

The metric definitions live in :mod:`tunelab.scoring` and the benchmarks' official rules in
:mod:`tunelab.benchmarks`; this module only decides which one applies to which item and records the rule beside every number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from tunelab.benchmarks import BENCHMARK_METRICS, score_example
from tunelab.data import Example
from tunelab.scoring import (
    NO_ANSWER,
    ExtractSpec,
    MetricScore,
    bootstrap_ci,
    compute_metrics,
    execution_accuracy,
    medcalc_correct,
    numeric_match,
    program_accuracy,
    read_answer,
    rouge_items,
    squad_em,
    squad_f1,
)

__all__ = ["extract_item", "gold_of", "resolve_metrics", "score_items", "NO_ANSWER"]

#: meta["scorer"] -> the runner's scorer name
AUTO_SCORER = {
    "medcalc": "medcalc_accuracy",
    "finqa": "numeric_accuracy",
    "numeric": "numeric_accuracy",
    "label": "label_accuracy",
    "exact_match": "exact_match",
}

RULES = {
    "label_accuracy": "extracted label == gold label (case-insensitive); no extracted answer is wrong",
    "medcalc_accuracy": "MedCalc-Bench: decimal |pred-gt| <= 0.05*|gt|; integer round(pred) == gt; dates and "
    "(weeks, days) exact (tunelab.scoring.medcalc_correct)",
    "numeric_accuracy": "tolerant numeric (not an official rule): |pred - gold| <= half a unit of the last decimal "
    "written in the reference answer (meta.answer_text; percents compared as fractions), else rel_tol=1e-6 "
    "(tunelab.scoring.numeric_match)",
    "execution_accuracy": "FinQA: run the extracted program, round(result, 5) == exe_ans "
    "(tunelab.scoring.execution_accuracy)",
    "program_accuracy": "FinQA: extracted program symbolically equivalent to the gold program",
    "extracted_rate": "share of outputs from which the extraction rule read an answer",
    "tatqa_em": "TAT-QA official exact match (tunelab.benchmarks.score_tatqa on the raw output)",
    "tatqa_f1": "TAT-QA official DROP-style F1 (tunelab.benchmarks.score_tatqa on the raw output)",
    "accuracy_norm": "log-likelihood choice, option log-prob / UTF-8 bytes (lm-evaluation-harness acc_norm)",
}

PER_ITEM_TEXT = ("exact_match", "f1", "rouge1", "rouge2", "rougeL", "rougeLsum")
CORPUS = ("bleu", "chrf", "precision_macro", "recall_macro", "f1_macro", "f1_micro")


def extract_item(output: str, ex: Example, spec: ExtractSpec) -> tuple[str | None, str]:
    """Read the answer from one output (:func:`tunelab.scoring.read_answer` on the item's answer format).

    Args:
        output: the model output.
        ex: the item (``auto`` reads its meta["answer_format"] and meta["labels"]).
        spec: the suite's extraction settings.

    Returns:
        ``(answer or None, rule)`` where the rule names the method actually used.
    """
    fmt = ex.meta.get("answer_format")
    return read_answer(output, spec, None if fmt is None else str(fmt), ex.meta.get("labels"))


def gold_of(ex: Example) -> Any:
    """The gold answer: meta["gold"] when present, else the final assistant turn."""
    if "gold" in ex.meta and ex.meta["gold"] is not None:
        return ex.meta["gold"]
    return (ex.response or "").strip()


def _refs(gold: Any) -> list[str]:
    return [str(g) for g in gold] if isinstance(gold, (list, tuple)) else [str(gold)]


def _answer_tol(ex: Example) -> float | None:
    text = str(ex.meta.get("answer_text") or "")
    m = re.search(r"\d(?:[\d,]*)(?:\.(\d+))?\s*(%?)", text)
    if not m:
        return None
    tol = 0.5 * 10.0 ** -(len(m.group(1) or ""))
    return (tol / 100 if m.group(2) else tol) + 1e-9


def _item_score(name: str, ans: str | None, ex: Example) -> float | None:
    """A scorer applied to one item: 1/0 (or F1 in [0, 1]); None when the item lacks what it needs."""

    gold = gold_of(ex)
    if name == "extracted_rate":
        return float(ans is not None)
    if name == "label_accuracy":
        return float(ans is not None and ans.strip().lower() in {g.strip().lower() for g in _refs(gold)})
    if name == "accuracy":
        return float(ans is not None and ans.strip() in {g.strip() for g in _refs(gold)})
    if name == "exact_match":
        return float(squad_em(ans or "", _refs(gold)))
    if name == "f1":
        return float(squad_f1(ans or "", _refs(gold)))
    if ans is None:
        return 0.0
    if name == "medcalc_accuracy":
        kind = str(ex.meta.get("output_type") or ex.meta.get("answer_type") or "decimal")
        return float(medcalc_correct(ans, gold, kind if kind != "label" else "decimal"))
    if name == "numeric_accuracy":
        tol = _answer_tol(ex)
        try:
            m = numeric_match(ans, gold, abs_tol=tol) if tol is not None else numeric_match(ans, gold)
        except ValueError:  # a non-numeric gold (a yes/no FinQA comparison): compare as text
            return float(ans.strip().lower() == str(gold).strip().lower())
        return float(m.correct)
    if name == "execution_accuracy":
        exe = ex.meta.get("exe_ans", gold)
        return float(execution_accuracy(ans, exe, ex.meta.get("table")))
    if name == "program_accuracy":
        prog = ex.meta.get("program")
        return float(program_accuracy(ans, str(prog))) if prog else None
    raise ValueError(f"no per-item rule for {name!r}")


#: scorers only the benchmark adapters implement (read the raw output whole)
BENCHMARK_WHOLE_OUTPUT = ("tatqa_em", "tatqa_f1")
#: on items from a benchmark adapter (meta["benchmark"]), these come from the adapter's official scorer
BENCHMARK_DELEGATED = (
    "medcalc_accuracy",
    "execution_accuracy",
    "program_accuracy",
    "extracted_rate",
    *BENCHMARK_WHOLE_OUTPUT,
)


def _benchmark_score(name: str, output: str, ex: Example, cache: dict[str, dict[str, float]]) -> float | None:
    """A benchmark adapter's official per-item score of the raw output (``tunelab.benchmarks``)."""

    if ex.id not in cache:
        cache[ex.id] = score_example(output, ex)
    return cache[ex.id].get("extracted" if name == "extracted_rate" else name)


def resolve_metrics(names: Sequence[str], items: Sequence[Example]) -> list[str]:
    """Expand ``auto`` into the scorers the items' meta["scorer"] name (plus macro-F1 for label tasks)."""
    out: list[str] = []
    for n in names:
        if n != "auto":
            out.append(n)
            continue
        for ex in items:
            s = AUTO_SCORER.get(str(ex.meta.get("scorer")), "exact_match")
            out.append(s)
            if s == "label_accuracy":
                out.append("f1_macro")
    return list(dict.fromkeys(out))


def _applies(name: str, ex: Example, auto: bool) -> bool:
    """Under ``auto`` a scorer covers only the items whose meta["scorer"] names it."""
    if not auto or name == "extracted_rate":
        return True
    scorer = AUTO_SCORER.get(str(ex.meta.get("scorer")), "exact_match")
    return scorer == ("label_accuracy" if name == "f1_macro" else name)


def score_items(
    metrics: Sequence[str],
    items: Sequence[Example],
    answers: Sequence[str | None],
    n_bootstrap: int,
    seed: int,
    auto_metrics: set[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> tuple[dict[str, MetricScore], list[dict[str, float]]]:
    """Score a suite's extracted answers.

    Args:
        metrics: resolved metric names (see :func:`resolve_metrics`).
        items: the items.
        answers: the extracted answer per item (``None`` = no answer).
        n_bootstrap: resamples for the 95% percentile bootstrap CI (over items).
        seed: resampling seed.
        auto_metrics: the names that came from ``auto`` (they cover only their items).
        outputs: the raw outputs, for the benchmark scorers that read them whole (``tatqa_em``, ``tatqa_f1``:
            ``tunelab.benchmarks.score_example``; items without meta["benchmark"] are skipped).

    Returns:
        ``(scores, per_item)``: the suite scores, and per item a dict of the per-item values.
    """
    auto_metrics = auto_metrics or set()
    per_item: list[dict[str, float]] = [{} for _ in items]
    bench_cache: dict[str, dict[str, float]] = {}
    scores: dict[str, MetricScore] = {}
    ci_rule = f"percentile bootstrap over items, {n_bootstrap} resamples, seed {seed}, 95%"
    for name in metrics:
        idx = [i for i, ex in enumerate(items) if _applies(name, ex, name in auto_metrics)]
        if not idx:
            continue
        preds: list[str] = [a if (a := answers[i]) is not None else NO_ANSWER for i in idx]
        golds = [_refs(gold_of(items[i])) for i in idx]
        if name in CORPUS:
            pairs = list(zip(preds, golds))
            is_cls = name != "bleu" and name != "chrf"
            refs_arg: Callable[[list[Any]], Any] = (
                (lambda ps: [g[0] for _, g in ps]) if is_cls else (lambda ps: [g for _, g in ps])
            )

            def stat(ps: Sequence[Any], name: str = name, refs_arg: Any = refs_arg) -> float:
                res = compute_metrics([name], [p for p, _ in ps], refs_arg(list(ps)))
                return float(res["scores"][name])  # type: ignore[index]

            full = compute_metrics([name], preds, refs_arg(pairs))
            ci = bootstrap_ci(pairs, n=n_bootstrap, seed=seed, statistic=stat)
            rule = str(full["rules"][name])  # type: ignore[index]
            if is_cls:
                rule += f"; a failed extraction counts as the label {NO_ANSWER!r}"
            scores[name] = MetricScore(ci.estimate, ci.low, ci.high, len(idx), rule, ci_rule)
            continue
        if name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            vals = [r[name] for r in rouge_items(preds, golds, rouge_types=[name])]
            rule = str(compute_metrics([name], preds[:1], golds[:1])["rules"][name])  # type: ignore[index]
        else:
            official = [
                name in BENCHMARK_DELEGATED and outputs is not None and bool(items[i].meta.get("benchmark"))
                for i in idx
            ]
            raw = [
                _benchmark_score(name, outputs[i], items[i], bench_cache)  # type: ignore[index]
                if off
                else None
                if name in BENCHMARK_WHOLE_OUTPUT
                else _item_score(name, answers[i], items[i])
                for i, off in zip(idx, official)
            ]
            keep = [(i, v) for i, v in zip(idx, raw) if v is not None]
            if not keep:
                continue
            idx, vals = [i for i, _ in keep], [v for _, v in keep]
            rule = RULES.get(name, "")
            if any(official):
                rule = f"{BENCHMARK_METRICS.get(name, rule)} (the benchmark adapter's official scorer, raw output)"
            if name in ("exact_match", "f1", "accuracy"):
                rule = str(compute_metrics([name], ["x"], ["x"])["rules"][name])  # type: ignore[index]
        for i, v in zip(idx, vals):
            per_item[i][name] = float(v)
        ci = bootstrap_ci(vals, n=n_bootstrap, seed=seed)
        scores[name] = MetricScore(math.fsum(vals) / len(vals), ci.low, ci.high, len(vals), rule, ci_rule)
    return scores, per_item
