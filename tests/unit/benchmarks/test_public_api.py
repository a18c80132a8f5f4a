"""The public API of ``tunelab.benchmarks``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.benchmarks as pkg

PUBLIC = {
    "BENCH_READERS",
    "BENCHMARK_METRICS",
    "BENCHMARKS",
    "extract_label",
    "extract_medcalc",
    "extract_program",
    "extract_tatqa",
    "FINQA_PROGRAM_PATTERN",
    "load_benchmark",
    "MEDCALC_ANSWER_PATTERN",
    "medcalc_output_type",
    "NO_ANSWER",
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
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
