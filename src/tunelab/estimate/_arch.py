"""The architecture numbers an estimate needs, read from a model folder, a hub id (config only),
``tunelab-tiny``, or a plain config file (JSON or YAML, e.g. a Llama config)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunelab._text import load_yaml, read_text_file
from tunelab.errors import InputError
from tunelab.models import resolve_model_path

__all__ = ["ModelArch", "load_arch", "arch_from_dict"]

LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelArch:
    """A Llama-style decoder: the numbers the memory and FLOP formulas use."""

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tie_word_embeddings: bool
    max_position_embeddings: int

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """``(in_features, out_features)`` of each linear layer in one block."""
        d, i = self.hidden_size, self.intermediate_size
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        return {
            "q_proj": (d, q),
            "k_proj": (d, kv),
            "v_proj": (d, kv),
            "o_proj": (q, d),
            "gate_proj": (d, i),
            "up_proj": (d, i),
            "down_proj": (i, d),
        }

    def layer_params(self) -> int:
        """Parameters of one decoder block (linears + two RMSNorm weights)."""
        return sum(a * b for a, b in self.linear_shapes().values()) + 2 * self.hidden_size

    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    def lm_head_params(self) -> int:
        """Separate output matrix (0 when tied to the input embedding)."""
        return 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size

    def total_params(self) -> int:
        """All parameters (a tied lm_head counted once)."""
        return (
            self.embedding_params()
            + self.num_layers * self.layer_params()
            + self.hidden_size
            + self.lm_head_params()
        )

    def matmul_params(self) -> int:
        """Parameters used in matmuls per token: all blocks + the output projection (not the lookup)."""
        return self.num_layers * self.layer_params() + self.vocab_size * self.hidden_size

    def lora_params(self, r: int, targets: tuple[str, ...] = LINEAR_MODULES) -> int:
        """Trainable LoRA parameters: ``r * (in + out)`` per targeted linear, per block."""
        shapes = self.linear_shapes()
        unknown = [t for t in targets if t not in shapes]
        if unknown:
            raise InputError(
                f"unknown LoRA target module(s) {unknown}; known: {list(shapes)}", field="lora_targets"
            )
        return self.num_layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def arch_from_dict(cfg: dict[str, Any], name: str = "config") -> ModelArch:
    """Build a :class:`ModelArch` from an HF-style config dict (Llama/Mistral/Qwen2 key names).

    Raises:
        InputError: a required key is missing or not a positive integer.
    """

    def need(key: str, *alts: str) -> int:
        for k in (key, *alts):
            v = cfg.get(k)
            if v is not None:
                if not isinstance(v, int) or v <= 0:
                    raise InputError(f"must be a positive integer, got {v!r}", file=name, field=k)
                return v
        raise InputError("missing from the model config", file=name, field=key)

    d = need("hidden_size", "n_embd", "d_model")
    heads = need("num_attention_heads", "n_head")
    kv = cfg.get("num_key_value_heads") or heads
    return ModelArch(
        name=name,
        vocab_size=need("vocab_size"),
        hidden_size=d,
        intermediate_size=int(cfg.get("intermediate_size") or 4 * d),
        num_layers=need("num_hidden_layers", "n_layer"),
        num_heads=heads,
        num_kv_heads=int(kv),
        head_dim=int(cfg.get("head_dim") or d // heads),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_position_embeddings=int(cfg.get("max_position_embeddings") or 2048),
    )


def _read_file(p: Path) -> dict[str, Any]:
    text = read_text_file(p, "model config")
    if p.suffix.lower() in (".yaml", ".yml"):
        data, _ = load_yaml(text, str(p))
    else:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise InputError(f"cannot parse the config: {str(e)[:200]}", file=str(p)) from e
    if not isinstance(data, dict):
        raise InputError("a model config must be a mapping", file=str(p))
    return data.get("model", data) if isinstance(data.get("model"), dict) else data


def load_arch(spec: str) -> ModelArch:
    """Read the architecture of ``spec``.

    Args:
        spec: ``tunelab-tiny``; a model folder with ``config.json``; a ``.json``/``.yaml`` config
            file; or a hub id (config only; with ``HF_HUB_OFFLINE=1`` only a cached config works).

    Returns:
        The :class:`ModelArch`.

    Raises:
        InputError: missing path, unreadable config, or a hub id that cannot be resolved.
    """
    path = Path(resolve_model_path(spec)) if not Path(spec).is_file() else Path(spec)
    if path.is_file():
        return arch_from_dict(_read_file(path), name=spec)
    if path.is_dir():
        cfg = path / "config.json"
        if not cfg.is_file():
            raise InputError("the model folder has no config.json", file=str(path))
        return arch_from_dict(_read_file(cfg), name=spec)
    try:  # a hub id: fetch the config only
        from transformers import AutoConfig

        conf = AutoConfig.from_pretrained(spec)
    except Exception as e:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (offline: only configs already in the local cache can be used)" if offline else ""
        raise InputError(f"cannot read a model config for {spec!r}{hint}: {e}", file=spec) from e
    return arch_from_dict(conf.to_dict(), name=spec)
