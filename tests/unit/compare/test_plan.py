"""Comparison planning: one budget, two data mixtures; shipped comparison configs are valid."""

from __future__ import annotations

from pathlib import Path

import pytest

import tunelab
from tunelab.compare import match_token_budget, plan_runs, seed_runs
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


def test_seed_runs_set_order_and_init_seeds(tmp_path: Path) -> None:
    cfg = load_config("demo-quick", [f"output_dir={tmp_path}", "compare.seeds=[0,1,2]"])
    per = seed_runs(plan_runs(cfg), cfg.compare.seeds)
    for name in ("instruction", "finetune"):
        assert sorted(per[name]) == [0, 1, 2]
        for s, r in per[name].items():
            assert r.train.seed == s and r.data.shuffle_seed == s
            assert r.run_dir == cfg.run_dir / name / f"seed-{s}"
            assert r.data.sources == per[name][0].data.sources  # same data, other order


def test_duplicate_seeds_refused() -> None:
    with pytest.raises(InputError, match="compare.seeds"):
        load_config("demo-quick", ["compare.seeds=[1,1]"])


def test_token_budget_matches_target_tokens(tmp_path: Path) -> None:
    from tunelab.models import load_tokenizer
    from tunelab.train import build_train_data

    cfg = load_config("demo-quick", [f"output_dir={tmp_path}", "compare.budget=tokens"])
    runs = plan_runs(cfg)
    plan = match_token_budget(runs, load_tokenizer("tunelab-tiny"))
    assert runs["instruction"].train.max_steps == cfg.train.max_steps
    per_step = {}
    for name, r in runs.items():
        rep = build_train_data(r, load_tokenizer("tunelab-tiny")).report
        per_step[name] = r.train.batch_size * rep["train_target_tokens"] / rep["train_rows"]
    tokens = {n: runs[n].train.max_steps * per_step[n] for n in runs}
    # the fine-tuning steps are the fewest that reach the instruction run's target tokens
    assert tokens["finetune"] >= tokens["instruction"] > tokens["finetune"] - per_step["finetune"]
    assert plan["finetune"]["steps"] == runs["finetune"].train.max_steps != cfg.train.max_steps


def test_user_file_target_plan(tmp_path: Path) -> None:
    import json

    f = tmp_path / "mine.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Classify ticket {i}"},
                          {"role": "assistant", "content": "urgent" if i % 2 else "routine"}]} for i in range(40)]  # fmt: skip
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config("demo-quick", [f"output_dir={tmp_path}", f"compare.target_file={f}"])
    from tunelab.compare._plan import target_split, user_target_paths

    tr, ev = target_split(cfg)
    assert len(tr) + len(ev) == 40 and 0 < len(ev) <= cfg.compare.n_eval
    runs = plan_runs(cfg)
    train_path = str(user_target_paths(cfg)[0])
    assert runs["finetune"].data.sources[0].path == train_path and runs["finetune"].data.render == "plain"
    inst = runs["instruction"].data.sources
    assert inst[0].path == train_path and {s.task for s in inst[1:]} == set(cfg.compare.instruction_tasks)


def test_plain_output_ends_before_the_next_item() -> None:
    from tunelab.compare._measure import end_of_turn

    prompt = "Headline: Shares of Acme soar after record profit\nSentiment:"
    assert end_of_turn(" positive\nHeadline: Acme falls\nSentiment: negative", prompt) == " positive"
    assert end_of_turn(" positive\nSentiment: negative", prompt) == " positive"
    assert end_of_turn(" positive, as the headline says", prompt) == " positive, as the headline says"
