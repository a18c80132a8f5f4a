"""Round-trip check of a written GGUF: load it back with transformers and compare it with the source model.

Measured on fixed chat prompts, both models fed the *same* token ids (the source tokenizer's):

- the greedy continuation of each model (``max_new_tokens`` tokens, or until EOS/end-of-turn);
- the largest absolute difference of the logits, over every position of prompt + the source's continuation
  and every vocabulary entry (also the mean KL divergence of the next-token distributions, reported only).

Thresholds per quantization type (the logits of the small Llama models measured here span about ±35):

| type | max abs logit difference | greedy tokens |
|---|---|---|
| F16 | 0.1 | must agree |
| BF16 | 0.5 | must agree |
| Q8_0 | 2.0 | must agree (short prompts) |
| Q4_0, Q4_1, Q5_0, Q5_1 | 10.0 | reported, not required |

"Agree" means identical, or diverging first at a *near-tie*: where the source model itself scores the
GGUF's token within the type's logit tolerance of its own choice (measured on SmolLM2-135M, Q8_0 and BF16
continuations part at margins of 0.01-0.11 logits, far below the noise the rounding adds). transformers
undoes llama.cpp's Q/K permutation when it reads the file, so a wrong permutation shows as logit
differences of the size of the logits themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab.errors import TunelabError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["VERIFY_PROMPTS", "TOLERANCES", "PromptCheck", "VerifyReport", "verify_gguf", "load_gguf_model"]

#: the fixed prompts of the check (short: Q8_0 must give the same greedy tokens on them)
VERIFY_PROMPTS = (
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "List three colours.",
    "A patient weighs 70 kg and is 1.75 m tall. What is the BMI?",
    "Revenue rose from 120 to 150. What is the percent change?",
)

#: quantization -> (max abs logit difference allowed, greedy tokens must agree with the source's)
TOLERANCES: dict[str, tuple[float, bool]] = {
    "f16": (0.1, True),
    "bf16": (0.5, True),
    "q8_0": (2.0, True),
    "q4_0": (10.0, False),
    "q4_1": (10.0, False),
    "q5_0": (10.0, False),
    "q5_1": (10.0, False),
}


@dataclass
class PromptCheck:
    """One prompt's comparison.

    ``divergence_margin``: where the greedy continuations first differ, how many logits the source model
    prefers its own token over the GGUF's (``None`` when they are identical).
    """

    prompt: str
    source_tokens: list[int]
    gguf_tokens: list[int]
    max_abs_logit_diff: float
    mean_kl: float
    divergence_margin: float | None = None

    @property
    def same_tokens(self) -> bool:
        return self.source_tokens == self.gguf_tokens


@dataclass
class VerifyReport:
    """All prompts' comparisons, the thresholds applied and the verdict."""

    quant: str
    tolerance: float
    tokens_required: bool
    checks: list[PromptCheck] = field(default_factory=list)

    @property
    def max_abs_logit_diff(self) -> float:
        return max((c.max_abs_logit_diff for c in self.checks), default=0.0)

    @property
    def same_tokens(self) -> int:
        return sum(c.same_tokens for c in self.checks)

    def agrees(self, c: PromptCheck) -> bool:
        """Identical greedy tokens, or a first divergence at a near-tie of the source model."""
        return c.same_tokens or (c.divergence_margin is not None and c.divergence_margin <= self.tolerance)

    @property
    def passed(self) -> bool:
        tokens_ok = not self.tokens_required or all(self.agrees(c) for c in self.checks)
        return tokens_ok and self.max_abs_logit_diff <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "quant": self.quant,
            "passed": self.passed,
            "max_abs_logit_diff": self.max_abs_logit_diff,
            "tolerance": self.tolerance,
            "same_greedy_tokens": f"{self.same_tokens}/{len(self.checks)}",
            "greedy_tokens_required": self.tokens_required,
            "prompts": [
                {
                    "prompt": c.prompt,
                    "same_tokens": c.same_tokens,
                    "divergence_margin": c.divergence_margin,
                    "max_abs_logit_diff": c.max_abs_logit_diff,
                    "mean_kl": c.mean_kl,
                    "source_tokens": c.source_tokens,
                    "gguf_tokens": c.gguf_tokens,
                }
                for c in self.checks
            ],
        }


def load_gguf_model(gguf_file: str | Path) -> PreTrainedModel:
    """Load a GGUF file with transformers (dequantized to float32, on CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    p = Path(gguf_file)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as e:
        raise TunelabError(f"transformers cannot load {p}: {e}") from e
    return model.eval()


def _greedy(model: PreTrainedModel, ids: Any, stop_ids: list[int], max_new_tokens: int) -> list[int]:
    import torch
    from transformers import GenerationConfig

    cfg = GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids, pad_token_id=stop_ids[0]
    )
    with torch.no_grad():
        gen: Any = model.generate  # typed as a Tensor attribute by transformers' stubs
        out = gen(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=cfg)
    return [int(t) for t in out[0, ids.shape[1] :]]


def _logits(model: PreTrainedModel, ids: Any) -> Any:
    return model(input_ids=ids).logits[0]


def verify_gguf(
    source: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    gguf_file: str | Path,
    quant: str,
    prompts: tuple[str, ...] | list[str] = VERIFY_PROMPTS,
    max_new_tokens: int = 16,
    gguf_model: PreTrainedModel | None = None,
) -> VerifyReport:
    """Compare ``gguf_file`` (loaded back with transformers) with the model it was written from.

    Args:
        source: the model that was exported.
        tokenizer: its tokenizer; its chat template renders the prompts.
        gguf_file: the written file.
        quant: its quantization (selects the thresholds of :data:`TOLERANCES`).
        prompts: user messages, each rendered as a one-turn chat prompt.
        max_new_tokens: greedy tokens generated per prompt.
        gguf_model: the file already loaded (else it is loaded here).

    Returns:
        Greedy tokens and logit differences per prompt, with the verdict.
    """
    import torch

    from tunelab.models._gguf_vocab import end_of_turn_token, token_id

    tol, need_tokens = TOLERANCES[quant]
    loaded = gguf_model if gguf_model is not None else load_gguf_model(gguf_file)
    stop = {token_id(tokenizer, end_of_turn_token(tokenizer))}
    if tokenizer.eos_token_id is not None:
        stop.add(int(tokenizer.eos_token_id))
    report = VerifyReport(quant, tol, need_tokens)
    for prompt in prompts:
        text = str(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
        )
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        src_tokens = _greedy(source, ids, sorted(stop), max_new_tokens)
        gguf_tokens = _greedy(loaded, ids, sorted(stop), max_new_tokens)
        full = torch.cat([ids, torch.tensor([src_tokens], dtype=ids.dtype)], dim=1)
        with torch.no_grad():
            la, lb = _logits(source, full), _logits(loaded, full)
        diff = float((la - lb).abs().max().item())
        pa, pb = torch.log_softmax(la, -1), torch.log_softmax(lb, -1)
        kl = float((pa.exp() * (pa - pb)).sum(-1).mean().item())
        margin = None
        j = next((i for i, (x, y) in enumerate(zip(src_tokens, gguf_tokens)) if x != y), None)
        if j is None and len(src_tokens) != len(gguf_tokens):  # one stopped where the other went on
            j = min(len(src_tokens), len(gguf_tokens))
        if j is not None and j < len(src_tokens) and j < len(gguf_tokens):
            row = la[ids.shape[1] + j - 1]  # the source's scores for token j of the continuation
            margin = float((row[src_tokens[j]] - row[gguf_tokens[j]]).item())
        report.checks.append(PromptCheck(prompt, src_tokens, gguf_tokens, diff, kl, margin))
    return report
