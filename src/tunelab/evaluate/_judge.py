"""LLM-as-judge through any backend: pairwise comparison and single-answer grading (MT-Bench prompts).

Pairwise (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena"): every pair is
judged twice, with the answers in both orders, to cancel position bias. A verdict is kept only when the
two orders agree; when they disagree the item counts as a tie (the paper's conservative rule). A judge
output that does not contain exactly one verdict ``[[A]]``, ``[[B]]`` or ``[[C]]`` is a parse failure,
counted as such and excluded from the rates (never guessed).

Length-controlled win rate (after AlpacaEval 2.0's length-controlled win rate, Dubois et al. 2024, reduced
to its core): judges prefer longer answers, so a model can "win" by talking more. We fit a logistic
regression of the outcome (win = 1, loss = 0, a tie as half a win and half a loss through sample weights)
on the standardized length difference ``(len_a - len_b) / sd`` with an intercept and no penalty, and report
``sigmoid(intercept)``: the predicted win probability when both answers have the same length. When every
outcome is the same, the regression is undefined and the raw rate is reported (``lc_method`` says so).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.errors import InputError
from tunelab.generation import Backend, Decoding
from tunelab.scoring import MetricScore, bootstrap_ci

__all__ = [
    "PAIR_SYSTEM",
    "SINGLE_SYSTEM",
    "PairJudgment",
    "PairwiseResult",
    "SingleGrade",
    "SingleGradeResult",
    "judge_pairwise",
    "grade_single",
    "rating_judge",
    "parse_pair_verdict",
    "parse_rating",
    "length_controlled_win_rate",
]

# MT-Bench "pair-v2" judge prompt (FastChat llm_judge/data/judge_prompts.jsonl)
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's instructions "
    "and answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of "
    "the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective "
    "as possible. After providing your explanation, output your final verdict by strictly following this format: "
    '"[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
PAIR_USER = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's "
    "Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]"
)
# MT-Bench "single-v1"
SINGLE_SYSTEM = "You are a helpful assistant."
SINGLE_USER = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI "
    "assistant to the user question displayed below. {rubric}Begin your evaluation by providing a short "
    "explanation. Be as objective as possible. After providing your explanation, you must rate the response on a "
    'scale of 1 to 10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".\n\n'
    "[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
DEFAULT_RUBRIC = (
    "Your evaluation should consider factors such as the helpfulness, relevance, accuracy, depth, creativity, "
    "and level of detail of the response. "
)

_VERDICT_RE = re.compile(r"\[\[([ABC])\]\]")
_RATING_RE = re.compile(r"\[\[\s*([0-9]+)\s*\]\]")


def parse_pair_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``tie`` from a judge output; ``None`` unless every verdict in it is the same one."""
    found = set(_VERDICT_RE.findall(text or ""))
    if len(found) != 1:
        return None
    v = found.pop()
    return "tie" if v == "C" else v


def parse_rating(text: str) -> int | None:
    """The 1-10 rating written ``[[N]]``; ``None`` when absent, out of range, or several different ones."""
    found = {int(x) for x in _RATING_RE.findall(text or "")}
    if len(found) != 1:
        return None
    r = found.pop()
    return r if 1 <= r <= 10 else None


@dataclass
class PairJudgment:
    """One item judged in both orders (outcome from system A's side: ``win``, ``loss``, ``tie`` or ``error``)."""

    id: str
    verdict_ab: str | None
    verdict_ba: str | None
    outcome: str
    consistent: bool
    len_a: int
    len_b: int
    raw_ab: str = ""
    raw_ba: str = ""


@dataclass
class PairwiseResult:
    """Pairwise judging of system A against system B.

    Attributes:
        judgments: per item.
        win_rate, tie_rate, loss_rate: shares of judged items (parse failures excluded), with bootstrap CIs.
        win_rate_ties_half: wins plus half the ties.
        lc_win_rate: length-controlled win rate (module docstring) with a bootstrap CI.
        n_items, n_judged, n_parse_failures, n_inconsistent: counts.
        rule: how outcomes were decided.
    """

    judgments: list[PairJudgment]
    win_rate: MetricScore
    tie_rate: MetricScore
    loss_rate: MetricScore
    win_rate_ties_half: MetricScore
    lc_win_rate: MetricScore
    n_items: int
    n_judged: int
    n_parse_failures: int
    n_inconsistent: int
    rule: str = ""
    judge: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: (v.to_dict() if isinstance(v, MetricScore) else v) for k, v in self.__dict__.items()}
        d["judgments"] = [j.__dict__ for j in self.judgments]
        return d


def _combine(v_ab: str | None, v_ba: str | None) -> tuple[str, bool]:
    """Outcome for system A from the verdict with A first (``v_ab``) and with A second (``v_ba``)."""
    if v_ab is None or v_ba is None:
        return "error", False
    first = {"A": "win", "B": "loss", "tie": "tie"}[v_ab]
    second = {"A": "loss", "B": "win", "tie": "tie"}[v_ba]  # A was shown as "Assistant B"
    if first == second:
        return first, True
    return "tie", False


def length_controlled_win_rate(
    outcomes: Sequence[str], len_a: Sequence[int], len_b: Sequence[int]
) -> tuple[float, str]:
    """Predicted win probability at zero length difference (see the module docstring).

    Args:
        outcomes: ``win``/``loss``/``tie`` per judged item.
        len_a, len_b: answer lengths in characters.

    Returns:
        ``(rate, method)``.
    """
    import numpy as np

    y_win = np.array([1.0 if o == "win" else 0.5 if o == "tie" else 0.0 for o in outcomes])
    if len(y_win) == 0:
        return float("nan"), "no items"
    if np.all(y_win == y_win[0]):
        return float(y_win[0]), "raw rate (all outcomes equal: logistic regression undefined)"
    from sklearn.linear_model import LogisticRegression

    diff = np.asarray(len_a, dtype=float) - np.asarray(len_b, dtype=float)
    sd = float(diff.std())
    x = (diff / sd if sd > 0 else np.zeros_like(diff))[:, None]
    # each item enters as a win row weighted y and a loss row weighted 1 - y (ties: half each)
    xs = np.concatenate([x, x])
    ys = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    w = np.concatenate([y_win, 1.0 - y_win])
    keep = w > 0
    model = LogisticRegression(penalty=None, fit_intercept=True, max_iter=1000)
    model.fit(xs[keep], ys[keep], sample_weight=w[keep])
    b0 = float(model.intercept_[0])
    return 1.0 / (1.0 + math.exp(-b0)), "logistic regression of win on standardized length difference, at 0"


def _judge_text(backend: Backend, prompts: list[list[dict[str, str]]], decoding: Decoding) -> list[str]:
    return [g.text for g in backend.generate(prompts, decoding)]


def _lc_score(judged: list[PairJudgment], n_bootstrap: int, seed: int, ci_rule: str) -> MetricScore:
    """The length-controlled win rate of the judged items, with a bootstrap CI over items."""

    def lc_of(js: Sequence[PairJudgment]) -> float:
        return length_controlled_win_rate(
            [j.outcome for j in js], [j.len_a for j in js], [j.len_b for j in js]
        )[0]

    lc, lc_method = length_controlled_win_rate(
        [j.outcome for j in judged], [j.len_a for j in judged], [j.len_b for j in judged]
    )
    ci = bootstrap_ci(judged, n=n_bootstrap, seed=seed, statistic=lc_of)
    return MetricScore(lc, ci.low, ci.high, len(judged), f"length-controlled win rate: {lc_method}", ci_rule)


def judge_pairwise(
    backend: Backend,
    questions: Sequence[str],
    answers_a: Sequence[str],
    answers_b: Sequence[str],
    ids: Sequence[str] | None = None,
    decoding: Decoding | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> PairwiseResult:
    """Judge system A against system B on the same questions, each pair in both orders.

    Args:
        backend: the judge model (any backend: a local model, an OpenAI-compatible server, vLLM).
        questions: the user questions.
        answers_a: system A's answers.
        answers_b: system B's answers.
        ids: item ids (default ``0..n-1``).
        decoding: judge decoding (greedy, 512 new tokens by default).
        n_bootstrap: resamples for the 95% CIs (over items).
        seed: bootstrap seed.

    Returns:
        A :class:`PairwiseResult`.

    Raises:
        InputError: mismatched lengths or no items.
    """
    n = len(questions)
    if n == 0 or len(answers_a) != n or len(answers_b) != n:
        raise InputError(
            f"need as many answers as questions ({n}, {len(answers_a)}, {len(answers_b)})", field="answers"
        )
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(n)]
    decoding = decoding or Decoding(max_new_tokens=512)

    def prompt(q: str, a: str, b: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": PAIR_SYSTEM},
            {"role": "user", "content": PAIR_USER.format(question=q, answer_a=a, answer_b=b)},
        ]

    prompts = [prompt(q, a, b) for q, a, b in zip(questions, answers_a, answers_b)]
    prompts += [prompt(q, b, a) for q, a, b in zip(questions, answers_a, answers_b)]
    raw = _judge_text(backend, prompts, decoding)
    judgments = []
    for k in range(n):
        v_ab, v_ba = parse_pair_verdict(raw[k]), parse_pair_verdict(raw[n + k])
        outcome, consistent = _combine(v_ab, v_ba)
        judgments.append(
            PairJudgment(
                ids[k],
                v_ab,
                v_ba,
                outcome,
                consistent,
                len(answers_a[k]),
                len(answers_b[k]),
                raw[k],
                raw[n + k],
            )
        )
    judged = [j for j in judgments if j.outcome != "error"]
    ci_rule = f"percentile bootstrap over items, {n_bootstrap} resamples, seed {seed}, 95%"
    rule = (
        "MT-Bench pair-v2 prompt; each pair judged in both orders; disagreeing orders count as a tie; "
        "outputs without exactly one [[A]]/[[B]]/[[C]] are parse failures, excluded"
    )

    def rate(values: list[float], what: str) -> MetricScore:
        if not values:
            return MetricScore(float("nan"), float("nan"), float("nan"), 0, what, ci_rule)
        ci = bootstrap_ci(values, n=n_bootstrap, seed=seed)
        return MetricScore(ci.estimate, ci.low, ci.high, len(values), what, ci_rule)

    outcomes = [j.outcome for j in judged]
    lc_score = (
        _lc_score(judged, n_bootstrap, seed, ci_rule) if judged else rate([], "length-controlled win rate")
    )
    return PairwiseResult(
        judgments=judgments,
        win_rate=rate([float(o == "win") for o in outcomes], "share of judged items A won in both orders"),
        tie_rate=rate([float(o == "tie") for o in outcomes], "share of ties (including inconsistent orders)"),
        loss_rate=rate([float(o == "loss") for o in outcomes], "share of judged items A lost in both orders"),
        win_rate_ties_half=rate(
            [1.0 if o == "win" else 0.5 if o == "tie" else 0.0 for o in outcomes], "wins + ties / 2"
        ),
        lc_win_rate=lc_score,
        n_items=n,
        n_judged=len(judged),
        n_parse_failures=n - len(judged),
        n_inconsistent=sum(1 for j in judged if not j.consistent),
        rule=rule,
        judge={**backend.describe(), "decoding": decoding.to_dict()},
    )


@dataclass
class SingleGrade:
    """One graded answer: the parsed 1-10 rating (``None`` = parse failure) and the judge's output."""

    id: str
    rating: int | None
    raw: str


@dataclass
class SingleGradeResult:
    """Single-answer grading: the mean rating over parsed grades (with CI) and the parse failures."""

    grades: list[SingleGrade]
    mean_rating: MetricScore
    n_parse_failures: int
    judge: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grades": [g.__dict__ for g in self.grades],
            "mean_rating": self.mean_rating.to_dict(),
            "n_parse_failures": self.n_parse_failures,
            "judge": self.judge,
        }


def grade_single(
    backend: Backend,
    questions: Sequence[str],
    answers: Sequence[str],
    rubric: str | None = None,
    ids: Sequence[str] | None = None,
    decoding: Decoding | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> SingleGradeResult:
    """Grade each answer 1-10 on a rubric (MT-Bench single-v1 prompt), parsed strictly from ``[[N]]``.

    Args:
        backend: the judge.
        questions: the user questions.
        answers: the answers to grade.
        rubric: what to judge on (MT-Bench's helpfulness/relevance/accuracy... when omitted).
        ids: item ids.
        decoding: judge decoding (greedy, 512 new tokens by default).
        n_bootstrap: resamples for the CI of the mean rating.
        seed: bootstrap seed.

    Returns:
        A :class:`SingleGradeResult`.

    Raises:
        InputError: mismatched lengths or no items.
    """
    if not questions or len(answers) != len(questions):
        raise InputError(f"need one answer per question ({len(questions)}, {len(answers)})", field="answers")
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(questions))]
    decoding = decoding or Decoding(max_new_tokens=512)
    rub = (rubric.strip() + " ") if rubric else DEFAULT_RUBRIC
    prompts = [
        [
            {"role": "system", "content": SINGLE_SYSTEM},
            {"role": "user", "content": SINGLE_USER.format(rubric=rub, question=q, answer=a)},
        ]
        for q, a in zip(questions, answers)
    ]
    raw = _judge_text(backend, prompts, decoding)
    grades = [SingleGrade(i, parse_rating(r), r) for i, r in zip(ids, raw)]
    vals = [float(g.rating) for g in grades if g.rating is not None]
    ci_rule = f"percentile bootstrap over items, {n_bootstrap} resamples, seed {seed}, 95%"
    what = "mean 1-10 rating parsed strictly from [[N]] (MT-Bench single-v1); parse failures excluded"
    if vals:
        ci = bootstrap_ci(vals, n=n_bootstrap, seed=seed)
        mean = MetricScore(ci.estimate, ci.low, ci.high, len(vals), what, ci_rule)
    else:
        mean = MetricScore(float("nan"), float("nan"), float("nan"), 0, what, ci_rule)
    return SingleGradeResult(
        grades, mean, len(grades) - len(vals), {**backend.describe(), "decoding": decoding.to_dict()}
    )


def rating_judge(
    backend: Backend, rubric: str | None = None, max_new_tokens: int = 512
) -> Callable[[Sequence[str], Sequence[str], Sequence[str]], list[tuple[int | None, str]]]:
    """An LLM-judge gate for :func:`tunelab.synth.filter_examples` (its ``judge`` argument).

    Args:
        backend: the judge model.
        rubric: what to judge on (MT-Bench's default rubric when omitted).
        max_new_tokens: the judge's generation budget (greedy decoding).

    Returns:
        ``judge(instructions, responses, ids)``: per pair ``(rating 1-10 or None, raw judge output)``, graded
        by :func:`grade_single`.
    """

    def judge(
        instructions: Sequence[str], responses: Sequence[str], ids: Sequence[str]
    ) -> list[tuple[int | None, str]]:
        graded = grade_single(
            backend,
            instructions,
            responses,
            rubric=rubric,
            ids=ids,
            decoding=Decoding(max_new_tokens=max_new_tokens),
        )
        return [(g.rating, g.raw) for g in graded.grades]

    return judge
