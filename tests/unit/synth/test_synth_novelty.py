"""The ROUGE-L novelty filter makes the same decisions as rouge_score's all-pairs loop."""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer

from tunelab.synth._novelty import NoveltyIndex, lcs_length, rouge_l_fmeasure, rouge_tokens

SCORER = rouge_scorer.RougeScorer(["rougeL"])


def _texts(n: int, seed: int) -> list[str]:
    r = random.Random(seed)
    vocab = [f"w{i}" for i in range(30)] + ["the", "a", "of", "patient", "Revenue", "ratio"]
    out: list[str] = []
    for _ in range(n):
        if out and r.random() < 0.45:  # planted near duplicates: edits of an earlier text
            toks = r.choice(out).split()
            for _ in range(r.randint(0, 3)):
                toks[r.randrange(len(toks))] = r.choice(vocab)
            if r.random() < 0.4:
                toks.insert(r.randrange(len(toks) + 1), r.choice(vocab))
            if r.random() < 0.2 and len(toks) > 1:
                del toks[r.randrange(len(toks))]
            out.append(" ".join(toks) + r.choice(["", ".", "!", " 10%"]))
        else:
            out.append(" ".join(r.choice(vocab) for _ in range(r.randint(1, 14))))
    # edge cases: empty after tokenization, punctuation, case, exact ties at 0.7 (7 of 10 tokens in order)
    out += [
        "",
        "?!...",
        "W1 W2 W3",
        "w1, w2; w3",
        "a b c d e f g h i j",
        "a b c d e f g x y z",
        "a b c d e f g",
    ]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.7, 0.5])
def test_decisions_equal_rouge_score_all_pairs(seed: int, threshold: float) -> None:
    texts = _texts(300, seed)
    index = NoveltyIndex(threshold)
    kept: list[str] = []
    pruned = 0
    for t in texts:
        naive = all(SCORER.score(k, t)["rougeL"].fmeasure <= threshold for k in kept)
        d = index.check_and_add(t)
        assert d.novel == naive, t
        pruned += len(kept) - d.n_exact
        if naive:
            kept.append(t)
    assert index.texts == kept
    assert 0 < len(kept) < len(texts)  # the planted near duplicates were found
    assert pruned > 0  # the bound spared exact LCS computations


def test_scores_and_lcs_equal_rouge_score() -> None:
    texts = _texts(120, 5)
    for a, b in zip(texts, texts[1:] + texts[:1]):
        assert rouge_l_fmeasure(a, b) == SCORER.score(a, b)["rougeL"].fmeasure
        ta, tb = rouge_tokens(a), rouge_tokens(b)
        assert lcs_length(ta, tb) == rouge_scorer._lcs_table(ta, tb)[-1][-1]


def test_tie_at_the_threshold_is_kept_like_rouge_score() -> None:
    a, b = "a b c d e f g h i j", "a b c d e f g x y z"  # LCS 7 of 10 and 10: F = 0.7 (not above)
    assert SCORER.score(a, b)["rougeL"].fmeasure == pytest.approx(0.7)
    idx = NoveltyIndex(0.7, [a])
    assert idx.check(b).novel == (SCORER.score(a, b)["rougeL"].fmeasure <= 0.7)
    assert not idx.check("A, b c d e f g h i J!").novel
