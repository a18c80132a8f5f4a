"""Packing: fixed-length rows, position resets, and no cross-example attention in a real Llama."""

from __future__ import annotations

from typing import Any

import pytest

from tunelab.data import Example, encode, pack, pad_free_batches
from tunelab.errors import InputError


def _examples() -> list[Example]:
    texts = [
        ("what is the capital of france?", "paris"),
        (
            "compute the ratio of two values please",
            "the ratio is ten percent and the company reported a profit",
        ),
        ("hello", "hello world"),
        ("translate this sentence into french", "the doctor checked the blood pressure every hour"),
        ("revenue grew by ten percent?", "yes"),
        ("the patient was given a dose", "of medicine and the doctor checked the blood pressure"),
    ]
    return [
        Example(id=f"e{i}", messages=[{"role": "user", "content": q}, {"role": "assistant", "content": a}])
        for i, (q, a) in enumerate(texts)
    ]


def test_best_fit_rows_shape_and_efficiency() -> None:
    rows = [{"input_ids": list(range(1, n + 1)), "labels": list(range(1, n + 1))} for n in (7, 5, 3, 3, 2, 6)]
    res = pack(rows, 10)
    assert len(res.rows) == 3  # 26 tokens; best-fit decreasing: [7,3] [6,3] [5,2]
    for r in res.rows:
        assert len(r["input_ids"]) == len(r["labels"]) == len(r["position_ids"]) == 10
        pos, k = r["position_ids"], 0
        for n in r["seq_lens"]:
            assert pos[k : k + n] == list(range(n))
            assert r["labels"][k] == -100  # no target across an example boundary
            k += n
        assert all(x == -100 for x in r["labels"][k:])
    assert sorted(i for r in res.rows for i in r["indices"]) == list(range(6))
    assert res.efficiency == pytest.approx(26 / 30)
    with pytest.raises(InputError, match="row 0 has 7 tokens"):
        pack(rows, 6)


def test_best_fit_ordered_keeps_the_input_mix() -> None:
    """Two 'tasks' of different lengths, shuffled: best-fit decreasing puts each task in rows of its own
    (sorted by length), best fit in input order gives rows holding both, at nearly the same fill."""
    import random

    lengths = [40] * 60 + [12] * 60  # long task ids 0..59, short task ids 60..119
    order = list(range(120))
    random.Random(0).shuffle(order)
    rows = [{"input_ids": [1] * lengths[i], "task": int(i >= 60)} for i in order]
    tasks = [r["task"] for r in rows]

    def mixed_rows(res: Any) -> int:
        return sum(len({tasks[i] for i in r["indices"]}) == 2 for r in res.rows)

    dec = pack(rows, 128, strategy="best_fit")
    ordered = pack(rows, 128, strategy="best_fit_ordered")
    for res in (dec, ordered):  # every example exactly once
        assert sorted(i for r in res.rows for i in r["indices"]) == list(range(120))
    assert mixed_rows(dec) <= 2
    assert mixed_rows(ordered) >= 0.5 * len(ordered.rows)  # 15 of 25 here
    assert ordered.efficiency >= dec.efficiency - 0.05
    # in input order: each row's examples keep their relative order
    assert all(r["indices"] == sorted(r["indices"]) for r in ordered.rows)
    with pytest.raises(InputError, match="unknown packing strategy"):
        pack(rows, 128, strategy="first_fit")


def _loss_sum(
    model: Any, ids: list[list[int]], labels: list[list[int]], position_ids: list[list[int]] | None
) -> Any:
    import torch
    import torch.nn.functional as F

    kw: dict[str, Any] = {"use_cache": False}
    if position_ids is not None:
        kw["position_ids"] = torch.tensor(position_ids)
    logits = model(input_ids=torch.tensor(ids), **kw).logits  # (B, T, V)
    lab = torch.tensor(labels)
    return F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        lab[:, 1:].reshape(-1),
        ignore_index=-100,
        reduction="sum",
    )


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_equals_sum_of_separate_losses(chatml_tok: Any, attn: str) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(chatml_tok),
        hidden_size=64,
        attn_implementation=attn,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    model = LlamaForCausalLM(cfg).to(torch.float64).eval()
    assert model.config._attn_implementation == attn
    rows = encode(_examples(), chatml_tok, 64)
    with torch.no_grad():
        separate = sum(float(_loss_sum(model, [r["input_ids"]], [r["labels"]], None)) for r in rows)
        res = pack(rows, 96, pad_token_id=chatml_tok.pad_token_id)
        assert len(res.rows) < len(rows) and any(len(r["seq_lens"]) > 1 for r in res.rows)
        b = res.rows
        packed = float(
            _loss_sum(
                model, [r["input_ids"] for r in b], [r["labels"] for r in b], [r["position_ids"] for r in b]
            )
        )
        assert packed == pytest.approx(separate, abs=1e-5)
        # the control: without position resets the examples attend to each other and the loss changes
        leaky = float(_loss_sum(model, [r["input_ids"] for r in b], [r["labels"] for r in b], None))
        assert abs(leaky - separate) > 1e-3
        (pf,) = pad_free_batches(rows, batch_size=len(rows))
        free = float(_loss_sum(model, [pf["input_ids"]], [pf["labels"]], [pf["position_ids"]]))
        assert free == pytest.approx(separate, abs=1e-5)
        assert pf["cu_seq_lens"][-1] == len(pf["input_ids"]) == sum(len(r["input_ids"]) for r in rows)
