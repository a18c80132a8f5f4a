"""Exact and near-duplicate removal, and training/evaluation contamination checks.

Every filter returns what it kept and, for each item it removed, why (and which item it
duplicates). Near duplicates: MinHash over word 5-gram shingles indexed with LSH
(``datasketch``), each LSH candidate confirmed by the exact Jaccard similarity of the shingle
sets, so the only approximation left is a pair LSH never proposes. Contamination: exact
normalized-text matches, then shared word 13-grams (GPT-3 paper, Brown et al. 2020, appendix C)
and 8-grams (a stricter check, flagged but not dropped by default).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.data._example import Example
from tunelab.errors import InputError

__all__ = [
    "Removed",
    "FilterResult",
    "ContaminationReport",
    "normalize_text",
    "example_text",
    "shingles",
    "dedup_exact",
    "dedup_near",
    "check_contamination",
]

_WS = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, lower case, whitespace collapsed: the text that duplicate checks compare."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def example_text(item: Example | str) -> str:
    """The text of an item: a string itself, or an example's turns as ``role: content`` lines."""
    if isinstance(item, str):
        return item
    return "\n".join(f"{m['role']}: {m['content']}" for m in item.messages)


def _prompt_text(item: Example | str) -> str:
    if isinstance(item, str):
        return item
    return "\n".join(f"{m['role']}: {m['content']}" for m in item.prompt_messages)


def _item_id(item: Example | str, i: int) -> str:
    return item.id if isinstance(item, Example) and item.id else str(i)


def shingles(text: str, n: int = 5) -> set[str]:
    """Word ``n``-gram shingles of the normalized text (the whole text when it has fewer than ``n`` words)."""
    words = normalize_text(text).split()
    if len(words) < n:
        return {" ".join(words)}
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class Removed:
    """An item a filter removed: the item, why, and the kept item it duplicates (if any)."""

    item: Any
    reason: str
    duplicate_of: str | None = None
    score: float | None = None
    index: int = -1


@dataclass
class FilterResult:
    """Items kept and items removed (with reasons)."""

    kept: list[Any] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"kept": len(self.kept), "removed": len(self.removed)}


def dedup_exact(items: Sequence[Example | str], text: Callable[[Any], str] = example_text) -> FilterResult:
    """Remove items whose normalized text equals an earlier item's (the first one is kept).

    Args:
        items: examples or strings.
        text: how to get an item's text (default: all turns).

    Returns:
        The :class:`FilterResult`; each removed item names the id of the item it repeats.
    """
    seen: dict[bytes, str] = {}
    res = FilterResult()
    for i, it in enumerate(items):
        h = hashlib.blake2b(normalize_text(text(it)).encode("utf-8"), digest_size=16).digest()
        if h in seen:
            res.removed.append(Removed(it, "exact duplicate (normalized text)", seen[h], 1.0, i))
        else:
            seen[h] = _item_id(it, i)
            res.kept.append(it)
    return res


def dedup_near(
    items: Sequence[Example | str],
    threshold: float = 0.8,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    text: Callable[[Any], str] = example_text,
    lsh_weights: tuple[float, float] = (0.1, 0.9),
) -> FilterResult:
    """Remove near duplicates: items whose shingle Jaccard similarity to a kept item is >= ``threshold``.

    Items are visited in order; each is compared with the items kept so far (LSH candidates,
    confirmed by exact Jaccard), so the first of a group of near duplicates is the one kept.

    Args:
        items: examples or strings.
        threshold: Jaccard similarity at or above which an item is a near duplicate (0 < t <= 1).
        num_perm: MinHash permutations (more: fewer LSH misses, slower).
        ngram: words per shingle.
        seed: MinHash seed.
        text: how to get an item's text.
        lsh_weights: (false-positive, false-negative) weights for choosing the LSH bands. Misses
            favoured against (0.1, 0.9): false positives are cheap, every candidate is verified;
            with 128 permutations and threshold 0.8 a pair at Jaccard 0.9 is proposed with p = 0.999.

    Returns:
        The :class:`FilterResult`; each removed item carries the similarity and the id it duplicates.

    Raises:
        InputError: a threshold outside (0, 1].
    """
    from datasketch import MinHash, MinHashLSH

    if not 0 < threshold <= 1:
        raise InputError(f"threshold must be in (0, 1], got {threshold}", field="threshold")
    sh = [shingles(text(it), ngram) for it in items]
    sigs = MinHash.bulk([[s.encode("utf-8") for s in x] for x in sh], num_perm=num_perm, seed=seed)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=lsh_weights)
    res = FilterResult()
    for i, (it, m) in enumerate(zip(items, sigs)):
        best, best_j = 0.0, -1
        for j in lsh.query(m):
            s = jaccard(sh[i], sh[j])
            if s > best:
                best, best_j = s, j
        if best >= threshold:
            res.removed.append(
                Removed(
                    it,
                    f"near duplicate (Jaccard {best:.3f} >= {threshold} on word {ngram}-grams)",
                    _item_id(items[best_j], best_j),
                    best,
                    i,
                )
            )
        else:
            lsh.insert(i, m)
            res.kept.append(it)
    return res


def _ngrams(words: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(words[i : i + n]) for i in range(len(words) - n + 1))


@dataclass
class ContaminationReport:
    """Training items that overlap evaluation items.

    Attributes:
        matches: one dict per contaminated training item: ``train_id``, ``level``
            (``exact``, ``13-gram``, ``8-gram``...), ``eval_set``, ``eval_id``, ``evidence``.
        counts: eval set -> level -> number of training items.
        kept: training items kept (all of them unless ``drop``).
        removed: training items dropped, with reasons.
    """

    matches: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    kept: list[Any] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "matches": self.matches,
            "removed": len(self.removed),
            "kept": len(self.kept),
        }


def check_contamination(
    train: Sequence[Example | str],
    eval_sets: dict[str, Sequence[Example | str]],
    ngrams: Sequence[int] = (13, 8),
    drop: bool = False,
    drop_levels: Sequence[str] = ("exact", "13-gram"),
) -> ContaminationReport:
    """Find training items that repeat evaluation items, exactly or by shared word n-grams.

    A training item matches an evaluation item when its normalized full text or prompt equals
    the evaluation item's (``exact``), or when they share a word n-gram (``"{n}-gram"``, checked
    from the longest ``n``); evaluation items shorter than ``n`` words are not checked at that ``n``.

    Args:
        train: training examples or strings.
        eval_sets: name -> evaluation examples or strings.
        ngrams: n-gram sizes to check.
        drop: remove the training items whose match level is in ``drop_levels``.
        drop_levels: levels that cause removal when ``drop``.

    Returns:
        The :class:`ContaminationReport`.
    """
    exact: dict[str, tuple[str, str]] = {}
    index: dict[int, dict[tuple[str, ...], tuple[str, str]]] = {n: {} for n in ngrams}
    for name, items in eval_sets.items():
        for i, it in enumerate(items):
            ref = (name, _item_id(it, i))
            for t in (example_text(it), _prompt_text(it)):
                exact.setdefault(normalize_text(t), ref)
            words = normalize_text(example_text(it)).split()
            for n in ngrams:
                for g in _ngrams(words, n):
                    index[n].setdefault(g, ref)
    rep = ContaminationReport(counts={name: {} for name in eval_sets})
    for i, it in enumerate(train):
        hit: dict[str, Any] | None = None
        for t in (example_text(it), _prompt_text(it)):
            found = exact.get(normalize_text(t))
            if found:
                ref = found
                hit = {
                    "level": "exact",
                    "eval_set": ref[0],
                    "eval_id": ref[1],
                    "evidence": normalize_text(t)[:200],
                }
                break
        if hit is None:
            words = normalize_text(example_text(it)).split()
            for n in sorted(ngrams, reverse=True):
                gram = next((x for x in _ngrams(words, n) if x in index[n]), None)
                if gram is not None:
                    ref = index[n][gram]
                    hit = {
                        "level": f"{n}-gram",
                        "eval_set": ref[0],
                        "eval_id": ref[1],
                        "evidence": " ".join(gram),
                    }
                    break
        if hit is None:
            rep.kept.append(it)
            continue
        hit = {"train_id": _item_id(it, i), **hit}
        rep.matches.append(hit)
        c = rep.counts[hit["eval_set"]]
        c[hit["level"]] = c.get(hit["level"], 0) + 1
        if drop and hit["level"] in drop_levels:
            rep.removed.append(
                Removed(
                    it,
                    f"contaminated: {hit['level']} overlap with {hit['eval_set']}:{hit['eval_id']}",
                    hit["eval_id"],
                    None,
                    i,
                )
            )
        else:
            rep.kept.append(it)
    return rep
