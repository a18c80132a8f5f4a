"""Agreement with the reference libraries on generated corpora of >= 1,000 pairs.

Each test computes the same number with the real library on the same inputs; nothing is copied into the tests.
"""

from __future__ import annotations

import math
import random
import re

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn import metrics as skm
from tests.unit.scoring._corpus import pairs

from tunelab.scoring import bleu, chrf, classification, compute_metrics, rouge, rouge_items

N = 1200


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[str], list[list[str]]]:
    return pairs(N, seed=1234)


@pytest.fixture(scope="module")
def multi_sentence() -> tuple[list[str], list[str], list[list[str]]]:
    return pairs(N, seed=99, n_sentences=(1, 4))


def test_corpus_is_large_and_varied(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    assert len(preds) == len(refs) >= 1000
    identical = sum(p == r for p, r in zip(preds, refs))
    assert 0 < identical < len(preds) // 5


def test_bleu_equals_sacrebleu(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    ours = bleu(preds, refs)
    ref = sacrebleu.corpus_bleu(preds, [refs])
    assert ours["bleu"] == ref.score
    assert 5 < ours["bleu"] < 95
    assert "tok:13a" in ours.rule and "smooth:exp" in ours.rule and "case:mixed" in ours.rule
    assert "nrefs:1" in ours.rule


def test_bleu_multi_reference_equals_sacrebleu(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    rng = random.Random(5)
    second = [refs[rng.randrange(len(refs))] for _ in refs]
    ours = bleu(preds, [[a, b] for a, b in zip(refs, second)])
    assert ours["bleu"] == sacrebleu.corpus_bleu(preds, [refs, second]).score
    # A second reference can only add matches.
    assert ours["bleu"] >= bleu(preds, refs)["bleu"]


def test_bleu_variable_reference_counts(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    preds, refs = preds[:200], refs[:200]
    extra = [refs[(i + 7) % 200] if i % 2 else None for i in range(200)]
    ours = bleu(preds, [[r, e] if e is not None else [r] for r, e in zip(refs, extra)])
    assert ours["bleu"] == sacrebleu.corpus_bleu(preds, [refs, extra]).score  # type: ignore[list-item]


def test_bleu_is_case_sensitive() -> None:
    assert bleu(["The Cat sat on the mat"], ["the cat sat on the mat"])["bleu"] < 100
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"])["bleu"] == pytest.approx(100)


def test_chrf_equals_sacrebleu(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    ours = chrf(preds, refs)
    assert ours["chrf"] == sacrebleu.corpus_chrf(preds, [refs]).score
    assert "nc:6" in ours.rule and "nw:0" in ours.rule
    rng = random.Random(6)
    second = [refs[rng.randrange(len(refs))] for _ in refs]
    assert (
        chrf(preds, [[a, b] for a, b in zip(refs, second)])["chrf"]
        == sacrebleu.corpus_chrf(preds, [refs, second]).score
    )


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score(
    corpus: tuple[list[str], list[str], list[list[str]]], use_stemmer: bool
) -> None:
    preds, refs, _ = corpus
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer)
    per_item = [scorer.score(r, p) for p, r in zip(preds, refs)]  # score(target, prediction)
    ours = rouge(preds, refs, use_stemmer=use_stemmer)
    for t in ("rouge1", "rouge2", "rougeL"):
        expected = sum(s[t].fmeasure for s in per_item) / len(per_item)
        assert ours[t] == pytest.approx(expected, abs=1e-9)
    assert f"stemmer={'porter' if use_stemmer else 'none'}" in ours.rule


def test_rouge_argument_order_matters_and_is_target_first() -> None:
    pred, ref = "the cat sat", "the cat sat on the mat today"
    s = rouge_scorer.RougeScorer(["rouge1"]).score(ref, pred)["rouge1"]
    item = rouge_items([pred], [ref], rouge_types=["rouge1"])[0]
    assert s.precision == 1.0 and s.recall < 1.0
    assert item["rouge1"] == s.fmeasure


def test_rouge_lsum_splits_prediction_sentences(
    multi_sentence: tuple[list[str], list[str], list[list[str]]],
) -> None:
    _, refs, pred_sents = multi_sentence

    def clean(sentences: list[str]) -> list[str]:
        # One terminal period per sentence and none inside, so the true boundaries are known by construction.
        out = [re.sub(r"[.!?]", "", s).strip() for s in sentences]
        return [s + "." for s in out if s]

    pred_lists = [clean(ps) or ["x."] for ps in pred_sents]
    ref_lists = [clean(re.split(r"(?<=[.!?]) ", r)) for r in refs]
    preds = [" ".join(ps) for ps in pred_lists]
    refs = [" ".join(rs) for rs in ref_lists]
    scorer = rouge_scorer.RougeScorer(["rougeLsum"])
    per_item = [scorer.score("\n".join(rs), "\n".join(ps)) for ps, rs in zip(pred_lists, ref_lists)]
    expected = sum(s["rougeLsum"].fmeasure for s in per_item) / len(per_item)
    ours = rouge(preds, refs)
    assert ours["rougeLsum"] == pytest.approx(expected, abs=1e-9)
    assert abs(ours["rougeLsum"] - ours["rougeL"]) > 1e-3  # split, so Lsum is not L


def test_rouge_multi_reference_takes_the_max(corpus: tuple[list[str], list[str], list[list[str]]]) -> None:
    preds, refs, _ = corpus
    preds, refs = preds[:300], refs[:300]
    others = refs[1:] + refs[:1]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    ours = rouge(preds, [[a, b] for a, b in zip(others, refs)])
    for t in ("rouge1", "rouge2", "rougeL"):
        expected = sum(
            max(scorer.score(a, p)[t].fmeasure, scorer.score(b, p)[t].fmeasure)
            for p, a, b in zip(preds, others, refs)
        ) / len(preds)
        assert ours[t] == pytest.approx(expected, abs=1e-9)


def test_classification_equals_sklearn() -> None:
    rng = random.Random(7)
    labels = ["positive", "negative", "neutral", "maybe"]
    y_true = [rng.choice(labels[:3]) for _ in range(1500)]
    y_pred = [t if rng.random() < 0.6 else rng.choice(labels) for t in y_true]  # "maybe" never gold
    ours = classification(y_true, y_pred)
    union = sorted(set(y_true) | set(y_pred))
    assert ours["accuracy"] == skm.accuracy_score(y_true, y_pred)
    for avg in ("macro", "micro"):
        kw = {"labels": union, "average": avg, "zero_division": 0}
        assert ours[f"precision_{avg}"] == skm.precision_score(y_true, y_pred, **kw)
        assert ours[f"recall_{avg}"] == skm.recall_score(y_true, y_pred, **kw)
        assert ours[f"f1_{avg}"] == skm.f1_score(y_true, y_pred, **kw)
    per_class = skm.f1_score(y_true, y_pred, labels=union, average=None, zero_division=0)
    assert ours["f1_macro"] == pytest.approx(sum(per_class) / len(per_class), abs=1e-12)
    assert ours["f1_micro"] == pytest.approx(ours["accuracy"], abs=1e-12)
    assert ours.extra["labels"] == union


def test_compute_metrics_dispatches_to_the_same_numbers(
    corpus: tuple[list[str], list[str], list[list[str]]],
) -> None:
    preds, refs, _ = corpus
    out = compute_metrics(["bleu", "chrf", "rougeL", "exact_match", "f1"], preds, refs)
    assert out["scores"]["bleu"] == sacrebleu.corpus_bleu(preds, [refs]).score  # type: ignore[index]
    assert out["scores"]["chrf"] == sacrebleu.corpus_chrf(preds, [refs]).score  # type: ignore[index]
    assert out["scores"]["rougeL"] == pytest.approx(rouge(preds, refs)["rougeL"], abs=1e-12)  # type: ignore[index]
    assert set(out["rules"]) == set(out["scores"])  # type: ignore[arg-type]
    assert out["n_items"] == len(preds)
    assert 0 <= out["scores"]["exact_match"] <= out["scores"]["f1"] <= 1  # type: ignore[index,operator]
    assert not math.isnan(out["scores"]["f1"])  # type: ignore[index,arg-type]


def test_compute_metrics_classification_and_errors() -> None:
    out = compute_metrics(["accuracy", "f1_macro"], ["yes", "no ", "maybe"], ["yes", "no", "no"])
    assert out["scores"] == {
        "accuracy": skm.accuracy_score(["yes", "no", "no"], ["yes", "no", "maybe"]),
        "f1_macro": skm.f1_score(
            ["yes", "no", "no"],
            ["yes", "no", "maybe"],
            labels=["maybe", "no", "yes"],
            average="macro",
            zero_division=0,
        ),
    }
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metrics(["bleu4"], ["a"], ["a"])
    with pytest.raises(ValueError, match="one label per item"):
        compute_metrics(["accuracy"], ["a"], [["a", "b"]])
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        compute_metrics(["bleu"], ["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no items"):
        compute_metrics(["bleu"], [], [])
    with pytest.raises(ValueError, match="no reference"):
        compute_metrics(["bleu"], ["a"], [[]])
