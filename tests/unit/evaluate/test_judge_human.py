"""LLM judge and human review, end to end through a real OpenAI-compatible server on loopback.

The tiny model is a poor judge (it never writes a verdict): the point here is the plumbing: both orders are
asked, parse failures are counted as such, inconsistent verdicts become ties, and the blind sheet round-trips.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from tunelab.evaluate._human import export_review, import_review
from tunelab.evaluate._judge import (
    grade_single,
    judge_pairwise,
    length_controlled_win_rate,
    parse_pair_verdict,
    parse_rating,
)
from tunelab.generation import Decoding, Generation, OpenAIBackend, Prompt

QUESTIONS = ["What is 2 + 2?", "Name a colour.", "Is the sky green?", "Say hello."]


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from tunelab.serve import start_background_server

    srv = start_background_server("tunelab-tiny", device="cpu", max_tokens_limit=64)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def backend(server: Any) -> OpenAIBackend:
    return OpenAIBackend(server.base_url, model=server.model_name, concurrency=4, max_retries=1, timeout_s=60)


@pytest.fixture(scope="module")
def answers(backend: OpenAIBackend) -> tuple[list[str], list[str]]:
    chats: list[Prompt] = [[{"role": "user", "content": q}] for q in QUESTIONS]
    a = [g.text for g in backend.generate(chats, Decoding(max_new_tokens=8))]
    b = [
        g.text for g in backend.generate([str(q) for q in QUESTIONS], Decoding(max_new_tokens=3))
    ]  # /completions
    return a, b


class PositionBiasedJudge:
    """A judge that always prefers whichever answer is shown first, and writes its verdict in the MT-Bench form."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        self.prompts.extend(str(p[-1]["content"]) for p in prompts if not isinstance(p, str))
        return [Generation("Assistant A is more helpful. [[A]]") for _ in prompts]

    def describe(self) -> dict[str, Any]:
        return {"backend": "position-biased test judge"}


def test_parsers_are_strict() -> None:
    assert parse_pair_verdict("...so [[B]]") == "B"
    assert parse_pair_verdict("[[C]]") == "tie"
    assert parse_pair_verdict("[[A]] or maybe [[B]]") is None
    assert parse_pair_verdict("A is better") is None
    assert parse_rating("Rating: [[7]]") == 7
    assert (
        parse_rating("[[11]]") is None
        and parse_rating("7/10") is None
        and parse_rating("[[3]] [[4]]") is None
    )


def test_pairwise_through_the_server(backend: OpenAIBackend, answers: tuple[list[str], list[str]]) -> None:
    a, b = answers
    res = judge_pairwise(backend, QUESTIONS, a, b, decoding=Decoding(max_new_tokens=16), n_bootstrap=50)
    assert res.n_items == len(QUESTIONS) == len(res.judgments)
    for j in res.judgments:
        assert isinstance(j.raw_ab, str) and isinstance(j.raw_ba, str)
        if j.verdict_ab is None or j.verdict_ba is None:
            assert j.outcome == "error"
    assert res.n_parse_failures == sum(j.outcome == "error" for j in res.judgments)
    assert res.n_judged + res.n_parse_failures == res.n_items
    assert res.judge["backend"] == "openai"
    g = grade_single(
        backend,
        QUESTIONS,
        a,
        rubric="Judge correctness only.",
        decoding=Decoding(max_new_tokens=16),
        n_bootstrap=50,
    )
    assert g.n_parse_failures == sum(x.rating is None for x in g.grades)
    assert len(g.grades) == len(QUESTIONS)


def test_both_orders_and_inconsistency_is_a_tie(answers: tuple[list[str], list[str]]) -> None:
    a, b = answers
    judge = PositionBiasedJudge()
    res = judge_pairwise(judge, QUESTIONS, a, b, n_bootstrap=50)
    n = len(QUESTIONS)
    assert len(judge.prompts) == 2 * n
    for k in range(n):  # the same pair, once in each order
        first, second = judge.prompts[k], judge.prompts[n + k]
        assert f"Assistant A's Answer]\n{a[k]}\n[The End of Assistant A" in first
        assert f"Assistant B's Answer]\n{b[k]}\n[The End of Assistant B" in first
        assert f"Assistant A's Answer]\n{b[k]}\n[The End of Assistant A" in second
        assert f"Assistant B's Answer]\n{a[k]}\n[The End of Assistant B" in second
    assert all(j.outcome == "tie" and not j.consistent for j in res.judgments)
    assert res.tie_rate.value == 1.0 and res.win_rate.value == 0.0 and res.n_inconsistent == n


def _weighted_logit_intercept(x: np.ndarray, y: np.ndarray) -> float:
    """Newton's method on the weighted logistic likelihood (ties as half a win and half a loss)."""
    X = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(100):
        p = 1 / (1 + np.exp(-X @ beta))
        grad = X.T @ (y - p)
        hess = (X * (p * (1 - p))[:, None]).T @ X
        beta += np.linalg.solve(hess, grad)
    return float(beta[0])


def test_length_controlled_win_rate() -> None:
    rng = np.random.default_rng(0)
    diff = rng.normal(0, 100, 200)
    p_win = 1 / (1 + np.exp(-(-0.5 + diff / 50)))  # longer wins, but A is worse at equal length
    outcomes = ["win" if u < p else "loss" for u, p in zip(rng.random(200), p_win)]
    outcomes[:10] = ["tie"] * 10
    lens_b = [500] * 200
    lens_a = [int(500 + d) for d in diff]
    lc, method = length_controlled_win_rate(outcomes, lens_a, lens_b)
    d = np.asarray(lens_a, float) - 500
    y = np.array([1.0 if o == "win" else 0.5 if o == "tie" else 0.0 for o in outcomes])
    b0 = _weighted_logit_intercept(d / d.std(), y)
    assert lc == pytest.approx(1 / (1 + math.exp(-b0)), abs=1e-4)
    assert "logistic" in method
    assert length_controlled_win_rate(["win", "win"], [1, 2], [3, 4])[0] == 1.0


def test_human_review_round_trip(answers: tuple[list[str], list[str]], tmp_path: Path) -> None:
    a, b = answers
    ids = [f"q{i}" for i in range(len(QUESTIONS))]
    exp = export_review(ids, QUESTIONS, a, b, tmp_path, seed=1, name_a="instruct", name_b="finetune")
    mapping = json.loads(exp.mapping.read_text())
    rows = list(csv.DictReader(exp.csv.open(encoding="utf-8")))
    assert [r["item"] for r in rows] == ids
    for r, i in zip(rows, range(len(ids))):  # blind: the sheet shows each pair on the side the mapping says
        assert (r["left"], r["right"]) == ((a[i], b[i]) if mapping["left"][ids[i]] == "a" else (b[i], a[i]))
    assert "instruct" not in exp.csv.read_text()
    # rater 1 always prefers the left answer; rater 2 fills "right" except a tie on the first item
    for rater, fill in (("r1", lambda k: "left"), ("r2", lambda k: "tie" if k == 0 else "right")):
        with (tmp_path / f"{rater}.csv").open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for k, r in enumerate(rows):
                w.writerow({**r, "preference": fill(k), "rater": rater})
    # a Label Studio export from a third rater who skipped one task
    tasks = json.loads(exp.labelstudio.read_text())
    for t in tasks[1:]:
        t["annotations"] = [
            {
                "completed_by": "r3",
                "result": [
                    {
                        "from_name": "preference",
                        "to_name": "prompt",
                        "type": "choices",
                        "value": {"choices": ["right"]},
                    }
                ],
            }
        ]
    ls = tmp_path / "ls_export.json"
    ls.write_text(json.dumps(tasks))
    res = import_review([tmp_path / "r1.csv", tmp_path / "r2.csv", ls], exp.mapping, n_bootstrap=50)
    a_left = [mapping["left"][i] == "a" for i in ids]
    r1 = ["a" if al else "b" for al in a_left]
    r2 = ["tie" if k == 0 else ("b" if al else "a") for k, al in enumerate(a_left)]
    r3 = [("b" if al else "a") for al in a_left[1:]]
    allj = r1 + r2 + r3
    assert res.raters == ["r1", "r2", "r3"] and res.n_missing == 1
    assert res.n_judgments == len(allj)
    assert res.win_rate.value == pytest.approx(allj.count("a") / len(allj))
    assert res.tie_rate.value == pytest.approx(allj.count("tie") / len(allj))
    assert res.kappa["r1|r2"] == pytest.approx(cohen_kappa_score(r1, r2, labels=["a", "b", "tie"]))
    assert res.kappa["r2|r3"] == pytest.approx(cohen_kappa_score(r2[1:], r3, labels=["a", "b", "tie"]))
    assert res.systems == {"a": "instruct", "b": "finetune"}


def test_bad_sheet_names_file_line_and_field(answers: tuple[list[str], list[str]], tmp_path: Path) -> None:
    from tunelab.errors import InputError

    a, b = answers
    exp = export_review(["x", "y"], QUESTIONS[:2], a[:2], b[:2], tmp_path, seed=0)
    rows = list(csv.DictReader(exp.csv.open(encoding="utf-8")))
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerow({**rows[0], "preference": "better"})
        w.writerow({**rows[1], "preference": "left"})
    with pytest.raises(InputError) as e:
        import_review([bad], exp.mapping)
    p = e.value.problems[0]
    assert (p.file, p.line, p.field) == (str(bad), 2, "preference")
