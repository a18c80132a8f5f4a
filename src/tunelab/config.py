"""Typed configuration: one dataclass per section, YAML loading, ``section.key=value`` overrides.

Every field documents itself through ``metadata["help"]``. Validation happens before any work
starts: an unknown key exits 2 naming the key and the closest valid one; a wrong type exits 2
naming key, value and expected type. ``dump_config`` writes the fully resolved config (every
default spelled out) that each run directory carries as ``config.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from tunelab._atomic import write_text_atomic
from tunelab._text import apply_overrides, load_yaml, read_text_file
from tunelab.errors import InputError, Problem

__all__ = [
    "Config",
    "ModelConfig",
    "DataConfig",
    "SourceConfig",
    "TrainConfig",
    "LoraConfig",
    "EvalConfig",
    "SynthConfig",
    "CompareConfig",
    "load_config",
    "shipped_presets",
    "config_from_dict",
    "config_to_dict",
    "dump_config",
    "apply_overrides",
]


def _f(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with a help string (mutable defaults through default_factory)."""
    if isinstance(default, (list, dict)):
        factory: Any = lambda d=default: type(d)(d)  # noqa: E731 - a fresh copy per instance
        return field(default_factory=factory, metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class ModelConfig:
    name_or_path: str = _f(
        "tunelab-tiny",
        "Hugging Face hub id or local folder; 'tunelab-tiny' is the embedded base model.",
    )
    revision: str | None = _f(None, "Hub revision (branch, tag or commit) when loading from the hub.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f(
        "float32", "Weight dtype. Mixed precision for training is train.bf16, not this."
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = _f(
        "auto", "Where the model runs; auto picks cuda, mps, cpu."
    )
    trust_remote_code: bool = _f(False, "Run modelling code shipped with the model. Off unless you trust it.")
    chat_template: str | None = _f(
        None, "Jinja chat template to use instead of the tokenizer's (or a file path to one)."
    )


@dataclass
class SourceConfig:
    path: str | None = _f(None, "A data file or folder (JSONL, JSON, CSV, Parquet, HF dataset folder).")
    format: str | None = _f(None, "Record shape; detected when omitted (messages, sharegpt, alpaca, ...).")
    task: str | None = _f(None, "A tunelab synthetic task name, generated instead of read from a file.")
    n: int = _f(1000, "Examples to generate for a synthetic task.")
    templates: Literal["train", "heldout", "finetune"] = _f(
        "train", "Which instruction templates render a synthetic task."
    )
    weight: float = _f(1.0, "Relative sampling weight of this source in the mixture.")


@dataclass
class DataConfig:
    sources: list[SourceConfig] = _f([], "Training data: files and/or synthetic tasks, mixed by weight.")
    val_sources: list[SourceConfig] = _f([], "Validation data; when empty, val_ratio of the training data.")
    val_ratio: float = _f(
        0.05, "Fraction of training data held out for validation when val_sources is empty."
    )
    max_length: int = _f(512, "Maximum tokens per example (prompt + response).")
    overlong: Literal["drop", "truncate"] = _f("drop", "What to do with examples over max_length (counted).")
    mask: Literal["assistant", "last", "none"] = _f(
        "assistant",
        "Loss on: all assistant turns + EOS ('assistant'), only the final one ('last'), or every token ('none').",
    )
    render: Literal["chat", "plain"] = _f(
        "chat", "Render with the chat template, or as plain prompt+completion text (a fixed task format)."
    )
    packing: bool = _f(True, "Pack examples into rows of max_length (attention stays inside each example).")
    dedup: bool = _f(True, "Drop exact duplicates before training (reported).")
    shuffle_seed: int = _f(0, "Seed for the data order.")


@dataclass
class LoraConfig:
    r: int = _f(8, "LoRA rank.")
    alpha: int = _f(16, "LoRA alpha (scale = alpha / r).")
    dropout: float = _f(
        0.0,
        "Dropout on the LoRA input (0 by default, as Unsloth: a mask per adapted module cost a fifth of a "
        "CPU LoRA step on SmolLM2-135M).",
    )
    target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "Module names to adapt.",
    )
    dora: bool = _f(False, "Weight-decomposed LoRA (DoRA).")


@dataclass
class TrainConfig:
    method: Literal["full", "lora", "qlora"] = _f("full", "Full fine-tuning, LoRA, or QLoRA (GPU only).")
    max_steps: int = _f(200, "Optimizer steps; the budget of a run.")
    batch_size: int = _f(8, "Examples (or packed rows) per micro-batch per process.")
    grad_accum: int = _f(1, "Micro-batches per optimizer step.")
    lr: float = _f(1e-3, "Peak learning rate.")
    schedule: Literal["cosine", "linear", "constant"] = _f("cosine", "Decay after warmup.")
    warmup_steps: int = _f(10, "Linear warmup steps.")
    min_lr_ratio: float = _f(0.1, "Final learning rate as a fraction of lr (cosine and linear).")
    weight_decay: float = _f(0.0, "AdamW weight decay (not applied to norms and biases).")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables.")
    dropout: float = _f(0.0, "Attention dropout set on the model config when it has one.")
    neftune_alpha: float = _f(0.0, "NEFTune embedding noise alpha (0 = off).")
    replay_ratio: float = _f(0.0, "Fraction of each batch drawn from general text to limit forgetting.")
    bf16: Literal["auto", "on", "off"] = _f("auto", "bf16 autocast; auto turns it on where it is faster.")
    compile: bool = _f(
        False,
        "torch.compile the decoder (on CPU inductor needs a C++ compiler). On SmolLM2-135M on CPU: steps 1.2-1.3x"
        " faster, 25-40 s to compile on a fresh machine, so it pays on runs of a few hundred steps.",
    )
    grad_ckpt: bool = _f(False, "Activation (gradient) checkpointing.")
    eval_every: int = _f(50, "Validation loss every N steps (0 = only at the end).")
    eval_max_rows: int = _f(
        64, "Validation loss on at most this many rows: the same seeded subset every time (0 = all)."
    )
    early_stopping_patience: int = _f(0, "Stop after N evaluations without improvement (0 = off).")
    save_every: int = _f(0, "Checkpoint every N steps (0 = only the final model).")
    keep_last: int = _f(2, "Checkpoints to keep (the best one is kept as well).")
    final: Literal["best", "last"] = _f(
        "best",
        "What final/ holds: the weights with the lowest validation loss (a checkpoint is written at each "
        "improvement) or those of the last step.",
    )
    log_every: int = _f(10, "Log a metrics.jsonl line every N steps.")
    seed: int = _f(0, "Seed for initialization, dropout and data order.")
    report_to: list[str] = _f([], "Extra loggers: tensorboard, mlflow.")


@dataclass
class EvalConfig:
    batch_size: int = _f(32, "Generation batch size (backs off on out-of-memory).")
    max_new_tokens: int = _f(64, "Generation budget per item.")
    temperature: float = _f(0.0, "0 = greedy decoding (the default for evaluation).")
    n_bootstrap: int = _f(1000, "Bootstrap resamples for confidence intervals.")


@dataclass
class SynthConfig:
    seed: int = _f(0, "Generator seed: the same seed gives the same bytes.")
    n_per_task: int = _f(1000, "Examples per task.")


@dataclass
class CompareConfig:
    target_task: str = _f(
        "fin_sentiment", "The synthetic task the fine-tuned model is trained on (unless target_file is set)."
    )
    instruction_tasks: list[str] = _f([], "Tasks in the instruction mixture (the target included).")
    heldout_tasks: list[str] = _f([], "Tasks neither model trains on (the unseen-task slice).")
    budget: Literal["steps", "tokens"] = _f(
        "steps", "What the two approaches share: optimizer steps or target tokens."
    )
    n_eval: int = _f(200, "Items per evaluation slice.")
    seeds: list[int] = _f(
        [0], "Training seeds: each method trains once per seed (data order and initialization)."
    )
    target_file: str | None = _f(
        None,
        "A data file (any supported format, or a benchmark layout) as the target instead of target_task; "
        "split into training and evaluation items.",
    )
    target_format: str | None = _f(
        None, "Record shape or benchmark layout of target_file; detected when omitted."
    )
    target_eval_fraction: float = _f(
        0.2, "Share of target_file held out for evaluation (at most n_eval items)."
    )
    target_weight: float = _f(1.0, "Weight of the target in the instruction mixture.")
    instruction_files: list[SourceConfig] = _f(
        [], "Extra user data files in the instruction mixture, each with its weight."
    )
    n_general: int = _f(60, "Items of the general instruction-following slice and the forgetting-KL slice.")
    n_forgetting_texts: int = _f(120, "Human-written paragraphs scored for forgetting (bits per byte).")
    general_max_new_tokens: int = _f(96, "Generation budget on the general instruction-following slice.")
    keep_checkpoints: bool = _f(
        False, "Keep a finished run's checkpoints/ (only final/ is graded; full: GBs)."
    )


@dataclass
class Config:
    run_name: str = _f("run", "Name of the run directory under output_dir.")
    output_dir: str = _f("runs", "Where run directories go.")
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name

    def __post_init__(self) -> None:
        t = self.train
        if t.max_steps < 1:
            raise InputError("must be >= 1", field="train.max_steps")
        if t.batch_size < 1:
            raise InputError("must be >= 1", field="train.batch_size")
        if t.grad_accum < 1:
            raise InputError("must be >= 1", field="train.grad_accum")
        if not 0.0 <= self.data.val_ratio < 1.0:
            raise InputError("must be in [0, 1)", field="data.val_ratio")
        if not 0.0 <= t.replay_ratio < 1.0:
            raise InputError("must be in [0, 1)", field="train.replay_ratio")
        if self.data.max_length < 8:
            raise InputError("must be >= 8", field="data.max_length")
        c = self.compare
        if not c.seeds or len(set(c.seeds)) != len(c.seeds):
            raise InputError("give one or more distinct seeds", field="compare.seeds")
        if not 0.0 < c.target_eval_fraction < 1.0:
            raise InputError("must be in (0, 1)", field="compare.target_eval_fraction")


# ---------------------------------------------------------------- conversion and validation


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is list:
        (inner,) = get_args(tp) or (Any,)
        return f"list[{_type_name(inner)}]"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, source: str | None) -> Any:
    """Check ``value`` against type ``tp``; return it (ints widen to floats). Raise InputError."""
    origin = get_origin(tp)

    def bad() -> InputError:
        return InputError(
            f"{value!r} is not a valid value (expected {_type_name(tp)})", file=source, field=key
        )

    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, source)
            except InputError:
                continue
        raise bad()
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise bad()
    if origin is list:
        (inner,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise bad()
        return [_coerce(v, inner, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):  # type: ignore[arg-type]
            return value
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, key, source)  # type: ignore[arg-type]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad()
    if tp is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise bad()
        if math.isnan(number):
            raise InputError(f"{value!r} is not a number (expected a finite float)", file=source, field=key)
        if math.isinf(number):
            raise InputError(f"{value!r} is infinite (expected a finite float)", file=source, field=key)
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if isinstance(value, tp):
        return value
    raise bad()


#: keys that are gone -> what to do instead; a config that still sets one loads with a DeprecationWarning for one
#: release (the key is ignored), then the key becomes unknown.
REMOVED_KEYS: dict[str, str] = {
    "eval.suites": "it was never read (no suite ran after training): evaluate the trained model with "
    "`tunelab eval --model RUN_DIR/final --suite NAME`",
}


def _build(cls: type, values: dict[str, Any], prefix: str, source: str | None) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for k, v in values.items():
        full = f"{prefix}.{k}" if prefix else str(k)
        if full in REMOVED_KEYS and k not in names:
            where = f" ({source})" if source else ""
            warnings.warn(
                f"config key {full}{where} is removed and ignored: {REMOVED_KEYS[full]}",
                DeprecationWarning,
                2,
            )
            continue
        if k not in names:
            close = difflib.get_close_matches(str(k), names, n=1, cutoff=0.5)
            hint = f"; did you mean '{(prefix + '.' if prefix else '') + close[0]}'?" if close else ""
            valid = ", ".join(names)
            raise InputError(f"unknown key{hint} (valid keys here: {valid})", file=source, field=full)
        kwargs[k] = _coerce(v, hints[k], full, source)
    return cls(**kwargs)


def config_from_dict(
    values: dict[str, Any], source: str | None = None, key_lines: dict[str, int] | None = None
) -> Config:
    """Build and validate a :class:`Config` from a plain mapping (as read from YAML).

    Args:
        values: the mapping.
        source: the file it came from, named in every error (range checks included).
        key_lines: dotted key -> line in ``source`` (from :func:`tunelab._text.load_yaml`), for ``FILE:LINE``.

    Raises:
        InputError: unknown key, wrong type, or a value out of range.
    """
    if not isinstance(values, dict):
        raise InputError("the top level of a config must be a mapping", file=source)
    try:
        cfg = _build(Config, values, "", source)
    except InputError as e:
        raise _located(e, source, key_lines or {}) from None
    assert isinstance(cfg, Config)
    return cfg


def _located(err: InputError, source: str | None, key_lines: dict[str, int]) -> InputError:
    """The same problems, each naming ``source`` and the line of its key where the file has it."""
    probs = []
    for p in err.problems:
        line = p.line
        key = p.field or ""
        while line is None and key:
            line = key_lines.get(key)
            key = key.rpartition(".")[0] if "." in key else ""  # a missing key: the line of its section
        probs.append(Problem(p.message, p.file or source, line, p.field))
    return InputError(problems=probs, total=err.total)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Every field, defaults included, as plain Python values."""
    return dataclasses.asdict(cfg)


def shipped_presets() -> list[str]:
    """Names of the shipped config presets (``tunelab train NAME``)."""
    return sorted(p.stem for p in (Path(__file__).parent / "configs").glob("*.yaml"))


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config file (or none: all defaults), apply overrides, validate.

    Raises:
        InputError: unreadable, binary or UTF-16 file, bad or oversized YAML, unknown key, wrong type or
            value out of range (names file, line and key); an unknown preset lists the shipped ones.
    """
    values: dict[str, Any] = {}
    source = None
    lines: dict[str, int] = {}
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            shipped = Path(__file__).parent / "configs" / (p.name if p.suffix else p.name + ".yaml")
            if shipped.is_file():
                p = shipped
            else:
                raise InputError(
                    f"no such config file or shipped preset (presets: {', '.join(shipped_presets())})",
                    file=source,
                )
        loaded, lines = load_yaml(read_text_file(p, "config"), source)
        values = loaded or {}
        if not isinstance(values, dict):
            raise InputError("the top level of a config must be a mapping", file=source)
    if overrides:
        if source is not None:
            config_from_dict(values, source, lines)  # problems in the file are named with the file
        values = apply_overrides(values, overrides)
        source, lines = "command line", {}
    return config_from_dict(values, source, lines)


def dump_config(cfg: Config, path: str | Path) -> None:
    """Write the fully resolved config as YAML."""
    import yaml

    write_text_atomic(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
