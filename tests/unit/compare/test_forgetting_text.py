"""The forgetting text is human-written, fixed and unseen: hash-checked, and sharing no word 13-gram with any
training or replay text of the shipped comparison presets (every seed's replay included)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunelab.data._texts as texts_mod
from tunelab.compare import plan_runs, seed_runs
from tunelab.compare._slices import _replay_texts
from tunelab.config import load_config
from tunelab.data import HUMAN_TEXT_SHA256, check_contamination, human_texts
from tunelab.errors import InputError
from tunelab.train._batches import read_sources


def test_shipped_text_is_hash_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = human_texts()
    assert len(pairs) == 180 and all(len(t.split()) >= 25 for _, t in pairs)
    assert human_texts(5) == pairs[:5]
    assert len(HUMAN_TEXT_SHA256) == 64
    altered = tmp_path / "python_docstrings.jsonl"
    altered.write_bytes(texts_mod._PATH.read_bytes().replace(b"the", b"teh", 1))
    monkeypatch.setattr(texts_mod, "_PATH", altered)
    with pytest.raises(InputError, match="sha256"):
        human_texts()


@pytest.mark.parametrize("preset", ["demo", "demo-quick", "medical-cot", "finance-qa"])
def test_no_13_gram_shared_with_training_or_replay(preset: str, tmp_path: Path) -> None:
    cfg = load_config(preset, [f"output_dir={tmp_path}", "compare.seeds=[0,1,2]"])
    forgetting = [t for _, t in human_texts()]
    train: list[object] = []
    for seeds in seed_runs(plan_runs(cfg), cfg.compare.seeds).values():
        first = next(iter(seeds.values()))
        examples = [ex for src in read_sources(first) for ex in src]
        train += examples
        for rcfg in seeds.values():
            train += _replay_texts(rcfg, len(examples))
    assert len(train) > 500
    rep = check_contamination(train, {"forgetting": forgetting}, ngrams=(13,))
    assert rep.matches == [], rep.matches[:3]
    # the check finds a 13-gram when there is one
    planted = check_contamination(
        [*train[:50], "x " + forgetting[7][:400]], {"forgetting": forgetting}, ngrams=(13,)
    )
    assert len(planted.matches) == 1 and planted.matches[0]["level"] == "13-gram"
