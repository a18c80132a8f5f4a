"""Report rendering: self-contained HTML checked in headless Chromium, and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.browser import check_page, chromium_driver

from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._report import load_comparison, render_report
from tunelab.errors import InputError


def _slice(name: str, vals: dict[str, float], pair_diff: float, ci: list[float], **kw: object) -> dict:
    return {
        "name": name,
        "metric": kw.get("metric", "accuracy"),
        "scale": kw.get("scale", "fraction"),
        "higher_is_better": kw.get("higher_is_better", True),
        "n": 200,
        "description": f"{name} slice.",
        "how": "accuracy, strict label extraction",
        "models": {m: {"value": v, "ci": [v - 0.05, v + 0.05]} for m, v in vals.items()},
        "pairs": {
            "instruction-finetune": {
                "diff": pair_diff,
                "ci": ci,
                "mcnemar_p": 0.01,
                "flipped": {"gained": 3, "lost": 9},
            },
            "finetune-base": {"diff": vals["finetune"] - vals["base"], "ci": [0.3, 0.6]},
            "instruction-base": {"diff": vals["instruction"] - vals["base"], "ci": [0.2, 0.5]},
        },
        "examples": [
            {
                "prompt": "Headline: <b>Shares</b> soar\nSentiment:",
                "gold": "positive",
                "outputs": {"base": "the", "instruction": "positive", "finetune": "positive"},
            }
        ],
    }


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
    slices = {
        "in_domain": _slice(
            "in-domain", {"base": 0.3, "instruction": 0.7, "finetune": 0.9}, -0.2, [-0.3, -0.1]
        ),
        "unseen_instructions": _slice(
            "unseen instructions", {"base": 0.3, "instruction": 0.6, "finetune": 0.5}, 0.1, [-0.02, 0.2]
        ),
        "forgetting": _slice(
            "forgetting",
            {"base": 1.9, "instruction": 2.0, "finetune": 2.3},
            -0.3,
            [-0.4, -0.2],
            metric="bits_per_byte",
            scale="absolute",
            higher_is_better=False,
        ),
    }
    approaches = {
        m: {
            "curve": curve,
            "overfitting": over,
            "cost": {
                "wall_s": 60.0,
                "steps": 200,
                "target_tokens": 12345,
                "tokens_per_s": 2000.0,
                "peak_memory_gib": 0.5,
                "trainable_params": 3_700_000,
            },
        }
        for m in ("instruction", "finetune")
    }
    data = {
        "title": "test",
        "base_model": "tunelab-tiny",
        "tiny": True,
        "seed": 0,
        "budget": {"description": "200 steps"},
        "slices": slices,
        "approaches": approaches,
        "verdict": write_verdict(slices, approaches),
        "decoding": {"greedy": True},
    }
    (tmp_path / "compare.json").write_text(json.dumps(data))
    return tmp_path


def test_verdict_follows_numbers(run_dir: Path) -> None:
    v = " ".join(load_comparison(run_dir)["verdict"])
    assert "finetune is better by 20.0 points" in v  # in-domain CI excludes 0
    assert "no clear difference" in v  # unseen instructions CI includes 0
    assert "forgetting (bits_per_byte): instruction 2.000 vs finetune 2.300 — instruction is better" in v
    assert "overfit" in v


def test_report_renders_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    html_path, md_path = render_report(run_dir)
    text = html_path.read_text()
    assert "Demonstration at toy scale" in text and "tunelab-tiny" in text
    assert "&lt;b&gt;Shares&lt;/b&gt;" in text  # model/user text is escaped
    assert "http://" not in text and "https://" not in text  # self-contained
    md = md_path.read_text()
    assert "| in-domain | accuracy (%) | 200 |" in md
    driver = chromium_driver(str(tmp_path / "profile"))
    try:
        shot = tmp_path / "report.png"
        page = check_page(driver, html_path.as_uri(), str(shot))
    finally:
        driver.quit()
    assert page["errors"] == []
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
