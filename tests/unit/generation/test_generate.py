"""Batched generation: identical to one-at-a-time ``model.generate``, per-row stopping, OOM back-off."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tunelab.errors import InputError
from tunelab.generation._generate import (
    Decoding,
    encode_prompts,
    generate,
    generate_ids,
    render_prompt,
    trim_at_stop,
)
from tunelab.generation._prompt_pass import MIN_LENGTH_FRACTION, PAD_SLACK
from tunelab.synth import general_text


def _prompts(tok: Any, n: int = 16) -> list[str]:
    texts = general_text(n, seed=5)
    # mixed lengths: 13 to ~90 prompt tokens
    return [
        render_prompt([{"role": "user", "content": t[: 15 + 19 * i]}], tok, "chat")
        for i, t in enumerate(texts)
    ]


def _similar_prompts(tok: Any, n: int) -> list[str]:
    """``n`` different texts to continue (plain prompts, so continuations differ), of one length in
    tokens: one prompt pass holds them all."""
    from collections import defaultdict

    by_len: dict[int, list[str]] = defaultdict(list)
    for t in general_text(60, seed=5):
        p = render_prompt([{"role": "user", "content": t[:80]}], tok, "plain")
        by_len[len(encode_prompts(tok, [p], add_special_tokens=False)[0])].append(p)
    same = max(by_len.values(), key=len)
    assert len(same) >= n, {k: len(v) for k, v in by_len.items()}
    return same[:n]


def _one_at_a_time(model: Any, ids: list[int], max_new: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), max_new_tokens=max_new, do_sample=False, pad_token_id=0)
    row = out[0, len(ids) :].tolist()
    return row[: row.index(2)] if 2 in row else row  # eos id 2 (<|im_end|>)


def test_batched_left_padded_equals_one_at_a_time(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _prompts(tok)
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    assert len({len(i) for i in ids}) >= 12  # really mixed lengths, so rows really are padded
    gens = generate(model, tok, prompts, Decoding(max_new_tokens=12), batch_size=6)
    assert len(gens) == len(prompts)
    for p, g in zip(ids, gens):
        assert g.n_prompt_tokens == len(p)  # original order restored
        assert g.token_ids == _one_at_a_time(model, p, 12)
        assert g.text == tok.decode(g.token_ids, skip_special_tokens=True)


def test_out_of_memory_halves_the_batch_and_keeps_results(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _similar_prompts(tok, 6)
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    want = generate_ids(model, tok, ids, Decoding(max_new_tokens=4), batch_size=1)
    seen: list[int] = []

    def refuse_big_batches(module: Any, args: Any, kwargs: Any) -> None:
        b = kwargs["input_ids"].shape[0] if kwargs.get("input_ids") is not None else args[0].shape[0]
        seen.append(b)
        if b > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated for this test)")

    h = model.register_forward_pre_hook(refuse_big_batches, with_kwargs=True)
    try:
        got = generate_ids(model, tok, ids, Decoding(max_new_tokens=4), batch_size=6)
    finally:
        h.remove()
    assert [g.token_ids for g in got] == [g.token_ids for g in want]
    assert 6 in seen and 3 in seen and max(seen[-3:]) <= 2  # 6 -> 3 -> 1... kept small afterwards


def test_batches_hold_similar_lengths(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    ids = encode_prompts(tok, _prompts(tok), add_special_tokens=False)
    widths: list[tuple[int, int]] = []

    def record(module: Any, args: Any, kwargs: Any) -> None:
        x = kwargs["input_ids"]
        if x.shape[1] > 1:  # the prompt pass of a batch
            mask = kwargs["attention_mask"]
            widths.append((x.shape[1], int(mask.sum(1).min())))

    h = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        generate_ids(model, tok, ids, Decoding(max_new_tokens=2), batch_size=16)
    finally:
        h.remove()
    assert len(widths) > 1  # 16 prompts of 13..90 tokens do not go in one batch of 16
    assert all(shortest >= min(MIN_LENGTH_FRACTION * width, width - PAD_SLACK) for width, shortest in widths)
    assert sum(1 for _ in widths) < len(ids)  # ...but not one prompt at a time either


def test_finished_rows_leave_the_batch(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _similar_prompts(tok, 6)
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    free = generate_ids(model, tok, ids, Decoding(max_new_tokens=12), batch_size=6)
    # stop strings that end two rows early (their texts' openings) and appear in no other row's text
    texts = [g.text for g in free]
    early = [
        (a, b)
        for a in range(6)
        for b in range(a + 1, 6)
        if len(texts[a]) > 4
        and len(texts[b]) > 4
        and sum(texts[a][:3] in t or texts[b][:3] in t for t in texts) == 2
    ]
    assert early, texts
    a, b = early[0]
    stop = (texts[a][:3], texts[b][:3])
    sizes: list[int] = []
    h = model.register_forward_pre_hook(
        lambda m, a, k: sizes.append(k["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        got = generate_ids(model, tok, ids, Decoding(max_new_tokens=12, stop=stop), batch_size=6)
    finally:
        h.remove()
    assert got[a].finish_reason == got[b].finish_reason == "stop"
    assert len(got[a].token_ids) < 12 and len(got[b].token_ids) < 12
    if max(len(g.token_ids) for g in got) > 4:  # the others ran on after a and b stopped...
        assert sizes[0] == 6 and min(sizes) <= 4  # ...in a batch without them
    for p, f, g in zip(ids, free, got):  # the rows left running are unaffected by the others leaving
        if g.finish_reason == "length":
            assert g.token_ids == f.token_ids == _one_at_a_time(model, p, 12)


def test_stop_strings_and_finish_reason(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _prompts(tok, 4)
    free = generate(model, tok, prompts, Decoding(max_new_tokens=16), batch_size=4)
    for g in free:  # without stop strings a row stops at EOS (ids cut before it) or runs out of tokens
        assert g.finish_reason == ("stop" if len(g.token_ids) < 16 else "length")
    # stop on a string the free-running outputs contain: the text is cut before it, the row stops early
    long = [g for g in free if len(g.text.strip()) > 6]
    assert long, [g.text for g in free]
    stop = long[0].text[3:5]
    got = generate(model, tok, prompts, Decoding(max_new_tokens=16, stop=(stop,)), batch_size=4)
    for f, g in zip(free, got):
        assert stop not in g.text
        if stop in f.text:
            assert g.finish_reason == "stop"
            assert g.text == f.text[: f.text.index(stop)]
            assert len(g.token_ids) <= len(f.token_ids)
        else:
            assert g.token_ids == f.token_ids


def test_sampling_is_seeded(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts = _prompts(tok, 4)
    d = Decoding(max_new_tokens=8, temperature=1.0, top_p=0.9, seed=3)
    a = generate(model, tok, prompts, d, batch_size=4)
    b = generate(model, tok, prompts, d, batch_size=4)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]


def test_trim_and_bad_settings() -> None:
    assert trim_at_stop("abc\n\nQ: x", ["Q:", "\n\n"]) == ("abc", True)
    assert trim_at_stop("abc", ["Q:"]) == ("abc", False)
    with pytest.raises(InputError, match="max_new_tokens"):
        Decoding(max_new_tokens=0)
    with pytest.raises(InputError, match="top_p"):
        Decoding(top_p=0)


def _with_prompt_passes(model: Any, tok: Any, ids: list[list[int]]) -> tuple[Any, list[tuple[int, int]]]:
    """Greedy generations of ``ids`` (10 new tokens, batch 8) and the (rows, width) of each multi-token pass."""
    passes: list[tuple[int, int]] = []

    def record(module: Any, args: Any, kwargs: Any) -> None:
        x = kwargs["input_ids"]
        if x.shape[1] > 1:
            passes.append((x.shape[0], x.shape[1]))

    h = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        return generate_ids(model, tok, ids, Decoding(max_new_tokens=10), batch_size=8), passes
    finally:
        h.remove()


def test_shared_prefix_runs_once_and_changes_nothing(tiny: tuple[Any, Any]) -> None:
    """Prompts sharing a system prompt: one one-row pass of the shared tokens, then the rows' own tokens on
    its KV cache; the outputs equal one-at-a-time generation."""
    model, tok = tiny
    system = {"role": "system", "content": "Answer in one short sentence, then stop. Be precise."}
    texts = general_text(8, seed=9)
    prompts = [
        render_prompt([system, {"role": "user", "content": t[: 20 + 11 * i]}], tok, "chat")
        for i, t in enumerate(texts)
    ]
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    gens, passes = _with_prompt_passes(model, tok, ids)
    shared = len(encode_prompts(tok, [render_prompt([system], tok, "chat")], add_special_tokens=False)[0])
    assert passes[0][0] == 1 and passes[0][1] >= shared - 2  # the shared tokens, once, one row
    assert all(w <= max(map(len, ids)) - passes[0][1] for _, w in passes[1:])  # rows start after them
    for g, p in zip(gens, ids):
        assert g.token_ids == _one_at_a_time(model, p, 10)


def test_shared_stems_cluster_prompts_alike_after_the_prefix() -> None:
    from tunelab.generation._prompt_pass import Stem, shared_stems

    run = list(range(1, 10))  # nine shared tokens
    tails = [[*run, 10, 11], [*run, 20], [5, 5], [*run, 10, 30], run]
    # rows 0 and 3 share ten tokens, row 1 nine with them; row 4 is the nine tokens alone, and keeps one
    # token of its own, so it shares eight; row 2 shares nothing
    assert shared_stems(tails, 8) == [Stem((4, 0, 3, 1), 8)]
    assert shared_stems(tails[:4], 8) == [Stem((0, 3, 1), 9)]
    assert shared_stems(tails, 10) == [Stem((0, 3), 10)]  # each keeps one token of its own
    assert shared_stems(tails, 11) == []
    assert shared_stems(tails, 0) == []  # off


def test_prompts_alike_after_the_prefix_share_a_stem_and_change_nothing(tiny: tuple[Any, Any]) -> None:
    """Two phrasings after one system prompt: the prefix runs once (one row), each phrasing's shared run
    once (one pass, a row per phrasing), then the rows' own tokens; outputs equal one-at-a-time generation."""
    model, tok = tiny
    system = {"role": "system", "content": "Answer in one short sentence, then stop. Be precise."}
    lead = [
        "Read the passage below and say in one word what it is about. Passage:",
        "Here is a text; continue it with one more sentence in the same style. Text:",
    ]
    texts = general_text(8, seed=3)
    prompts = [
        render_prompt([system, {"role": "user", "content": f"{lead[i % 2]} {t[: 12 + 9 * i]}"}], tok, "chat")
        for i, t in enumerate(texts)
    ]
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    gens, passes = _with_prompt_passes(model, tok, ids)
    lead_tokens = min(len(encode_prompts(tok, [t], add_special_tokens=False)[0]) for t in lead)
    assert passes[0][0] == 1  # the system prompt, once
    assert passes[1][0] == 2 and passes[1][1] >= lead_tokens - 2  # each phrasing's run, once
    computed = sum(rows * width for rows, width in passes)
    assert computed < sum(map(len, ids)) - 6 * lead_tokens  # the six repeats were not recomputed
    for g, p in zip(gens, ids):
        assert g.token_ids == _one_at_a_time(model, p, 10)


def test_decode_memory_is_reused_from_call_to_call(tiny: tuple[Any, Any]) -> None:
    from tunelab.generation._kvcache import arena_for, keep_freed_memory

    model, tok = tiny
    ids = encode_prompts(tok, _prompts(tok, 6), add_special_tokens=False)
    first = generate_ids(model, tok, ids, Decoding(max_new_tokens=6), batch_size=6)
    arena = arena_for(model)
    assert arena._flat is not None
    ptr = arena._flat.data_ptr()
    again = generate_ids(model, tok, ids, Decoding(max_new_tokens=6), batch_size=6)
    assert arena._flat.data_ptr() == ptr  # the same memory, no fresh pages to fault in
    assert [g.token_ids for g in again] == [g.token_ids for g in first]
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory()


def test_row_spans_split_rows_where_a_call_costs_less_than_the_columns_it_skips() -> None:
    from tunelab.generation._spans import CALL_COST_POSITIONS, row_spans

    def mask(firsts: list[int], width: int = 400) -> torch.Tensor:
        m = torch.zeros((len(firsts), width), dtype=torch.long)
        for r, f in enumerate(firsts):
            m[r, f:] = 1
        return m

    assert row_spans(mask([0, 0, 3, 5])) is None  # one run from column 0: nothing to skip
    assert row_spans(mask([7, 9, 12])) == ((0, 3, 7),)  # one run, its leading padding skipped
    far = CALL_COST_POSITIONS + 1  # two rows skip more than one call costs
    assert row_spans(mask([0, 2, far + 2, far + 4])) == ((0, 2, 0), (2, 4, far + 2))
    # a row that starts earlier than its run widens it for every row already in it: 2 rows x 200 columns
    assert row_spans(mask([300, 300, 100])) == ((0, 2, 300), (2, 3, 100))
    assert row_spans(mask([300, 300, 290])) == ((0, 3, 290),)
    # many rows, two clusters of start columns: one run each (not one per distinct start)
    assert row_spans(mask([0, 1, 2, 3, 200, 201, 202, 203])) == ((0, 4, 0), (4, 8, 200))


def test_decode_attention_over_row_spans_changes_no_token(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows of very different prompt lengths in one joined batch: each decode step attends each run of rows
    over its own columns only (fewer positions read), and every row's tokens equal one-at-a-time
    ``generate``'s. (Calls are made cheap here so that the tiny batch splits into many runs.)"""
    import tunelab.generation._spans as spans_mod

    monkeypatch.setattr(spans_mod, "CALL_COST_POSITIONS", 8)

    model, tok = tiny
    prompts = _prompts(tok)
    ids = encode_prompts(tok, prompts, add_special_tokens=False)
    calls: list[tuple[int, int]] = []
    sdpa = spans_mod._SDPA

    def counting(module: Any, query: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
        if query.shape[2] == 1:
            calls.append((query.shape[0], key.shape[2]))
        return sdpa(module, query, key, *args, **kwargs)

    spans_mod._install()
    sdpa = spans_mod._SDPA
    spans_mod._SDPA = counting
    try:
        gens = generate_ids(model, tok, ids, Decoding(max_new_tokens=8), batch_size=16)
    finally:
        spans_mod._SDPA = sdpa
    widest = max(k for _, k in calls)
    assert any(q < 16 and k < widest - 20 for q, k in calls)  # runs of rows over fewer columns
    for g, p in zip(gens, ids):
        assert g.token_ids == _one_at_a_time(model, p, 8)
