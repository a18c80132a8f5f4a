from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tunelab.train import BatchStream, EvalTracker, build_optimizer, lr_multiplier, neftune_hook
from tunelab.train._checkpoint import latest_checkpoint, prune_checkpoints

from .conftest import make_model, make_rows


def test_schedule_warmup_then_decay_to_min_ratio() -> None:
    f = lambda s, kind: lr_multiplier(s, 100, 10, kind, 0.1)  # noqa: E731
    assert f(0, "cosine") == pytest.approx(1 / 11)
    assert f(9, "cosine") == pytest.approx(10 / 11)
    assert f(10, "cosine") == pytest.approx(1.0)
    assert f(100, "cosine") == pytest.approx(0.1)
    assert f(55, "cosine") == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(55, "linear") == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(80, "constant") == 1.0
    # matches transformers' cosine schedule when warmup is 0 and min ratio 0
    from transformers import get_cosine_schedule_with_warmup

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hf = get_cosine_schedule_with_warmup(opt, 0, 50)
    for s in range(50):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr_multiplier(s, 50, 0, "cosine", 0.0), abs=1e-9)
        opt.step()
        hf.step()


def test_no_weight_decay_on_norms_and_biases() -> None:
    model = make_model()
    opt = build_optimizer(model, 1e-3, 0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("norm" in names[id(p)] for p in no_decay["params"])
    assert all(p.ndim == 2 for p in decay["params"])


def test_two_process_slices_equal_one_process_batches() -> None:
    rows = make_rows(13)
    one = BatchStream(rows, 4, seed=3, pad_id=0)
    r0 = BatchStream(rows, 2, seed=3, pad_id=0, world_size=2, rank=0)
    r1 = BatchStream(rows, 2, seed=3, pad_id=0, world_size=2, rank=1)
    for _ in range(7):  # crosses epoch boundaries
        (a,), (b0,), (b1,) = one.next_step(1), r0.next_step(1), r1.next_step(1)
        assert int(a["n_targets"]) == int(b0["n_targets"]) + int(b1["n_targets"])
    assert one.state_dict() == r0.state_dict()


def test_stream_resumes_at_the_same_position() -> None:
    rows = make_rows(10)
    s = BatchStream(rows, 3, seed=1, pad_id=0)
    for _ in range(4):
        s.next_step(2)
    state = s.state_dict()
    expected = s.next_step(2)
    t = BatchStream(rows, 3, seed=1, pad_id=0)
    t.load_state_dict(state)
    got = t.next_step(2)
    for e, g in zip(expected, got):
        assert torch.equal(e["input_ids"], g["input_ids"])


def test_eval_tracker_patience_and_overfit_flag() -> None:
    t = EvalTracker(patience=2)
    assert t.observe(10, 2.0, 3.0) == (True, False)
    assert t.observe(20, 2.5, 2.0) == (False, True)  # val up, train down
    assert not t.should_stop
    assert t.observe(30, 2.4, 2.1) == (False, False)  # train up too: no flag
    assert t.should_stop and t.best_step == 10
    u = EvalTracker(patience=2)
    u.load_state_dict(t.state_dict())
    assert u.best_loss == 2.0 and u.bad_evals == 2


def test_checkpoint_listing_ignores_partial_writes_and_prunes(tmp_path: Path) -> None:
    for s in (2, 4, 6, 8):
        (tmp_path / f"step-{s}").mkdir()
        (tmp_path / f"step-{s}" / "trainer_state.json").write_text("{}")
    (tmp_path / ".tmp-step-10").mkdir()
    assert latest_checkpoint(tmp_path) == tmp_path / "step-8"
    removed = prune_checkpoints(tmp_path, keep_last=2, best_step=2)
    assert sorted(p.name for p in removed) == ["step-4"]
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-2", "step-6", "step-8"]


def test_neftune_noise_scale_and_eval_passthrough() -> None:
    emb = torch.nn.Embedding(10, 64)
    h = emb.register_forward_hook(neftune_hook(5.0))
    ids = torch.zeros(1, 100, dtype=torch.long)
    emb.train()
    noise = (emb(ids) - emb.weight[0]).detach()
    bound = 5.0 / math.sqrt(100 * 64)
    assert noise.abs().max() <= bound + 1e-7 and noise.abs().max() > 0.5 * bound
    emb.eval()
    assert torch.equal(emb(ids), emb.weight[0].expand(1, 100, 64))
    h.remove()


def test_packing_on_cuda_needs_the_transformers_floor() -> None:
    from tunelab.errors import InputError
    from tunelab.train._attention import check_packing_support

    check_packing_support("cpu", "4.40.0")  # tunelab's own segment attention on CPU
    check_packing_support("cuda", "4.54.0")
    check_packing_support("cuda", "5.24.0")
    with pytest.raises(InputError, match=r"data.packing: packed rows on cuda need transformers>=4.54"):
        check_packing_support("cuda", "4.53.2")


def test_bf16_decision_is_taken_once_per_machine_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train.bf16: auto`` must not flip with the machine's load: the timing is kept in the cache folder
    and later processes read it (a planted answer is obeyed)."""
    import json

    from tunelab.train import _monitor

    monkeypatch.setenv("TUNELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(_monitor, "_cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    _monitor.bf16_is_faster.cache_clear()
    try:
        first = _monitor.bf16_is_faster("cpu")
        facts = json.loads((tmp_path / "hardware.json").read_text(encoding="utf-8"))
        assert list(facts.values()) == [first]
        (key,) = facts
        assert "torch" in key and "AVX512" in key
        (tmp_path / "hardware.json").write_text(json.dumps({key: not first}), encoding="utf-8")
        _monitor.bf16_is_faster.cache_clear()
        assert _monitor.bf16_is_faster("cpu") is (not first)
    finally:
        _monitor.bf16_is_faster.cache_clear()
