"""Comparison planning: one budget, two data mixtures; shipped comparison configs are valid."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunelab
from tunelab.compare import plan_runs
from tunelab.config import load_config
from tunelab.errors import InputError

COMPARE_CONFIGS = ["demo", "demo-quick", "medical-cot", "finance-qa"]


@pytest.mark.parametrize("name", COMPARE_CONFIGS)
def test_shipped_comparison_configs_plan(name: str) -> None:
    assert (Path(tunelab.__file__).parent / "configs" / f"{name}.yaml").is_file()
    cfg = load_config(name)
    runs = plan_runs(cfg)
    inst, fine = runs["instruction"], runs["finetune"]
    # the same budget: steps, batch, row length, optimizer settings
    assert inst.train == fine.train and inst.data.max_length == fine.data.max_length
    assert inst.model == fine.model == cfg.model
    # the approaches differ in data, templates and rendering only
    assert {s.task for s in inst.data.sources} == set(cfg.compare.instruction_tasks)
    assert all(s.templates == "train" for s in inst.data.sources) and inst.data.render == "chat"
    assert [s.task for s in fine.data.sources] == [cfg.compare.target_task]
    assert fine.data.sources[0].templates == "finetune" and fine.data.render == "plain"
    assert sum(s.n for s in inst.data.sources) == sum(s.n for s in fine.data.sources)
    assert not set(cfg.compare.heldout_tasks) & set(cfg.compare.instruction_tasks)
    # the approach of each run is its shipped preset's: template slice, rendering, loss mask
    for run, preset in ((inst, load_config("instruction")), (fine, load_config("finetune"))):
        assert {s.templates for s in run.data.sources} == {s.templates for s in preset.data.sources}
        assert (run.data.render, run.data.mask) == (preset.data.render, preset.data.mask)


def test_heldout_task_in_mixture_is_refused() -> None:
    cfg = load_config("demo", ["compare.heldout_tasks=[fin_sentiment]"])
    with pytest.raises(InputError, match="held-out"):
        plan_runs(cfg)


def test_unknown_task_names_closest() -> None:
    cfg = load_config("demo", ["compare.heldout_tasks=[revenue_trnd]"])
    with pytest.raises(InputError, match="revenue_trend"):
        plan_runs(cfg)
