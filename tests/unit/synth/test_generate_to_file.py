"""`synth generate` to a file: OUT appears once, complete; an interrupted run resumes to the same bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunelab.synth import generate, generate_report
from tunelab.synth._write import generate_to_file, partial_path


class Killed(BaseException):
    pass


def _die_after(chunks: int) -> Any:
    def progress(report: Any, resumed: int) -> None:
        progress.calls += 1  # type: ignore[attr-defined]
        if progress.calls == chunks:  # type: ignore[attr-defined]
            raise Killed

    progress.calls = 0  # type: ignore[attr-defined]
    return progress


def _expected(task: str, n: int, seed: int = 0, templates: str = "train") -> str:
    return "".join(ex.to_json() + "\n" for ex in generate(task, n, seed=seed, templates=templates))


def test_an_interrupted_run_leaves_no_output_and_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(Killed):
        generate_to_file("percent_change", 95, out, seed=3, chunk=20, progress=_die_after(3))
    assert not out.exists()
    side = [json.loads(x) for x in partial_path(out).read_text().splitlines()]
    assert side[0] == {"run": {"task": "percent_change", "seed": 3, "templates": "train", "version": "2"}}
    assert [len(e["examples"]) for e in side[1:]] == [20, 20, 20]
    report, resumed = generate_to_file("percent_change", 95, out, seed=3, chunk=20)
    assert resumed == 60 and report.verified == 95
    assert out.read_text(encoding="utf-8") == _expected("percent_change", 95, seed=3)
    assert not partial_path(out).exists()
    whole = generate("percent_change", 95, seed=3)

    full = generate_report("percent_change", 95, seed=3)
    assert (report.generated, report.rejected, report.reasons) == (
        full.generated,
        full.rejected,
        full.reasons,
    )
    assert len({ex.id for ex in whole}) == 95


def test_a_torn_last_chunk_is_dropped_and_redone(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(Killed):
        generate_to_file("bmi", 50, out, chunk=10, progress=_die_after(2))
    with partial_path(out).open("a") as fh:
        fh.write('{"examples": [{"id": "torn')  # a kill in the middle of the next append
    _, resumed = generate_to_file("bmi", 50, out, chunk=10)
    assert resumed == 20 and out.read_text(encoding="utf-8") == _expected("bmi", 50)


def test_a_side_file_of_another_run_is_not_used(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    out.write_text("previous\n")
    with pytest.raises(Killed):
        generate_to_file("bmi", 50, out, seed=1, chunk=10, progress=_die_after(2))
    assert out.read_text() == "previous\n"  # the previous complete file stays until the new one is whole
    _, resumed = generate_to_file("bmi", 30, out, seed=2, templates="heldout", chunk=10)
    assert resumed == 0 and out.read_text(encoding="utf-8") == _expected(
        "bmi", 30, seed=2, templates="heldout"
    )
