"""Self-Instruct and Evol-Instruct end to end on the tiny model: in process and through a real HTTP server.

The tiny model writes junk; what is checked is the plumbing: every candidate is either kept or rejected with a
reason, the files agree with the counts, and reruns reuse the request cache instead of asking again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tunelab.data import Example
from tunelab.generation import Decoding, make_backend
from tunelab.synth._cache import read_jsonl
from tunelab.synth._evol import evol_instruct
from tunelab.synth._llm import work_dir
from tunelab.synth._run import SynthResult, rejected_path
from tunelab.synth._selfinstruct import default_seeds_path, load_seed_tasks, self_instruct

INSTR = Decoding(max_new_tokens=24, temperature=0.7, top_p=0.5, stop=("\n\n",))
INST = Decoding(max_new_tokens=12, stop=("\nTask:",))
EVOL = Decoding(max_new_tokens=16, temperature=0.7, top_p=0.95)
RESP = Decoding(max_new_tokens=8)
STARTS = [
    "Compute the body mass index of a 70 kg adult who is 1.75 m tall.",
    "Explain what a dividend is to a new investor.",
    "Summarize the main risks listed in the annual report.",
]


@pytest.fixture(scope="module")
def tiny() -> Any:
    return make_backend(model="tunelab-tiny", device="cpu")


def _si(backend: Any, out: Path, max_batches: int) -> SynthResult:
    seeds = load_seed_tasks(default_seeds_path())
    return self_instruct(
        backend, seeds, out, n=20, batch_size=2, max_batches=max_batches, seed=1,
        instruction_decoding=INSTR, instance_decoding=INST,
    )  # fmt: skip


def _evol(backend: Any, out: Path) -> SynthResult:
    items = [Example(messages=[{"role": "user", "content": t}], id=f"s{i}") for i, t in enumerate(STARTS)]
    return evol_instruct(
        backend, items, out, rounds=2, batch_size=2, seed=1, evol_decoding=EVOL, response_decoding=RESP
    )


def _check_accounting(res: SynthResult, out: Path) -> list[dict[str, Any]]:
    kept = read_jsonl(out)
    rejected = read_jsonl(rejected_path(out))
    assert len(kept) == res.kept
    assert len(kept) + len(rejected) == res.generated > 0
    assert dict(Counter(r["reason"] for r in rejected)) == res.reasons
    assert all(r["reason"] and r["record"] for r in rejected)
    assert len({r["id"] for r in kept}) == len(kept)
    for r in kept:
        Example.from_dict(r)
    keys = [r["key"] for r in read_jsonl(work_dir(out) / "cache.jsonl")]
    assert len(keys) == len(set(keys))  # no request was ever sent twice
    return kept


def test_self_instruct_in_process_resumes_without_repeating_requests(tiny: Any, tmp_path: Path) -> None:
    out = tmp_path / "si.jsonl"
    r1 = _si(tiny, out, max_batches=1)
    assert (r1.batches, r1.resumed_batches, r1.cache["cache_hits"]) == (1, 0, 0)
    assert r1.cache["requests_sent"] >= 2  # two instruction prompts (+ instances of what passed)
    _check_accounting(r1, out)
    r2 = _si(tiny, out, max_batches=2)  # continues with batch 2 only
    assert (r2.batches, r2.resumed_batches) == (2, 1)
    cache_lines = len(read_jsonl(work_dir(out) / "cache.jsonl"))
    assert cache_lines == r1.cache["requests_sent"] + r2.cache["requests_sent"]
    _check_accounting(r2, out)
    before = out.read_text(), rejected_path(out).read_text()
    # a run killed after its requests were cached but before the batches were journaled: all from the cache
    (work_dir(out) / "journal.jsonl").unlink()
    r3 = _si(tiny, out, max_batches=2)
    assert r3.cache["requests_sent"] == 0 and r3.cache["cache_hits"] == cache_lines
    assert (out.read_text(), rejected_path(out).read_text()) == before
    assert _si(tiny, out, max_batches=2).cache == {
        "cache_hits": 0,
        "requests_sent": 0,
        "cache_size": cache_lines,
    }


def test_evol_in_process(tiny: Any, tmp_path: Path) -> None:
    out = tmp_path / "evol.jsonl"
    res = _evol(tiny, out)
    assert res.batches == 4 and res.generated == 6  # 3 instructions x 2 rounds, batches of 2
    kept = _check_accounting(res, out)
    journal = read_jsonl(work_dir(out) / "journal.jsonl")
    assert [e["round"] for e in journal] == [1, 1, 2, 2]
    rejected = read_jsonl(rejected_path(out))
    assert {r["record"]["round"] for r in rejected} | {k["meta"]["evol_round"] for k in kept} == {1, 2}
    sent = res.cache["requests_sent"]
    assert sent >= 6
    again = _evol(tiny, out)
    assert again.resumed_batches == 4 and again.cache["requests_sent"] == 0


def test_both_through_an_openai_compatible_server(tmp_path: Path) -> None:
    from tunelab.serve import start_background_server

    out_si, out_ev = tmp_path / "si.jsonl", tmp_path / "ev.jsonl"
    with start_background_server("tunelab-tiny", device="cpu") as srv:
        http = make_backend(base_url=srv.base_url, model_name=srv.model_name, concurrency=2)
        r1 = _si(http, out_si, max_batches=1)
        e1 = _evol(http, out_ev)
    _check_accounting(r1, out_si)
    _check_accounting(e1, out_ev)
    assert r1.cache["requests_sent"] >= 2 and e1.cache["requests_sent"] >= 6
    # the same model on another port: the cache key has no address, so a replay sends nothing
    for out in (out_si, out_ev):
        (work_dir(out) / "journal.jsonl").unlink()
    with start_background_server("tunelab-tiny", device="cpu") as srv2:
        http2 = make_backend(base_url=srv2.base_url, model_name=srv2.model_name)
        assert _si(http2, out_si, max_batches=1).cache["requests_sent"] == 0
        assert _evol(http2, out_ev).cache["requests_sent"] == 0
