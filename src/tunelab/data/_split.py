"""Deterministic train/validation/test splits, stratified by a meta key."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from tunelab.data._example import Example
from tunelab.errors import InputError

__all__ = ["split"]

_MISSING = object()


def _field(ex: Example, name: str) -> Any:
    if name == "id":
        return ex.id
    key = name[5:] if name.startswith("meta.") else name
    return ex.meta.get(key, _MISSING)


def _allocate(n: int, ratios: list[float]) -> list[int]:
    """Largest-remainder rounding: counts that sum to ``n`` and follow ``ratios``."""
    raw = [n * r for r in ratios]
    counts = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def split(
    examples: Sequence[Example],
    ratios: dict[str, float] | None = None,
    by: str | None = None,
    seed: int = 0,
    stratify: str | None = "task",
) -> dict[str, list[Example]]:
    """Split examples, either by ratios (shuffled with ``seed``) or by the value of a field.

    Args:
        examples: the examples.
        ratios: split name -> fraction, summing to 1 (e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}``).
        by: instead of ratios, group by this field: ``id`` or a meta key (``split`` or ``meta.split``).
        seed: shuffling seed; the same seed gives the same split.
        stratify: meta key whose groups are split separately so each split keeps their proportions
            (``None`` to shuffle everything together). Examples without the key form one group.

    Returns:
        Split name -> examples (every input example is in exactly one split).

    Raises:
        InputError: neither or both of ``ratios``/``by``, bad ratios, or examples lacking the ``by`` field.
    """
    if (ratios is None) == (by is None):
        raise InputError("give either ratios or by", field="split")
    if by is not None:
        out: dict[str, list[Example]] = {}
        missing = [ex.id for ex in examples if _field(ex, by) is _MISSING]
        if missing:
            raise InputError(
                f"{len(missing)} example(s) have no {by!r} (first: {', '.join(missing[:5])})", field=by
            )
        for ex in examples:
            out.setdefault(str(_field(ex, by)), []).append(ex)
        return out
    assert ratios is not None
    names = list(ratios)
    fracs = [float(ratios[k]) for k in names]
    if not names or any(f < 0 for f in fracs) or abs(sum(fracs) - 1.0) > 1e-6:
        raise InputError(f"ratios must be non-negative and sum to 1, got {ratios}", field="ratios")
    rng = random.Random(seed)
    groups: dict[Any, list[Example]] = {}
    for ex in examples:
        key = _field(ex, stratify) if stratify else None
        groups.setdefault(repr(key), []).append(ex)
    result: dict[str, list[Example]] = {k: [] for k in names}
    for key in sorted(groups):
        items = list(groups[key])
        rng.shuffle(items)
        start = 0
        for name, n in zip(names, _allocate(len(items), fracs)):
            result[name].extend(items[start : start + n])
            start += n
    for name in names:
        rng.shuffle(result[name])
    return result
