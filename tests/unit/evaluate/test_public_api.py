"""The public API of ``tunelab.evaluate``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.evaluate as pkg

PUBLIC = {
    "KLResult",
    "LENIENT_RULES",
    "next_token_kl",
    "three_scores",
    "ChoiceScores",
    "ChoiceSpec",
    "DataSpec",
    "EvalResult",
    "evaluate_model",
    "export_review",
    "grade_single",
    "import_review",
    "judge_pairwise",
    "length_controlled_win_rate",
    "list_suites",
    "load_items",
    "load_suite",
    "load_texts",
    "PairwiseResult",
    "perplexity",
    "PerplexityResult",
    "PerplexitySpec",
    "PromptSpec",
    "rating_judge",
    "REVIEW_PREFERENCES",
    "review_sheets",
    "ReviewExport",
    "ReviewResult",
    "score_choices",
    "scores_table",
    "SingleGradeResult",
    "Suite",
    "suite_from_dict",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
