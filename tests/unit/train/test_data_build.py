from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.config import config_from_dict
from tunelab.errors import InputError
from tunelab.train import build_train_data

from .conftest import repeat_examples


def _file(tmp: Path, n: int, seed: int) -> str:
    p = tmp / f"d{seed}.jsonl"
    p.write_text(
        "".join(json.dumps(ex.to_dict()) + "\n" for ex in repeat_examples(n, seed)), encoding="utf-8"
    )
    return str(p)


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    from tunelab.models import load_tokenizer

    return load_tokenizer("tunelab-tiny")


def test_weights_split_and_replay(tmp_path: Path, tok) -> None:  # type: ignore[no-untyped-def]
    a, b = _file(tmp_path, 40, 1), _file(tmp_path, 40, 2)
    base = {"data": {"val_ratio": 0.25, "max_length": 64, "packing": False, "dedup": False}}
    cfg = config_from_dict(
        {**base, "data": {**base["data"], "sources": [{"path": a}, {"path": b, "weight": 2.0}]}}
    )
    d = build_train_data(cfg, tok)
    src = d.report["sources"]
    assert [s["val"] for s in src] == [10, 10]
    assert [s["train"] for s in src] == [30, 60]  # weight 2 repeats the source
    assert len(d.train_rows) == 90 and len(d.val_rows) == 20
    cfg_r = config_from_dict(
        {"data": {**base["data"], "sources": [{"path": a}]}, "train": {"replay_ratio": 0.25}}
    )
    r = build_train_data(cfg_r, tok)
    assert r.report["replay_rows"] == 10 and len(r.train_rows) == 40  # 10 / (30 + 10) = 0.25
    replay = r.train_rows  # replay rows carry loss on every token
    assert sum(all(x != -100 for x in row["labels"]) for row in replay) == 10


def test_nothing_left_to_train_on_is_an_input_error(tmp_path: Path, tok) -> None:  # type: ignore[no-untyped-def]
    cfg = config_from_dict({"data": {"sources": [{"path": _file(tmp_path, 5, 3)}], "max_length": 8}})
    with pytest.raises(InputError, match="nothing to train on"):
        build_train_data(cfg, tok)
