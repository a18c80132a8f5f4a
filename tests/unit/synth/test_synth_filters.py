"""Self-Instruct and Evol-Instruct filters, the seed file, the request cache and `filter_examples` accounting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tunelab.data import Example
from tunelab.errors import InputError
from tunelab.generation import Decoding, Generation, Prompt
from tunelab.synth import generate
from tunelab.synth._cache import CachedBackend, Journal, RequestCache, read_jsonl
from tunelab.synth._evol import EVOL_OPERATIONS, elimination_reason, evol_prompt
from tunelab.synth._filter import filter_examples, instruction_problem, output_problem
from tunelab.synth._selfinstruct import default_seeds_path, load_seed_tasks, parse_instructions


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Summarize this.", "too short (< 4 words)"),
        (" ".join(["word"] * 151), "too long (> 150 words)"),
        ("Draw the heart of a patient with arrows.", "blacklisted word"),
        ("Open the attached FILES and list their names.", "blacklisted word"),
        ("Please go to the bank website and read the rates.", "blacklisted word"),
        ("- List three causes of anemia in adults.", "starts with punctuation"),
        ("Énumérez trois causes de l'anémie chez l'adulte.", "starts with a non-English character"),
        ("", "empty instruction"),
    ],
)
def test_instruction_filters_name_their_reason(text: str, reason: str) -> None:
    problem = instruction_problem(text)
    assert problem is not None and problem[0] == reason


def test_instruction_filters_pass_good_ones_and_respect_options() -> None:
    assert instruction_problem("List three causes of anemia in adults.") is None
    assert (
        instruction_problem("Explain the mapping of genes to traits briefly.") is None
    )  # "map" is a whole word
    assert instruction_problem("Draw the heart of a patient with arrows.", blacklist=None) is None
    assert instruction_problem("Two words", min_words=2) is None


def test_output_filters() -> None:
    assert output_problem("", "ok", "length") == ("truncated output (hit max tokens)", "")
    assert output_problem("", "  ", "stop") == ("empty output", "")
    assert output_problem("x = 3", " x = 3 ", "stop") == ("output copies the input", "")
    assert output_problem("", "42", "stop") is None


def test_shipped_seed_tasks_are_well_formed_and_pass_the_filters() -> None:
    seeds = load_seed_tasks(default_seeds_path())
    assert len(seeds) >= 30
    assert len({s.id for s in seeds}) == len(seeds)
    assert all(s.instances and s.instances[0]["output"] for s in seeds)
    assert all(instruction_problem(s.instruction) is None for s in seeds)
    names = " ".join(s.name for s in seeds)
    assert "med_" in names and "fin_" in names and "gen_" in names


def test_seed_file_errors_name_file_line_field(tmp_path: Path) -> None:
    p = tmp_path / "seeds.jsonl"
    p.write_text('{"id": "a", "instruction": "Do a thing well please.", "instances": []}\n{"id": "b"}\n')
    with pytest.raises(InputError) as e:
        load_seed_tasks(p)
    assert e.value.problems[0].line == 2 and e.value.problems[0].field == "instruction"


def test_parse_numbered_instructions() -> None:
    out = (
        "Write a haiku about tax season.\n10. Explain what an ETF is.\n11) Convert 5 km to miles\n12. Cut sh"
    )
    items, cut = parse_instructions(out, truncated=True)
    assert items == ["Write a haiku about tax season.", "Explain what an ETF is.", "Convert 5 km to miles"]
    assert cut == ["Cut sh"]
    assert parse_instructions("1. A b c d\n2. E f g h", truncated=False, first_number=None) == (
        ["A b c d", "E f g h"],
        [],
    )


def test_evol_elimination_reasons() -> None:
    orig = "Compute the body mass index of a 70 kg adult who is 1.75 m tall."
    good = (
        "Compute the BMI of a 70 kg adult who is 1.75 m tall, then classify it by WHO category and explain."
    )
    assert elimination_reason(orig, good, "BMI = 70 / 1.75^2 = 22.9 kg/m2, which is normal weight.") is None
    assert elimination_reason(orig, orig.upper(), "22.9")[0] == "no information gain"
    assert elimination_reason(orig, orig + " Thanks", "22.9")[0] == "no information gain"
    assert (
        elimination_reason(orig, "#Rewritten Prompt#: " + good, "22.9")[0]
        == "copies the evolving prompt's words"
    )
    assert elimination_reason(orig, "Rewrite the given prompt so it asks more.", "x")[0] == (
        "copies the evolving prompt's words"
    )
    assert elimination_reason(orig, good, "Sorry, I cannot help with that.")[0] == (
        "response apologizes (sorry, < 80 words)"
    )
    assert (
        elimination_reason(orig, good, "... it is, and the. !")[0]
        == "response is only punctuation and stop words"
    )
    assert elimination_reason(orig, "", "x")[0] == "empty evolved instruction"


def test_evol_prompts_cover_depth_and_breadth() -> None:
    assert len(EVOL_OPERATIONS) == 6
    for op in EVOL_OPERATIONS:
        p = evol_prompt("Explain compound interest.", op)
        assert "Explain compound interest." in p and "Prompt#:" in p
    with pytest.raises(InputError):
        evol_prompt("x", "shorten")


class _Counting:
    """A deterministic backend that records what it was asked (the cache is what is under test)."""

    def __init__(self) -> None:
        self.calls: list[list[Prompt]] = []

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[Generation]:
        self.calls.append(list(prompts))
        return [Generation(text=f"echo {p}", finish_reason="stop") for p in prompts]

    def describe(self) -> dict[str, str]:
        return {"backend": "counting", "model": "m"}


def test_cache_sends_each_request_once_and_survives_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    inner = _Counting()
    cb = CachedBackend(inner, RequestCache(path), chunk_size=2)
    dec = Decoding(max_new_tokens=4)
    first = cb.generate(["a", "b", "a", "c"], dec)
    assert [g.text for g in first] == ["echo a", "echo b", "echo a", "echo c"]
    assert inner.calls == [["a", "b"], ["c"]]  # chunks, duplicates sent once
    assert cb.stats() == {"cache_hits": 1, "requests_sent": 3, "cache_size": 3}
    with path.open("a") as fh:
        fh.write('{"key": "torn')  # a kill in the middle of a write
    inner2 = _Counting()
    cb2 = CachedBackend(inner2, RequestCache(path))
    assert [g.text for g in cb2.generate(["c", "d"], dec)] == ["echo c", "echo d"]
    assert inner2.calls == [["d"]]
    assert cb2.generate(["d"], Decoding(max_new_tokens=5))  # other decoding, other key
    keys = [r["key"] for r in read_jsonl(path)]
    assert len(keys) == len(set(keys)) == 5


def test_journal_replays_entries(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.jsonl")
    j.append({"batch": 0})
    j.append({"batch": 1})
    assert [e["batch"] for e in Journal(tmp_path / "j.jsonl").entries] == [0, 1]


def test_filter_examples_counts_every_reason() -> None:
    bmi = generate("bmi", 4, seed=3)
    tampered = Example.from_dict(json.loads(bmi[2].to_json()))
    tampered.meta["gold"] = float(tampered.meta["gold"]) + 5
    tampered.id = "tampered"
    dup = Example.from_dict(bmi[0].to_dict())
    items = [
        bmi[0],
        bmi[1],
        tampered,
        dup,
        Example(
            messages=[{"role": "user", "content": "Plot the revenue of the company per year."}], id="plot"
        ),
        Example(messages=[{"role": "user", "content": "Hi."}], id="short"),
        Example(
            messages=[{"role": "user", "content": "Name three common causes of anemia in adults."}], id="a1"
        ),
        Example(
            messages=[{"role": "user", "content": "Name three common causes of anemia in children."}], id="a2"
        ),
    ]
    rep = filter_examples(items, near_dup_threshold=None, max_words=400, verify=True)
    counts = rep.to_dict()["reasons"]
    assert counts == {
        "blacklisted word": 1,
        "too short (< 4 words)": 1,
        "exact duplicate": 1,
        "ROUGE-L > 0.7 against a kept instruction": 1,
        "failed verification": 1,
    }
    assert [e.id for e in rep.kept] == [bmi[0].id, bmi[1].id, "a1"]
    assert len(rep.kept) + len(rep.rejections.records) == len(items)
    by_reason = {r["reason"]: r for r in rep.rejections.records}
    assert by_reason["failed verification"]["record"]["id"] == "tampered"
    assert "gold" in by_reason["failed verification"]["detail"]
