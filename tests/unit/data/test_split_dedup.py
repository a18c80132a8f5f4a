"""Splits, exact and near-duplicate removal, contamination checks."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tunelab.data import Example, check_contamination, dedup_exact, dedup_near, split
from tunelab.data._dedup import jaccard, shingles
from tunelab.errors import InputError


def ex(i: int, q: str, a: str = "ok", **meta: str) -> Example:
    return Example(
        id=f"e{i}",
        messages=[{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        meta=dict(meta),
    )


def test_split_ratios_stratified_deterministic() -> None:
    data = [ex(i, f"q{i}", task="a" if i % 4 else "b") for i in range(200)]
    s1 = split(data, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    s2 = split(data, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    assert {k: [e.id for e in v] for k, v in s1.items()} == {k: [e.id for e in v] for k, v in s2.items()}
    assert sorted(e.id for v in s1.values() for e in v) == sorted(e.id for e in data)
    assert [len(s1[k]) for k in ("train", "val", "test")] == [160, 20, 20]
    assert Counter(e.meta["task"] for e in s1["test"]) == {"a": 15, "b": 5}
    s3 = split(data, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=4)
    assert [e.id for e in s3["test"]] != [e.id for e in s1["test"]]


def test_split_by_field() -> None:
    data = [ex(1, "a", split="train"), ex(2, "b", split="test"), ex(3, "c", split="train")]
    out = split(data, by="split")
    assert {k: [e.id for e in v] for k, v in out.items()} == {"train": ["e1", "e3"], "test": ["e2"]}
    with pytest.raises(InputError, match="have no 'meta.task'"):
        split(data, by="meta.task")
    with pytest.raises(InputError, match="sum to 1"):
        split(data, {"train": 0.5})


def test_dedup_exact_normalizes_and_names_original() -> None:
    data = [ex(1, "Hello   World"), ex(2, "hello world"), ex(3, "other")]
    res = dedup_exact(data)
    assert [e.id for e in res.kept] == ["e1", "e3"]
    assert (
        res.removed[0].item.id == "e2"
        and res.removed[0].duplicate_of == "e1"
        and "exact" in res.removed[0].reason
    )


def test_dedup_near_agrees_with_exact_jaccard() -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choice(vocab) for _ in range(30)) for _ in range(150)]
    items = list(base)
    for b in base[:40]:  # one word changed at the end: Jaccard of 5-gram sets = 25/27 ~ 0.93
        items.append(b.rsplit(" ", 1)[0] + " changed")
    res = dedup_near(items, threshold=0.8)
    # the naive peer: each item against every kept item, exact Jaccard
    kept_sh: list[set[str]] = []
    naive_removed = []
    for i, it in enumerate(items):
        sh = shingles(it)
        if any(jaccard(sh, k) >= 0.8 for k in kept_sh):
            naive_removed.append(i)
        else:
            kept_sh.append(sh)
    assert [r.index for r in res.removed] == naive_removed == list(range(150, 190))
    assert all(r.score is not None and r.score >= 0.8 for r in res.removed)
    assert len(res.kept) + len(res.removed) == len(items)
    with pytest.raises(InputError):
        dedup_near(items, threshold=0)


def test_contamination_levels_and_drop() -> None:
    long_q = (
        "the patient was given a dose of medicine and the doctor checked the blood pressure every hour today"
    )
    evals = {"medqa": [ex(100, long_q, "yes"), ex(101, "what is the capital of france", "paris")]}
    train = [
        ex(1, "what is the capital of France", "paris"),  # exact (normalized)
        ex(2, "intro: " + " ".join(long_q.split()[:14]) + " end"),  # shares a 13-gram
        ex(3, "note " + " ".join(long_q.split()[5:14]) + " zz"),  # shares only a 9-gram -> 8-gram level
        ex(4, "an unrelated question about revenue"),
    ]
    rep = check_contamination(train, evals)
    assert [(m["train_id"], m["level"], m["eval_id"]) for m in rep.matches] == [
        ("e1", "exact", "e101"),
        ("e2", "13-gram", "e100"),
        ("e3", "8-gram", "e100"),
    ]
    assert rep.counts == {"medqa": {"exact": 1, "13-gram": 1, "8-gram": 1}}
    assert len(rep.kept) == 4 and not rep.removed
    dropped = check_contamination(train, evals, drop=True)
    assert [e.id for e in dropped.kept] == ["e3", "e4"]
    assert all("contaminated" in r.reason for r in dropped.removed)
