"""The public API of ``tunelab.scoring``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.scoring as pkg

PUBLIC = {
    "IFEVAL_TYPES",
    "IFEvalResult",
    "check_instruction",
    "ifeval_score",
    "hierarchical_bootstrap",
    "ANSWER_FORMATS",
    "BINARY_OPS",
    "bleu",
    "bootstrap_ci",
    "BootstrapCI",
    "chrf",
    "classification",
    "CLASSIFICATION_METRICS",
    "compute_metrics",
    "DEFAULT_METRICS",
    "exact_match",
    "execute_program",
    "execution_accuracy",
    "extract_answer",
    "extract_formatted",
    "EXTRACT_METHODS",
    "EXTRACTION_METHODS",
    "ExtractSpec",
    "f1",
    "FinQAExecution",
    "FinQAProgramError",
    "FinQAStep",
    "flipped_items",
    "mcnemar",
    "McNemarResult",
    "medcalc_correct",
    "METRIC_NAMES",
    "MetricResult",
    "MetricScore",
    "NO_ANSWER",
    "normalize_squad",
    "numeric_match",
    "NumericMatch",
    "paired_bootstrap",
    "PairedBootstrap",
    "parse_number",
    "parse_program",
    "parse_table_cell",
    "perplexity_from_nll",
    "program_accuracy",
    "program_answer",
    "read_answer",
    "rouge",
    "rouge_items",
    "run_program",
    "SCALES",
    "split_sentences",
    "squad_em",
    "squad_f1",
    "TABLE_OPS",
    "tatqa_em_f1",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
