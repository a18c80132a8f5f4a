"""An evaluation killed mid-run keeps its finished chunks; the rerun generates only the rest, each item once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tunelab.evaluate._runner import evaluate_model
from tunelab.evaluate._suite import DataSpec, Suite
from tunelab.generation import Decoding, Generation, TransformersBackend


class Killed(BaseException):
    """Stands for SIGKILL arriving between two chunks (nothing after it runs)."""


class DiesAfter:
    """The real transformers backend, stopped for good after ``calls`` generate calls."""

    def __init__(self, inner: TransformersBackend, calls: int) -> None:
        self.inner, self.left, self.prompts = inner, calls, 0

    def generate(self, prompts: Sequence[Any], decoding: Decoding) -> list[Generation]:
        if self.left == 0:
            raise Killed
        self.left -= 1
        self.prompts += len(prompts)
        return self.inner.generate(prompts, decoding)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def _suite() -> Suite:
    return Suite(
        name="mini",
        data=[DataSpec(task="fin_sentiment", n=8, templates="heldout")],
        decoding=Decoding(max_new_tokens=6),
        metrics=["auto"],
        n_bootstrap=20,
    )


def test_a_killed_eval_resumes_from_its_finished_chunks(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    model, tok = tiny
    whole = evaluate_model(model, tok, _suite(), tmp_path / "whole", model_path="tunelab-tiny", batch_size=2)
    run = tmp_path / "run"
    dying = DiesAfter(TransformersBackend(model, tok, 2, "tunelab-tiny"), calls=2)
    with pytest.raises(Killed):
        evaluate_model(model, tok, _suite(), run, model_path="tunelab-tiny", batch_size=2, backend=dying)
    d = run / "eval" / "mini"
    assert not (d / "predictions.jsonl").exists() and not (d / "scores.json").exists()
    (partial,) = d.glob("predictions.partial-*.jsonl")
    assert len(partial.read_text().splitlines()) == 4  # two chunks of two generations

    again = DiesAfter(TransformersBackend(model, tok, 2, "tunelab-tiny"), calls=-1)
    res = evaluate_model(model, tok, _suite(), run, model_path="tunelab-tiny", batch_size=2, backend=again)
    assert again.prompts == 4 and res.record["resumed_items"] == 4
    rows = [json.loads(x) for x in (d / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in whole.predictions] and len(
        {r["id"] for r in rows}
    ) == 8
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in whole.predictions]
    assert not list(d.glob("predictions.partial-*"))


def test_other_settings_do_not_reuse_a_side_file(tiny: tuple[Any, Any], tmp_path: Path) -> None:
    model, tok = tiny
    dying = DiesAfter(TransformersBackend(model, tok, 2, "tunelab-tiny"), calls=1)
    with pytest.raises(Killed):
        evaluate_model(model, tok, _suite(), tmp_path, model_path="tunelab-tiny", batch_size=2, backend=dying)
    other = _suite()
    other.decoding = Decoding(max_new_tokens=5)
    res = evaluate_model(model, tok, other, tmp_path, model_path="tunelab-tiny", batch_size=2)
    assert res.record["resumed_items"] == 0
