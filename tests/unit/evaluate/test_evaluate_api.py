"""The public API of tunelab.evaluate (metrics part) and its import weight."""

from __future__ import annotations

import subprocess
import sys

import tunelab.evaluate as ev

METRICS_API = {
    "bleu",
    "chrf",
    "rouge",
    "rouge_items",
    "exact_match",
    "f1",
    "squad_em",
    "squad_f1",
    "normalize_squad",
    "classification",
    "perplexity_from_nll",
    "compute_metrics",
    "split_sentences",
    "MetricResult",
    "execute_program",
    "run_program",
    "program_answer",
    "parse_program",
    "parse_table_cell",
    "execution_accuracy",
    "program_accuracy",
    "FinQAProgramError",
    "parse_number",
    "medcalc_correct",
    "tatqa_em_f1",
    "numeric_match",
    "extract_answer",
    "bootstrap_ci",
    "paired_bootstrap",
    "mcnemar",
    "flipped_items",
}


def test_public_names_are_exported() -> None:
    missing = METRICS_API - set(ev.__all__)
    assert not missing
    for name in ev.__all__:
        assert hasattr(ev, name), name


def test_import_is_light() -> None:
    code = (
        "import sys, tunelab.evaluate; "
        "print(','.join(m for m in ('torch', 'sacrebleu', 'rouge_score', 'sklearn', 'sympy', 'scipy', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
