from __future__ import annotations

from pathlib import Path

import pytest

import tunelab
from tunelab.config import load_config

SHIPPED = sorted((Path(tunelab.__file__).parent / "configs").glob("*.yaml"))


def test_presets_are_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= {"instruction", "finetune"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_config_loads(path: Path) -> None:
    cfg = load_config(path)
    for src in cfg.data.sources:
        assert (src.task is None) != (src.path is None)


def test_presets_name_real_tasks_and_differ_as_methods() -> None:
    import tunelab.synth as synth

    names = {t.name for t in synth.list_tasks()}
    inst, fine = load_config("instruction"), load_config("finetune")
    assert {s.task for s in inst.data.sources} <= names and {s.task for s in fine.data.sources} <= names
    assert len(inst.data.sources) > 1 and all(s.templates == "train" for s in inst.data.sources)
    assert len(fine.data.sources) == 1 and fine.data.sources[0].templates == "finetune"
    assert inst.data.render == "chat" and fine.data.render == "plain"
