from __future__ import annotations

import torch

from tunelab.train import CausalLMLoss, collate, forward_backward

from .conftest import make_model, make_rows


def _grads(micro: list[list[dict]]) -> tuple[dict[str, torch.Tensor], float]:
    from accelerate import Accelerator

    # fp32 stated, not inherited: a defaulted Accelerator() takes the mixed precision of whatever
    # initialized accelerate's process-wide state first (a bf16 training run in an earlier test)
    acc = Accelerator(cpu=True, mixed_precision="no")
    wrapper = CausalLMLoss(make_model(seed=1))
    loss_sum, n = forward_backward(wrapper, [collate(rows, pad_id=0) for rows in micro], acc)
    grads = {k: p.grad.clone() for k, p in wrapper.named_parameters() if p.grad is not None}
    return grads, float(loss_sum / n)


def test_four_micro_batches_of_two_equal_one_batch_of_eight() -> None:
    rows = make_rows(8, seed=7)
    counts = [sum(x != -100 for x in r["labels"]) for r in rows]
    per_micro = [counts[i] + counts[i + 1] for i in range(0, 8, 2)]
    assert len(set(per_micro)) > 1, "the test needs uneven target counts per micro-batch"
    big, loss_big = _grads([rows])
    small, loss_small = _grads([rows[i : i + 2] for i in range(0, 8, 2)])
    assert abs(loss_big - loss_small) < 1e-5
    assert big.keys() == small.keys() and big
    for k in big:
        assert torch.allclose(big[k], small[k], atol=1e-5, rtol=0), k


def test_mean_of_micro_batch_means_would_differ() -> None:
    """The naive average (mean per micro-batch, then mean) is not the big-batch loss here."""
    rows = make_rows(8, seed=7)
    wrapper = CausalLMLoss(make_model(seed=1))
    with torch.no_grad():
        means = []
        for i in range(0, 8, 2):
            b = collate(rows[i : i + 2], pad_id=0)
            s, n = wrapper(b["input_ids"], b["targets"], b["position_ids"])
            means.append(float(s / n))
    _, loss_big = _grads([rows])
    assert abs(sum(means) / 4 - loss_big) > 1e-4
