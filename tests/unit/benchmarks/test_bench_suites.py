"""Every shipped benchmark suite loads and reads its bundled fixture through the suite's data spec."""

from __future__ import annotations

import pytest

import tunelab.benchmarks as bench
from tunelab.evaluate._items import load_items
from tunelab.evaluate._suite import SCORER_NAMES, load_suite

SUITES = ["medcalc", "finqa", "convfinqa", "tatqa", "pubmedqa", "medqa", "medmcqa", "phrasebank"]
READER = {"tatqa", "pubmedqa", "medmcqa", "phrasebank"}  # need Format.read in the data layer
HOOKED = {"tatqa_em", "tatqa_f1"} <= set(SCORER_NAMES)


@pytest.mark.parametrize("name", SUITES)
def test_suite_loads(name: str) -> None:
    if name == "tatqa" and not HOOKED:
        pytest.skip("needs the runner's benchmark-scorer hook (tatqa_em, tatqa_f1; asked of the lead)")
    suite = load_suite(name)
    assert suite.name == name and suite.data[0].format in (name,)
    spec = suite.data[0]
    assert spec.path is not None
    exs = bench.load_benchmark(spec.path, name)
    assert exs and all(e.meta["benchmark"] == name for e in exs)
    if name not in READER:
        assert len(load_items(suite)) == len(exs)


def test_suite_patterns_are_the_scorers() -> None:
    assert load_suite("finqa").extract.pattern == bench.FINQA_PROGRAM_PATTERN
    assert load_suite("convfinqa").extract.pattern == bench.FINQA_PROGRAM_PATTERN
    assert load_suite("medcalc").extract.pattern == bench.MEDCALC_ANSWER_PATTERN
