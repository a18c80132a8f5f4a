"""The runner: extraction and scoring against the reference responses, files written, provenance recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import f1_score

from tunelab.evaluate._runner import evaluate_model
from tunelab.evaluate._scoring import extract_item, resolve_metrics, score_items
from tunelab.evaluate._suite import DataSpec, PerplexitySpec, Suite
from tunelab.generation import Decoding
from tunelab.scoring import ExtractSpec
from tunelab.synth import generate as synth_generate

TASKS = [
    "fin_sentiment",
    "bmi",
    "percent_change",
    "extract_dose",
    "highest_revenue_year",
    "greater_comparison",
]


@pytest.mark.parametrize("templates", ["heldout", "train", "finetune"])
def test_reference_responses_score_perfectly(templates: str) -> None:
    """Feeding each item's own reference response through auto extraction and auto scoring gives 100%."""
    items = [ex for t in TASKS for ex in synth_generate(t, 12, seed=4, templates=templates)]
    spec = ExtractSpec()
    answers = [extract_item(ex.response or "", ex, spec)[0] for ex in items]
    assert all(a is not None for a in answers), [
        (ex.response, ex.meta["answer_format"]) for ex, a in zip(items, answers) if a is None
    ]
    metrics = resolve_metrics(["auto", "extracted_rate"], items)
    assert {"label_accuracy", "medcalc_accuracy", "numeric_accuracy", "exact_match"} <= set(metrics)
    auto = set(resolve_metrics(["auto"], items))
    scores, per_item = score_items(metrics, items, answers, n_bootstrap=50, seed=0, auto_metrics=auto)
    for name, s in scores.items():
        assert s.value == pytest.approx(1.0), name
        assert s.rule
    assert scores["medcalc_accuracy"].n == 12
    assert scores["extracted_rate"].n == len(items)


def test_wrong_answers_score_zero_and_strict_extraction() -> None:
    items = synth_generate("fin_sentiment", 20, seed=2, templates="finetune")
    # a rambling output naming a label is not accepted by strict label extraction
    a, rule = extract_item("The answer is positive, or maybe negative", items[0], ExtractSpec(method="label"))
    assert a is None and rule == "label"
    wrong = [
        {"positive": "negative", "negative": "neutral", "neutral": "positive"}[str(ex.meta["gold"])]
        for ex in items
    ]
    wrong[0] = None  # type: ignore[call-overload]
    scores, _ = score_items(["label_accuracy", "f1_macro", "extracted_rate"], items, wrong, 50, 0)
    assert scores["label_accuracy"].value == 0.0
    assert scores["extracted_rate"].value == pytest.approx(19 / 20)
    gold = [str(ex.meta["gold"]) for ex in items]
    pred = [w if w is not None else "<no answer>" for w in wrong]
    labels = sorted(set(gold) | set(pred))
    assert scores["f1_macro"].value == pytest.approx(
        f1_score(gold, pred, average="macro", labels=labels, zero_division=0)
    )
    assert scores["f1_macro"].ci_low <= scores["f1_macro"].value <= scores["f1_macro"].ci_high


def test_evaluate_model_writes_predictions_and_scores(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    model, tok = tiny
    suite = Suite(
        name="mini",
        data=[DataSpec(task="fin_sentiment", n=5, templates="heldout")],
        decoding=Decoding(max_new_tokens=6),
        metrics=["auto", "extracted_rate"],
        n_bootstrap=20,
    )
    res = evaluate_model(model, tok, suite, tmp_path, model_path="tunelab-tiny", limit=4, batch_size=2)
    d = tmp_path / "eval" / "mini"
    rows = [json.loads(x) for x in (d / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 == res.n_items
    assert {"id", "prompt", "prediction", "answer", "gold", "scores"} <= set(rows[0])
    assert rows[0]["prompt"].endswith("<|im_start|>assistant\n")
    scores = json.loads((d / "scores.json").read_text())
    assert set(scores["metrics"]) == {"label_accuracy", "f1_macro", "extracted_rate"}
    m = scores["metrics"]["label_accuracy"]
    assert m["value"] == pytest.approx(sum(r["scores"]["label_accuracy"] for r in rows) / 4)
    assert {"value", "ci_low", "ci_high", "n", "rule", "ci"} <= set(m)
    assert scores["model"]["path"] == "tunelab-tiny" and scores["model"]["embedded_tiny_model"]
    assert len(scores["model"]["chat_template_sha256_16"]) == 16
    assert scores["decoding"]["mode"] == "greedy" and scores["decoding"]["max_new_tokens"] == 6
    assert scores["suite_config"]["data"][0]["task"] == "fin_sentiment"


def test_perplexity_and_choice_suites(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    model, tok = tiny
    txt = tmp_path / "texts.txt"
    txt.write_text("The harbour was quiet.\n\nAnna found a map near the bridge.\n", encoding="utf-8")
    ppl = Suite(
        name="p",
        kind="perplexity",
        data=[DataSpec(path=str(txt)), DataSpec(text="general", n=3)],
        metrics=["perplexity", "bits_per_byte"],
        perplexity=PerplexitySpec(window=64, stride=32),
        n_bootstrap=20,
    )
    res = evaluate_model(model, tok, ppl, tmp_path)
    assert res.n_items == 5
    assert (
        res.scores["perplexity"].ci_low <= res.scores["perplexity"].value <= res.scores["perplexity"].ci_high
    )
    choice = Suite(
        name="c",
        kind="choice",
        data=[DataSpec(task="fin_sentiment", n=4, templates="finetune")],
        prompt={"format": "plain"}
        and __import__("tunelab.evaluate._suite", fromlist=["x"]).PromptSpec(format="plain"),
        metrics=["accuracy", "accuracy_norm"],
        n_bootstrap=20,
    )
    choice.choices.prefix = " "
    res = evaluate_model(model, tok, choice, tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "eval" / "c" / "predictions.jsonl").read_text().splitlines()]
    assert [set(r["option_logprobs"]) for r in rows][0] == {" positive", " negative", " neutral"}
    assert res.scores["accuracy"].value == pytest.approx(sum(r["scores"]["accuracy"] for r in rows) / 4)


@pytest.mark.parametrize(
    "name", ["tatqa", "finqa", "medcalc", "medqa", "medmcqa", "phrasebank", "pubmedqa", "convfinqa"]
)
def test_benchmark_suites_agree_with_the_adapters_official_scorers(name: str) -> None:
    """The shipped benchmark suites (bundled fixtures) score outputs as ``tunelab.benchmarks`` does: on the
    gold responses, on outputs rotated to the wrong items, and on an unreadable output."""
    from tunelab.benchmarks import score_example
    from tunelab.evaluate._items import load_items
    from tunelab.evaluate._suite import load_suite

    suite = load_suite(name)
    items = load_items(suite)
    gold = [ex.response or "" for ex in items]
    for outs in (gold, gold[1:] + gold[:1], ["no idea"] + gold[1:]):
        answers = [extract_item(o, ex, suite.extract)[0] for o, ex in zip(outs, items)]
        metrics = resolve_metrics(suite.metrics, items)
        _, per_item = score_items(metrics, items, answers, 10, 0, outputs=outs)
        for o, ex, mine in zip(outs, items, per_item):
            official = score_example(o, ex)
            official["label_accuracy"] = official.get("accuracy", -1.0)
            official["extracted_rate"] = official["extracted"]
            for k, v in mine.items():
                if k != "f1_macro":
                    assert v == pytest.approx(official[k]), (name, k, o)


def test_a_system_turn_trained_plain_is_evaluated_on_the_text_it_was_trained_on(
    tiny: tuple[Any, Any], tmp_path: Path
) -> None:
    """One plain renderer: an example with a system turn (and a two-part user turn), encoded for training with
    ``render="plain"``, is prompted at evaluation (``prompt.format: plain``) with exactly the trained prompt:
    the same text and the same token ids."""
    from tunelab.data import IGNORE_INDEX, Example, encode
    from tunelab.evaluate._suite import PromptSpec
    from tunelab.generation import encode_prompts

    model, tok = tiny
    ex = Example(
        messages=[
            {"role": "system", "content": "You label headlines."},
            # one user turn: two user turns in a row are invalid data (issue 17: turn order is validated)
            {"role": "user", "content": "Headline: Shares rose 4% after the report.\n\nSentiment:"},
            {"role": "assistant", "content": " positive"},
        ],
        id="sys-1",
        meta={"gold": "positive", "answer_format": "label", "labels": ["positive", "negative", "neutral"]},
    )
    row = encode([ex], tok, 256, mask="assistant", render="plain")[0]
    trained_prompt_ids = [i for i, lab in zip(row["input_ids"], row["labels"]) if lab == IGNORE_INDEX]
    data = tmp_path / "items.jsonl"
    data.write_text(ex.to_json() + "\n", encoding="utf-8")
    suite = Suite(
        name="plain",
        data=[DataSpec(path=str(data))],
        prompt=PromptSpec(format="plain"),
        decoding=Decoding(max_new_tokens=2),
        metrics=["label_accuracy"],
        n_bootstrap=10,
    )
    res = evaluate_model(model, tok, suite, None)
    prompt = res.predictions[0]["prompt"]
    assert "You label headlines." in prompt and prompt.endswith("Sentiment:")
    assert encode_prompts(tok, [prompt], add_special_tokens=True)[0] == trained_prompt_ids
