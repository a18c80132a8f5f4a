"""Benchmark adapters: released benchmark files in their own layouts -> :class:`tunelab.data.Example`, and the
benchmarks' official per-item scoring.

Importing this package registers the formats ``medcalc``, ``finqa``, ``convfinqa``, ``tatqa``, ``pubmedqa``,
``medqa``, ``medmcqa``, ``medmcqa-hf`` and ``phrasebank`` with :func:`tunelab.data.register_format`, so
``tunelab.data.load(path, format=...)`` and ``tunelab data validate --format ...`` read them. Every Example
carries meta ``benchmark``, ``gold``, ``scorer``, ``answer_type`` and what its rule needs (``program``,
``table``, ``exe_ans``, ``scale``, ``output_type``, ``lower_limit``/``upper_limit``, ``options``, ``labels``).

Scoring: :func:`score_example` applies the item's benchmark rule to a raw model output; :func:`score_set`
averages over a set and adds accuracy/macro-F1 (scikit-learn, through :func:`tunelab.scoring.classification`)
for the label benchmarks. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from tunelab.benchmarks._common import (
    BENCH_READERS,
    load_benchmark,
    read_benchmark_records,
    render_table,
)
from tunelab.benchmarks._convfinqa import parse_convfinqa, score_convfinqa
from tunelab.benchmarks._finqa import FINQA_PROGRAM_PATTERN, extract_program, parse_finqa, score_finqa
from tunelab.benchmarks._labels import extract_label
from tunelab.benchmarks._mcq import (
    parse_medmcqa,
    parse_medmcqa_hf,
    parse_medqa,
    score_medmcqa,
    score_medqa,
)
from tunelab.benchmarks._medcalc import (
    MEDCALC_ANSWER_PATTERN,
    extract_medcalc,
    medcalc_output_type,
    parse_medcalc,
    score_medcalc,
)
from tunelab.benchmarks._phrasebank import parse_phrasebank, read_phrasebank, score_phrasebank
from tunelab.benchmarks._pubmedqa import parse_pubmedqa, read_pubmedqa, score_pubmedqa
from tunelab.benchmarks._tatqa import extract_tatqa, parse_tatqa, read_tatqa, score_tatqa
from tunelab.data import Example
from tunelab.scoring import NO_ANSWER, classification

__all__ = [
    "BENCHMARKS",
    "BENCHMARK_METRICS",
    "BENCH_READERS",
    "FINQA_PROGRAM_PATTERN",
    "MEDCALC_ANSWER_PATTERN",
    "NO_ANSWER",
    "extract_label",
    "extract_medcalc",
    "extract_program",
    "extract_tatqa",
    "load_benchmark",
    "medcalc_output_type",
    "parse_convfinqa",
    "parse_finqa",
    "parse_medcalc",
    "parse_medmcqa",
    "parse_medmcqa_hf",
    "parse_medqa",
    "parse_phrasebank",
    "parse_pubmedqa",
    "parse_tatqa",
    "read_benchmark_records",
    "read_phrasebank",
    "read_pubmedqa",
    "read_tatqa",
    "render_table",
    "score_convfinqa",
    "score_example",
    "score_finqa",
    "score_medcalc",
    "score_medmcqa",
    "score_medqa",
    "score_phrasebank",
    "score_pubmedqa",
    "score_set",
    "score_tatqa",
]

#: meta["benchmark"] -> the per-item scorer ``(prediction_text, example) -> {metric: value}``
BENCHMARKS: dict[str, Callable[[str, Example], dict[str, float]]] = {
    "medcalc": score_medcalc,
    "finqa": score_finqa,
    "convfinqa": score_convfinqa,
    "tatqa": score_tatqa,
    "pubmedqa": score_pubmedqa,
    "medqa": score_medqa,
    "medmcqa": score_medmcqa,
    "phrasebank": score_phrasebank,
}

#: per-item metric names the scorers return, with the rule each one applies
BENCHMARK_METRICS: dict[str, str] = {
    "medcalc_accuracy": "MedCalc-Bench: value after the last 'Answer:'; decimal |pred-gt| <= 0.05*|gt|, integer "
    "round(pred) == gt, dates and (weeks, days) exact",
    "execution_accuracy": "FinQA/ConvFinQA: program after 'Program:' (or the one-line output) run by the DSL "
    "interpreter, round(result, 5) == exe_ans",
    "program_accuracy": "FinQA/ConvFinQA: extracted program symbolically equivalent to the gold program",
    "tatqa_em": "TAT-QA exact match on {answer, scale} JSON output (numbers rounded to 2 dp times the scale)",
    "tatqa_f1": "TAT-QA DROP-style F1 on {answer, scale} JSON output (F1 = EM for arithmetic and count)",
    "accuracy": "strict label / option letter: the whole output (or agreeing 'Answer: X' lines) equals the gold",
    "extracted": "share of outputs from which the benchmark's extraction rule read an answer",
}


def score_example(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one raw model output with the official rule of the example's benchmark (meta ``benchmark``).

    Args:
        prediction_text: the model output, unextracted.
        example: an Example produced by a benchmark adapter.

    Returns:
        Per-item metric values in [0, 1] (see :data:`BENCHMARK_METRICS`).

    Raises:
        ValueError: the example does not come from a benchmark adapter.
    """
    name = example.meta.get("benchmark")
    if name not in BENCHMARKS:
        raise ValueError(f"example {example.id!r} has no benchmark scorer (meta benchmark={name!r})")
    return BENCHMARKS[str(name)](prediction_text, example)


def score_set(predictions: Sequence[str], examples: Sequence[Example]) -> dict[str, float]:
    """Score a set: the mean of each per-item metric, plus, when every item is a label item, accuracy and macro-F1
    from :func:`tunelab.scoring.classification` (a failed extraction is the label :data:`NO_ANSWER`).

    Args:
        predictions: raw outputs, one per example.
        examples: the items.

    Returns:
        Metric name -> value; label sets add ``f1_macro``.

    Raises:
        ValueError: lengths differ or the set is empty.
    """
    if len(predictions) != len(examples) or not examples:
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples (need the same, > 0)")
    per = [score_example(p, ex) for p, ex in zip(predictions, examples)]
    out = {k: math.fsum(d[k] for d in per) / len(per) for k in per[0]}
    if all(ex.meta.get("scorer") == "label" for ex in examples):
        y_pred = [extract_label(p, ex) or NO_ANSWER for p, ex in zip(predictions, examples)]
        y_true = [str(ex.meta["gold"]) for ex in examples]
        y_pred = [
            p.lower() if ex.meta.get("labels") and not ex.meta.get("options") else p
            for p, ex in zip(y_pred, examples)
        ]
        res = classification(y_true, y_pred)
        out["f1_macro"] = float(res.scores["f1_macro"])
    return out
