"""Perplexity: pooled over tokens, every token predicted once, long texts windowed (never truncated).

Token accounting under test: a text's ids are ``tokenizer(text, add_special_tokens=False)`` and one prefix token
(BOS, else EOS; the tiny model has no BOS, so EOS) is put in front, so every text token is predicted:
``n_tokens == len(ids)``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from tunelab.errors import InputError
from tunelab.evaluate._loglik import score_choices, split_continuation
from tunelab.evaluate._ppl import perplexity, rolling_windows
from tunelab.synth import general_text


def _direct_nll(model: Any, ids: list[int]) -> float:
    """NLL (nats) of ids[1:] given the preceding ids, one forward pass, no windows."""
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(x).logits[0, :-1].double()
    return float(F.cross_entropy(logits, x[0, 1:], reduction="sum"))


def test_pooled_perplexity_equals_exp_of_summed_nll(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    texts = general_text(6, seed=11)
    res = perplexity(model, tok, texts, batch_size=4)
    prefix = tok.eos_token_id
    assert tok.bos_token_id is None  # the tiny model: EOS is the prefix
    nll = 0.0
    n_tok = 0
    for t in texts:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) + 1 <= res.window  # one window each here
        nll += _direct_nll(model, [prefix, *ids])
        n_tok += len(ids)
    assert res.n_tokens == n_tok
    assert res.nll == pytest.approx(nll, rel=1e-6)
    assert res.perplexity == pytest.approx(math.exp(nll / n_tok), rel=1e-6)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    assert res.n_bytes == n_bytes
    assert res.bits_per_byte == pytest.approx(nll / n_bytes / math.log(2), rel=1e-6)
    # pooled, not the mean of per-text perplexities
    mean_ppl = sum(math.exp(s.nll / s.n_tokens) for s in res.per_text) / len(texts)
    assert res.perplexity != pytest.approx(mean_ppl, rel=1e-6)


def test_rolling_windows_predict_every_position_once() -> None:
    for n, w, s in [(2, 64, 32), (64, 64, 32), (65, 64, 32), (300, 64, 32), (301, 64, 17), (1000, 8, 1)]:
        covered: list[int] = []
        for begin, end, k in rolling_windows(n, w, s):
            assert end - begin <= w and 1 <= k <= end - begin - 1
            covered.extend(range(end - k, end))
        assert covered == list(range(1, n))
    with pytest.raises(InputError):
        rolling_windows(10, 64, 64)


def test_long_text_is_windowed_not_truncated(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    text = " ".join(general_text(12, seed=3))
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > 300
    res = perplexity(model, tok, [text], window=64, stride=32)
    assert res.n_tokens == len(ids)
    assert res.n_windows == len(rolling_windows(len(ids) + 1, 64, 32)) > 5
    # the same windows computed by hand (Hugging Face recipe: labels -100 outside the new targets)
    full = [tok.eos_token_id, *ids]
    nll = 0.0
    for begin, end, k in rolling_windows(len(full), 64, 32):
        x = torch.tensor([full[begin:end]])
        labels = x.clone()
        labels[0, : end - begin - k] = -100
        with torch.no_grad():
            logits = model(x).logits[0, :-1].double()
        nll += float(F.cross_entropy(logits, labels[0, 1:], ignore_index=-100, reduction="sum"))
    assert res.nll == pytest.approx(nll, rel=1e-6)
    # and it is a different number from one pass over the whole text (context matters): really windowed
    assert res.nll != pytest.approx(_direct_nll(model, full), rel=1e-6)


def test_choice_loglik_equals_direct_sum(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    ctx = "Headline: Shares jump after record profit\nSentiment:"
    opts = [" positive", " negative", " neutral"]
    (res,) = score_choices(model, tok, [ctx], [opts], add_special_tokens=True)
    for o, lp, n in zip(opts, res.logprobs, res.n_tokens):
        c_ids, o_ids = split_continuation(tok, ctx, o, True)
        assert len(o_ids) == n
        full = c_ids + o_ids
        x = torch.tensor([full])
        with torch.no_grad():
            logp = model(x).logits[0].double().log_softmax(-1)
        direct = sum(float(logp[len(c_ids) - 1 + j, t]) for j, t in enumerate(o_ids))
        assert lp == pytest.approx(direct, rel=1e-6)
    assert res.pred == max(range(3), key=lambda j: res.logprobs[j])
    norm = [lp / len(o.encode()) for lp, o in zip(res.logprobs, opts)]
    assert res.pred_norm == max(range(3), key=lambda j: norm[j])
