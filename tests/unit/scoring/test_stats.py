"""Bootstrap intervals, paired comparison, McNemar and flipped items."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from scipy import stats

from tunelab.scoring import bleu, bootstrap_ci, flipped_items, mcnemar, paired_bootstrap


def test_bootstrap_ci_is_seeded_and_brackets_the_mean() -> None:
    rng = random.Random(0)
    values = [float(rng.random() < 0.7) for _ in range(500)]
    a = bootstrap_ci(values, n=500, seed=3)
    assert a == bootstrap_ci(values, n=500, seed=3)
    assert a != bootstrap_ci(values, n=500, seed=4)
    assert a.estimate == pytest.approx(np.mean(values))
    assert a.low < a.estimate < a.high
    # about the normal-approximation width for a proportion
    se = (a.estimate * (1 - a.estimate) / len(values)) ** 0.5
    assert (a.high - a.low) == pytest.approx(2 * 1.96 * se, rel=0.25)
    assert bootstrap_ci(values, n=500, seed=3, alpha=0.5).high < a.high


def test_bootstrap_ci_for_a_corpus_metric() -> None:
    rng = random.Random(1)
    refs = [" ".join(rng.choice("abcdefgh") for _ in range(8)) for _ in range(60)]
    preds = [r if rng.random() < 0.5 else r[::-1] for r in refs]
    items = list(zip(preds, refs))

    def corpus_bleu(sample: list[tuple[str, str]]) -> float:
        return bleu([p for p, _ in sample], [r for _, r in sample])["bleu"]

    ci = bootstrap_ci(items, n=50, seed=0, statistic=corpus_bleu)
    assert ci.estimate == sacrebleu.corpus_bleu(preds, [refs]).score
    assert ci.low <= ci.estimate <= ci.high and ci.low < ci.high


def test_paired_bootstrap() -> None:
    rng = random.Random(2)
    a = [float(rng.random() < 0.5) for _ in range(400)]
    same = paired_bootstrap(a, a, n=300)
    assert same.difference == 0 and same.low == same.high == 0 and same.p_value == 1.0
    b = [1.0 if x or rng.random() < 0.4 else 0.0 for x in a]  # B fixes ~40% of A's misses
    res = paired_bootstrap(a, b, n=300, seed=1)
    assert res.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert 0 < res.low < res.difference < res.high
    assert res.p_value == pytest.approx(1 / 301)
    noise = [float(rng.random() < 0.5) for _ in range(400)]
    assert paired_bootstrap(a, noise, n=300).p_value > 0.01
    with pytest.raises(ValueError):
        paired_bootstrap(a, a[:-1])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


@pytest.mark.parametrize(
    ("a_only", "b_only", "both", "neither"), [(0, 0, 5, 5), (1, 6, 10, 3), (3, 3, 0, 0), (2, 20, 50, 9)]
)
def test_mcnemar_exact_matches_the_binomial_test(a_only: int, b_only: int, both: int, neither: int) -> None:
    ca = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    cb = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    res = mcnemar(ca, cb)
    assert (res.a_only, res.b_only, res.method) == (a_only, b_only, "exact_binomial")
    if a_only + b_only:
        expected = stats.binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue
        assert res.p_value == pytest.approx(expected, rel=1e-12)
    else:
        assert res.p_value == 1.0


def test_mcnemar_chi_square_for_many_discordant_pairs() -> None:
    ca = [1] * 30 + [0] * 15 + [1] * 40
    cb = [0] * 30 + [1] * 15 + [1] * 40
    res = mcnemar(ca, cb)
    assert res.method == "chi2_continuity"
    chi2 = (abs(30 - 15) - 1) ** 2 / 45
    assert res.statistic == pytest.approx(chi2)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 1))
    assert mcnemar(ca, cb, exact=True).p_value == pytest.approx(stats.binomtest(15, 45, 0.5).pvalue)
    with pytest.raises(ValueError):
        mcnemar([1, 0], [1])
    with pytest.raises(ValueError):
        mcnemar([0.5], [1])


def test_flipped_items() -> None:
    out = flipped_items(["q1", "q2", "q3", "q4"], [True, True, False, False], [True, False, True, False])
    assert out == {"a_only": ["q2"], "b_only": ["q3"]}
    with pytest.raises(ValueError):
        flipped_items(["q1"], [True, False], [True, False])


def test_hierarchical_bootstrap_covers_seed_variation() -> None:
    import random

    from tunelab.scoring import bootstrap_ci, hierarchical_bootstrap

    r = random.Random(0)
    # three seeds whose accuracies differ a lot (0.3, 0.5, 0.7), 200 items each
    groups = [[float(r.random() < p) for _ in range(200)] for p in (0.3, 0.5, 0.7)]
    h = hierarchical_bootstrap(groups, n=2000, seed=1)
    flat = bootstrap_ci([x for g in groups for x in g], n=2000, seed=1)
    assert abs(h.estimate - sum(sum(g) / len(g) for g in groups) / 3) < 1e-12
    assert h.low <= h.estimate <= h.high
    # the item-only CI hides the seed spread; the hierarchical one is far wider
    assert (h.high - h.low) > 3 * (flat.high - flat.low)
    assert hierarchical_bootstrap(groups, n=500, seed=4) == hierarchical_bootstrap(groups, n=500, seed=4)
    # one seed: an item bootstrap of that seed
    one = hierarchical_bootstrap(groups[:1], n=2000, seed=2)
    ref = bootstrap_ci(groups[0], n=2000, seed=2)
    assert one.estimate == ref.estimate and abs(one.low - ref.low) < 0.03 and abs(one.high - ref.high) < 0.03
    with pytest.raises(ValueError):
        hierarchical_bootstrap([[1.0], []])
