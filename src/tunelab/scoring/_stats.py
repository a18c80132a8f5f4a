"""Statistics for one model's scores and for comparing two models on the same items (paired).

- :func:`bootstrap_ci`: a seeded percentile bootstrap confidence interval for a mean, or for any corpus statistic
  (BLEU, chrF...) through a callable over the resampled items.
- :func:`paired_bootstrap`: the difference between two systems on the same items, resampling items jointly.
- :func:`hierarchical_bootstrap`: a mean over seeds with a CI covering seed and item variation (resample seeds,
  then items within each seed).
- :func:`mcnemar`: McNemar's test for two accuracies on the same items (exact binomial for few discordant pairs).
- :func:`flipped_items`: which items changed from right to wrong and back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BootstrapCI",
    "McNemarResult",
    "MetricScore",
    "PairedBootstrap",
    "bootstrap_ci",
    "flipped_items",
    "hierarchical_bootstrap",
    "mcnemar",
    "paired_bootstrap",
]

Statistic = Callable[[Sequence[Any]], float]


@dataclass
class MetricScore:
    """One reported number: the value, its bootstrap 95% CI, the item count, and how it was computed."""

    value: float
    ci_low: float
    ci_high: float
    n: int
    rule: str
    ci: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _mean(items: Sequence[Any]) -> float:
    return math.fsum(float(x) for x in items) / len(items)


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval.

    Attributes:
        estimate: the statistic on all items.
        low: the ``alpha/2`` percentile of the bootstrap distribution.
        high: the ``1 - alpha/2`` percentile.
        n_resamples, alpha, seed: the settings, to report beside the interval.
        method: always ``"percentile"``.
    """

    estimate: float
    low: float
    high: float
    n_resamples: int
    alpha: float
    seed: int
    method: str = "percentile"


def _check(n: int, alpha: float, n_items: int) -> None:
    if n_items == 0:
        raise ValueError("no items to resample")
    if n < 1:
        raise ValueError("n (resamples) must be at least 1")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")


def _resample_indices(n_items: int, n: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).integers(0, n_items, size=(n, n_items))


def bootstrap_ci(
    values: Sequence[Any],
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    statistic: Statistic | None = None,
) -> BootstrapCI:
    """Seeded percentile bootstrap CI over items.

    Args:
        values: per-item scores (for the default mean), or any per-item objects ``statistic`` understands, e.g.
            ``(prediction, references)`` pairs for a corpus BLEU.
        n: number of resamples.
        seed: the numpy ``default_rng`` seed (same seed, same interval).
        alpha: 1 - confidence level.
        statistic: computes the metric from a list of items; the mean when ``None``.

    Returns:
        A :class:`BootstrapCI`.

    Raises:
        ValueError: no values, ``n < 1`` or ``alpha`` outside (0, 1).
    """
    import numpy as np

    _check(n, alpha, len(values))
    idx = _resample_indices(len(values), n, seed)
    if statistic is None:
        arr = np.asarray(values, dtype=float)
        boot = arr[idx].mean(axis=1)
        estimate = _mean(values)
    else:
        items = list(values)
        boot = np.array([statistic([items[i] for i in row]) for row in idx], dtype=float)
        estimate = float(statistic(items))
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(float(estimate), float(low), float(high), n, alpha, seed)


@dataclass(frozen=True)
class PairedBootstrap:
    """The result of :func:`paired_bootstrap` (differences are B minus A).

    Attributes:
        mean_a, mean_b: each system's statistic on all items.
        difference: ``mean_b - mean_a``.
        low, high: the percentile CI of the difference.
        p_value: two-sided, from the bootstrap distribution shifted to the null of no difference:
            ``(1 + #{|d* - d| >= |d|}) / (n + 1)``.
        n_resamples, alpha, seed: the settings.
    """

    mean_a: float
    mean_b: float
    difference: float
    low: float
    high: float
    p_value: float
    n_resamples: int
    alpha: float
    seed: int


def paired_bootstrap(
    scores_a: Sequence[Any],
    scores_b: Sequence[Any],
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    statistic: Statistic | None = None,
) -> PairedBootstrap:
    """Paired bootstrap of the difference B - A: the same resampled items for both systems.

    Args:
        scores_a: system A's per-item scores (or items for ``statistic``).
        scores_b: system B's, on the same items in the same order.
        n: number of resamples.
        seed: numpy ``default_rng`` seed.
        alpha: 1 - confidence level.
        statistic: corpus statistic over a list of items; the mean when ``None``.

    Returns:
        A :class:`PairedBootstrap`.

    Raises:
        ValueError: lengths differ, no items, bad ``n`` or ``alpha``.
    """
    import numpy as np

    if len(scores_a) != len(scores_b):
        raise ValueError(f"paired scores must cover the same items: {len(scores_a)} vs {len(scores_b)}")
    _check(n, alpha, len(scores_a))
    idx = _resample_indices(len(scores_a), n, seed)
    if statistic is None:
        a, b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
        boot = b[idx].mean(axis=1) - a[idx].mean(axis=1)
        mean_a, mean_b = _mean(scores_a), _mean(scores_b)
    else:
        la, lb = list(scores_a), list(scores_b)
        boot = np.array(
            [statistic([lb[i] for i in row]) - statistic([la[i] for i in row]) for row in idx], dtype=float
        )
        mean_a, mean_b = float(statistic(la)), float(statistic(lb))
    diff = mean_b - mean_a
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    # Tolerance: floating error must not turn |d* - d| == |d| into "smaller".
    extreme = int(np.sum(np.abs(boot - diff) >= abs(diff) - 1e-12))
    p = (1 + extreme) / (n + 1)
    return PairedBootstrap(mean_a, mean_b, diff, float(low), float(high), min(1.0, p), n, alpha, seed)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness.

    Attributes:
        a_only: items A got right and B got wrong.
        b_only: items B got right and A got wrong.
        statistic: the binomial count ``min(a_only, b_only)`` (exact) or the continuity-corrected chi-square.
        p_value: two-sided.
        method: ``"exact_binomial"`` or ``"chi2_continuity"``.
    """

    a_only: int
    b_only: int
    statistic: float
    p_value: float
    method: str


def _bools(xs: Sequence[Any], name: str) -> list[bool]:
    out = []
    for x in xs:
        if x not in (0, 1, True, False):
            raise ValueError(f"{name} must hold booleans or 0/1, got {x!r}")
        out.append(bool(x))
    return out


def mcnemar(correct_a: Sequence[Any], correct_b: Sequence[Any], exact: bool | None = None) -> McNemarResult:
    """McNemar's test for two models' accuracies on the same items.

    Only discordant items count: ``a_only`` (A right, B wrong) and ``b_only``. With ``exact`` (the default when
    there are fewer than 25 discordant items), the p-value is the two-sided exact binomial test of
    ``min(a_only, b_only)`` in ``a_only + b_only`` trials at 0.5 (as ``statsmodels`` ``mcnemar(exact=True)``);
    otherwise the chi-square statistic ``(|a_only - b_only| - 1)^2 / (a_only + b_only)`` with one degree of
    freedom. No discordant items gives p = 1.

    Args:
        correct_a: per-item correctness of A (booleans or 0/1).
        correct_b: the same for B, same items, same order.
        exact: force the exact or the chi-square version.

    Returns:
        A :class:`McNemarResult`.

    Raises:
        ValueError: lengths differ or values are not booleans.
    """
    from scipy import stats

    a, b = _bools(correct_a, "correct_a"), _bools(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"paired correctness must cover the same items: {len(a)} vs {len(b)}")
    a_only = sum(1 for x, y in zip(a, b) if x and not y)
    b_only = sum(1 for x, y in zip(a, b) if y and not x)
    discordant = a_only + b_only
    use_exact = discordant < 25 if exact is None else exact
    if discordant == 0:
        return McNemarResult(0, 0, 0.0, 1.0, "exact_binomial" if use_exact else "chi2_continuity")
    if use_exact:
        k = min(a_only, b_only)
        p = min(1.0, 2.0 * float(stats.binom.cdf(k, discordant, 0.5)))
        return McNemarResult(a_only, b_only, float(k), p, "exact_binomial")
    chi2 = (abs(a_only - b_only) - 1) ** 2 / discordant
    return McNemarResult(a_only, b_only, chi2, float(stats.chi2.sf(chi2, 1)), "chi2_continuity")


def flipped_items(
    ids: Sequence[str], correct_a: Sequence[Any], correct_b: Sequence[Any]
) -> dict[str, list[str]]:
    """The items whose correctness differs between A and B.

    Args:
        ids: item ids.
        correct_a: A's per-item correctness.
        correct_b: B's, same items and order.

    Returns:
        ``{"a_only": ids A got right and B wrong, "b_only": ids B got right and A wrong}`` in input order.

    Raises:
        ValueError: lengths differ or values are not booleans.
    """
    a, b = _bools(correct_a, "correct_a"), _bools(correct_b, "correct_b")
    if not len(ids) == len(a) == len(b):
        raise ValueError(f"ids, correct_a and correct_b differ in length: {len(ids)}, {len(a)}, {len(b)}")
    return {
        "a_only": [str(i) for i, x, y in zip(ids, a, b) if x and not y],
        "b_only": [str(i) for i, x, y in zip(ids, a, b) if y and not x],
    }


def hierarchical_bootstrap(
    groups: Sequence[Sequence[Any]],
    n: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    statistic: Statistic | None = None,
) -> BootstrapCI:
    """Two-level percentile bootstrap: resample the groups (training seeds) with replacement, then the items
    within each drawn group; the statistic is computed per group and averaged over groups.

    With one group it is the plain item bootstrap of that group. With S seeds x N items the interval shows the
    seed-to-seed variation that an item-only CI hides (the run-to-run spread of a training recipe).

    Args:
        groups: per seed, the per-item values (or objects ``statistic`` understands, e.g. ``(a, b)`` pairs for a
            paired difference).
        n: number of resamples.
        seed: the numpy ``default_rng`` seed.
        alpha: 1 - confidence level.
        statistic: the metric of one group's items; the mean when ``None``.

    Returns:
        A :class:`BootstrapCI` whose estimate is the mean over groups of the per-group statistic.

    Raises:
        ValueError: no groups, an empty group, or bad ``n`` / ``alpha``.
    """
    import numpy as np

    stat = statistic or _mean
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every group needs at least one item")
    _check(n, alpha, len(groups))
    estimate = math.fsum(stat(list(g)) for g in groups) / len(groups)
    rng = np.random.default_rng(seed)
    n_groups = len(groups)
    dist = np.empty(n)
    for r in range(n):
        picks = rng.integers(0, n_groups, size=n_groups)
        vals = []
        for g in picks:
            items = groups[int(g)]
            idx = rng.integers(0, len(items), size=len(items))
            vals.append(stat([items[int(i)] for i in idx]))
        dist[r] = math.fsum(vals) / n_groups
    lo, hi = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return BootstrapCI(estimate, float(lo), float(hi), n, alpha, seed)
