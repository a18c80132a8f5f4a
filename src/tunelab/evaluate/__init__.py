"""tunelab.evaluate: suites, items, the evaluation runner, perplexity, log-likelihood choice, LLM judge and human
review.

The metrics, extraction rules and statistics it reports with live in :mod:`tunelab.scoring`; generation goes
through :mod:`tunelab.generation`'s backends. Importing this package does not import torch.
"""

from __future__ import annotations

from tunelab.evaluate._human import PREFERENCES as REVIEW_PREFERENCES
from tunelab.evaluate._human import ReviewExport, ReviewResult, export_review, import_review, review_sheets
from tunelab.evaluate._items import load_items, load_texts
from tunelab.evaluate._judge import (
    PairwiseResult,
    SingleGradeResult,
    grade_single,
    judge_pairwise,
    length_controlled_win_rate,
    rating_judge,
)
from tunelab.evaluate._kl import KLResult, next_token_kl
from tunelab.evaluate._lenient import LENIENT_RULES, three_scores
from tunelab.evaluate._loglik import ChoiceScores, score_choices
from tunelab.evaluate._ppl import PerplexityResult, perplexity
from tunelab.evaluate._runner import EvalResult, evaluate_model, scores_table
from tunelab.evaluate._suite import (
    ChoiceSpec,
    DataSpec,
    PerplexitySpec,
    PromptSpec,
    Suite,
    list_suites,
    load_suite,
    suite_from_dict,
)

__all__ = [
    "KLResult",
    "LENIENT_RULES",
    "next_token_kl",
    "three_scores",
    "ChoiceScores",
    "ChoiceSpec",
    "DataSpec",
    "EvalResult",
    "PairwiseResult",
    "PerplexityResult",
    "PerplexitySpec",
    "PromptSpec",
    "REVIEW_PREFERENCES",
    "ReviewExport",
    "ReviewResult",
    "SingleGradeResult",
    "Suite",
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
    "perplexity",
    "rating_judge",
    "review_sheets",
    "score_choices",
    "scores_table",
    "suite_from_dict",
]
