"""Report rendering from a comparison built by the real aggregation code: verdict sentences follow the
numbers, the HTML is self-contained, opens in headless Chromium without errors and fits a 1280-px window."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tests.browser import check_page, chromium_driver

from tunelab.compare._aggregate import aggregate_slice
from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._report import load_comparison, render_report
from tunelab.errors import InputError

SEEDS = [0, 1, 2]


def _graded(p: dict[str, float], n: int, seed: int, lenient_bonus: float = 0.0) -> list[dict]:
    r = random.Random(seed)
    rows = []
    for i in range(n):
        strict = float(r.random() < p["strict"])
        lenient = max(strict, float(r.random() < lenient_bonus))
        rows.append(
            {"id": f"x{i}", "task": "t", "prompt": f"Headline: <b>Shares</b> {i}", "prediction": f"out {seed}",
             "gold": "positive", "strict": strict, "lenient": lenient, "format": max(strict, 0.5)}
        )  # fmt: skip
    return rows


def _rows(kind: str, means: dict[str, float], n: int = 120, bonus: dict[str, float] | None = None) -> dict:
    bonus = bonus or {}
    out: dict = {}
    for m, p in means.items():
        seeds = [-1] if m == "base" else SEEDS
        if kind == "generate":
            out[m] = {
                s: _graded(
                    {"strict": p},
                    n,
                    100 * s + {"base": 1, "instruction": 2, "finetune": 3}[m],
                    bonus.get(m, 0.0),
                )
                for s in seeds
            }
        else:
            r = random.Random(5)
            out[m] = {s: [{"id": f"t{i}", "nll": p * 100 * (1 + 0.01 * r.random()), "n_bytes": 100}
                          for i in range(n)] for s in seeds}  # fmt: skip
    return out


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    metrics = tmp_path / "metrics.jsonl"
    lines = []
    for s in range(10, 210, 10):
        rec = {"step": s, "loss": 2.0 / (1 + s / 20)}
        if s % 40 == 0:
            rec["val_loss"] = 1.0 if s <= 80 else 1.0 + (s - 80) / 400
            if s == 40:
                rec["val_loss"] = 1.2
        lines.append(json.dumps(rec))
    metrics.write_text("\n".join(lines) + "\n")
    curve = read_curve(metrics)
    over = overfitting_summary(curve, early_stop_step=None)
    assert over["best_step"] == 80 and over["overfit_from_step"] == 120 and over["overfit_warning"]
    specs = {
        "target_format": ("generate", {"base": 0.0, "instruction": 0.3, "finetune": 0.9}, {"base": 0.6}),
        "target_heldout": ("generate", {"base": 0.0, "instruction": 0.5, "finetune": 0.48}, {}),
        "forgetting_bpb": ("bits_per_byte", {"base": 1.0, "instruction": 1.05, "finetune": 1.3}, {}),
    }
    slices = {}
    for key, (kind, means, bonus) in specs.items():
        spec = {"name": key.replace("_", " "), "kind": kind, "description": f"{key} slice."}
        slices[key] = aggregate_slice(key, spec, _rows(kind, means, bonus=bonus), nb=300, seed=0)
        slices[key]["how"] = "how it was computed"
    run = {"curve": curve, "overfitting": over,
           "cost": {"wall_s": 60.0, "steps": 200, "target_tokens": 12345, "tokens_per_s": 2000.0,
                    "peak_memory_gib": 0.5, "trainable_params": 3_700_000}}  # fmt: skip
    methods = {m: {"seeds": {str(s): run for s in SEEDS}} for m in ("instruction", "finetune")}
    data = {
        "title": "test",
        "base_model": "tunelab-tiny",
        "base_model_kind": "toy",
        "base_model_note": "tunelab's embedded toy base model.",
        "tiny": True,
        "seeds": SEEDS,
        "budget": {"description": "200 steps", "per_method": {
            m: {"steps": 200, "rows": 1600, "target_tokens": 12345} for m in ("instruction", "finetune")}},
        "slices": slices,
        "approaches": methods,
        "contamination": {"rule": "r", "slices": {k: {"candidates": 9, "dropped_seen_in_training": 1, "kept": 8}
                                                  for k in slices},
                          "checks": {"instruction": {k: {"exact": 0, "13-gram": 2, "8-gram": 3} for k in slices}}},
        "decoding": {"greedy": True},
    }  # fmt: skip
    data["verdict"] = write_verdict(slices, methods, data)
    (tmp_path / "compare.json").write_text(json.dumps(data))
    return tmp_path


def test_verdict_follows_numbers(run_dir: Path) -> None:
    data = load_comparison(run_dir)
    v = " ".join(data["verdict"])
    s = data["slices"]["target_format"]
    assert s["pairs"]["instruction-finetune"]["ci"][1] < 0
    assert (
        "target format (strict): finetune is better by 60.0 points (instruction 30.0% vs finetune 90.0%" in v
    )
    assert "no clear difference" in v  # target_heldout: 0.5 vs 0.48 over 120 items
    assert "forgetting bpb (bits_per_byte): instruction is better" in v
    assert "the finetune model's bits_per_byte rose (1.450 → 1.885" in v
    # base: right answer in the wrong form is its own sentence
    assert "the base model states the right answer" in v
    assert "overfit" in v and "across 3 seeds" in v
    # per-seed values and a hierarchical CI that contains the mean
    m = s["metrics"]["strict"]["models"]["finetune"]
    assert set(m["per_seed"]) == {"0", "1", "2"} and m["ci"][0] <= m["value"] <= m["ci"][1]


def test_report_renders_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    html_path, md_path = render_report(run_dir)
    text = html_path.read_text()
    assert "tunelab-tiny" in text and "toy base model" in text
    assert "&lt;b&gt;Shares&lt;/b&gt;" in text  # model/user text is escaped
    assert "http://" not in text and "https://" not in text  # self-contained
    assert "incl. replay" in text
    md = md_path.read_text()
    for metric in ("strict (%)", "lenient (%)", "format (%)"):
        assert f"| target format | {metric} | 120 |" in md
    assert "Seeds: 3 (0, 1, 2)" in md and "Flipped items" in md
    driver = chromium_driver(str(tmp_path / "profile"))
    try:
        shot = tmp_path / "report.png"
        page = check_page(driver, html_path.as_uri(), str(shot))
    finally:
        driver.quit()
    assert page["errors"] == []
    assert page["scroll_width"] <= page["client_width"] <= 1280  # no horizontal scrolling at 1280 px
    assert len(page["images"]) == 2
    for alt, complete, nw, nh, w, h in page["images"]:
        assert complete and nw > 0 and nh > 0 and w > 0 and h > 0, alt
    assert shot.stat().st_size > 10_000


def test_missing_comparison_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="compare.json"):
        load_comparison(tmp_path)


def test_a_comparison_written_with_the_old_methods_key_still_loads(run_dir: Path, tmp_path: Path) -> None:
    """compare.json names the two runs ``approaches`` (instruction tuning vs fine-tuning; ``method`` is
    full/LoRA); a file written before the rename, with ``methods``, reads the same for one release."""
    data = json.loads((run_dir / "compare.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    data["methods"] = data.pop("approaches")
    (old / "compare.json").write_text(json.dumps(data))
    assert load_comparison(old)["approaches"] == load_comparison(run_dir)["approaches"]


def test_human_votes_make_a_report_section(run_dir: Path) -> None:
    """Votes in human/votes.jsonl (as `tunelab ui` writes them) are counted by the human-review import and
    appear in report.md and report.html; without votes there is no section."""
    from tunelab.evaluate import export_review, import_review

    render_report(run_dir)
    assert "Human judgement" not in (run_dir / "report.md").read_text()
    ids = [f"in_domain/q{i}" for i in range(4)]
    exp = export_review(
        ids, ["p"] * 4, ["a"] * 4, ["b"] * 4, run_dir / "human", name_a="instruction", name_b="finetune"
    )
    left = json.loads(exp.mapping.read_text())["left"]
    # raters r1 and r2: A, A, tie, both bad (in un-blinded terms); r2 disagrees on the first item
    wanted = {"r1": ["a", "a", "tie", "both_bad"], "r2": ["b", "a", "tie", "both_bad"]}
    lines = []
    for rater, outcomes in wanted.items():
        for i, o in zip(ids, outcomes):
            pref = o if o in ("tie", "both_bad") else ("left" if (left[i] == o) else "right")
            lines.append(json.dumps({"item": i, "preference": pref, "rater": rater, "left_system": left[i]}))
    (run_dir / "human" / "votes.jsonl").write_text("\n".join(lines) + "\n")
    res = import_review([run_dir / "human" / "votes.jsonl"], exp.mapping, n_bootstrap=50)
    assert res.win_rate.value == pytest.approx(3 / 8) and res.loss_rate.value == pytest.approx(1 / 8)
    assert res.tie_rate.value == pytest.approx(2 / 8) and res.both_bad_rate is not None
    assert res.both_bad_rate.value == pytest.approx(2 / 8)
    from sklearn.metrics import cohen_kappa_score

    assert res.kappa["r1|r2"] == pytest.approx(cohen_kappa_score(wanted["r1"], wanted["r2"]))
    html_path, md_path = render_report(run_dir)
    md = md_path.read_text()
    assert "## Human judgement" in md and "8 judgments of 4 items by 2 rater(s)" in md
    assert "| instruction preferred | 37.5% [" in md and "| both bad | 25.0% [" in md
    assert "Cohen's kappa r1 vs r2" in md and "Human judgement" in html_path.read_text()


def test_votes_file_errors_name_file_line_and_field(tmp_path: Path) -> None:
    from tunelab.evaluate import export_review, import_review

    exp = export_review(["x", "y"], ["p", "q"], ["a", "a"], ["b", "b"], tmp_path, seed=0)
    left = json.loads(exp.mapping.read_text())["left"]
    votes = tmp_path / "votes.jsonl"
    for bad, field in [
        ({"item": "x", "preference": "better"}, "preference"),
        ({"item": "zz", "preference": "left"}, "item"),
        ({"item": "x", "preference": "left", "left_system": "b" if left["x"] == "a" else "a"}, "left_system"),
    ]:
        votes.write_text(json.dumps({"item": "y", "preference": "tie"}) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(InputError) as e:
            import_review([votes], exp.mapping)
        p = e.value.problems[0]
        assert (p.file, p.line, p.field) == (str(votes), 2, field)
