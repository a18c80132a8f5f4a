"""Evaluation suites: what to evaluate on, how to prompt and decode, how to read and score answers.

A suite is a YAML file (shipped ones live in ``tunelab/configs/suites/``) or a :class:`Suite` built in
Python. Every key is checked before any work starts: an unknown key, a wrong type or a bad value raises
:class:`~tunelab.errors.InputError` naming the file, the line and the key (``decoding.max_new_tokens``).

Three kinds:

- ``generate``: decode an answer, extract it, score it (``metrics``);
- ``choice``: pick among ``choices`` by log-likelihood (``accuracy`` = raw sum, ``accuracy_norm`` = per byte);
- ``perplexity``: loss only, over texts (``perplexity``, ``bits_per_byte``).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._text import load_yaml, read_text_file
from tunelab.errors import InputError
from tunelab.generation import Decoding
from tunelab.scoring import EXTRACT_METHODS, ExtractSpec

__all__ = [
    "DataSpec",
    "PromptSpec",
    "ChoiceSpec",
    "PerplexitySpec",
    "Suite",
    "SUITE_KINDS",
    "SCORER_NAMES",
    "load_suite",
    "suite_from_dict",
    "list_suites",
    "suites_dir",
]

SUITE_KINDS = ("generate", "choice", "perplexity")
#: per-item scorers the runner knows beside the text/classification metrics of :func:`compute_metrics`
SCORER_NAMES = (
    "label_accuracy",
    "medcalc_accuracy",
    "execution_accuracy",
    "program_accuracy",
    "numeric_accuracy",
    "extracted_rate",
    "tatqa_em",
    "tatqa_f1",
)
#: ``auto`` picks by each item's meta["scorer"]
GENERATE_METRICS = (
    "auto",
    "bleu",
    "chrf",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "exact_match",
    "f1",
    "accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_micro",
    *SCORER_NAMES,
)
CHOICE_METRICS = ("accuracy", "accuracy_norm")
PPL_METRICS = ("perplexity", "bits_per_byte")


@dataclass
class DataSpec:
    """One data source of a suite: a file, a generated task, or generated general text.

    Attributes:
        path: a data file (JSONL, JSON, CSV, Parquet, HF dataset folder), or for ``perplexity`` suites also a
            ``.txt`` file (one text per blank-line-separated paragraph). Relative to the suite file.
        format: the record shape (detected when omitted).
        task: a ``tunelab.synth`` task name, generated instead of read.
        templates: template slice of a generated task: ``train``, ``heldout`` or ``finetune``.
        text: ``general`` = held-out general prose (``tunelab.synth.general_text``); ``python_docs`` = human-written
            prose from the Python standard library's docstrings (``tunelab.data.human_texts``).
        n: items to generate (task or text).
        seed: generation seed.
    """

    path: str | None = None
    format: str | None = None
    task: str | None = None
    templates: str = "heldout"
    text: str | None = None
    n: int = 100
    seed: int = 1

    def validate(self, where: str, file: str | None) -> None:
        chosen = [k for k in ("path", "task", "text") if getattr(self, k)]
        if len(chosen) != 1:
            raise InputError("give exactly one of path, task, text", file=file, field=where)
        if self.templates not in ("train", "heldout", "finetune"):
            raise InputError(
                f"unknown template slice {self.templates!r} (train, heldout, finetune)",
                file=file,
                field=f"{where}.templates",
            )
        if self.text is not None and self.text not in ("general", "python_docs"):
            raise InputError(
                f"unknown text {self.text!r} (general, python_docs)", file=file, field=f"{where}.text"
            )
        if self.n < 1:
            raise InputError("must be at least 1", file=file, field=f"{where}.n")


@dataclass
class PromptSpec:
    """How an item's prompt turns become model input.

    Attributes:
        format: ``chat`` = the tokenizer's chat template with the generation prompt; ``plain`` = the fixed
            fine-tuning format (the turns' text as is, no template).
        system: an optional system turn put before each item's turns (``chat`` only).
    """

    format: str = "chat"
    system: str | None = None


@dataclass
class ChoiceSpec:
    """Options of a ``choice`` suite.

    Attributes:
        options: the options for every item; when empty, each item's meta["labels"].
        prefix: put before each option (a fine-tuning target like ``Sentiment: positive`` starts with a space).
    """

    options: list[str] = field(default_factory=list)
    prefix: str = ""


@dataclass
class PerplexitySpec:
    """Windows of a ``perplexity`` suite: ``window`` tokens (default: the model context), ``stride``
    (default: ``window // 2``), ``batch_size`` windows per forward pass."""

    window: int | None = None
    stride: int | None = None
    batch_size: int = 8


@dataclass
class Suite:
    """An evaluation suite (see the module docstring).

    Attributes:
        name: the output folder name (``OUT/eval/NAME``).
        kind: ``generate``, ``choice`` or ``perplexity``.
        data: the sources, concatenated in order.
        description: one line for humans.
        prompt: prompt rendering.
        decoding: decoding settings (greedy by default).
        extract: answer extraction.
        metrics: metric and scorer names; ``auto`` picks by each item's meta["scorer"].
        choices: options of a ``choice`` suite.
        perplexity: windows of a ``perplexity`` suite.
        n_bootstrap: bootstrap resamples for the 95% confidence intervals.
        bootstrap_seed: seed of the resampling.
        source: the file the suite was read from (``None`` when built in Python).
    """

    name: str
    kind: str = "generate"
    data: list[DataSpec] = field(default_factory=list)
    description: str = ""
    prompt: PromptSpec = field(default_factory=PromptSpec)
    decoding: Decoding = field(default_factory=Decoding)
    extract: ExtractSpec = field(default_factory=ExtractSpec)
    metrics: list[str] = field(default_factory=lambda: ["auto"])
    choices: ChoiceSpec = field(default_factory=ChoiceSpec)
    perplexity: PerplexitySpec = field(default_factory=PerplexitySpec)
    n_bootstrap: int = 1000
    bootstrap_seed: int = 0
    source: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Cross-field checks.

        Raises:
            InputError: naming the suite file (when there is one) and the key.
        """
        f = self.source
        if not self.name or any(c in self.name for c in "/\\") or self.name.startswith("."):
            raise InputError(f"bad suite name {self.name!r} (a folder name)", file=f, field="name")
        if self.kind not in SUITE_KINDS:
            raise InputError(f"unknown kind {self.kind!r} ({', '.join(SUITE_KINDS)})", file=f, field="kind")
        if not self.data:
            raise InputError("a suite needs at least one data source", file=f, field="data")
        for i, d in enumerate(self.data):
            d.validate(f"data[{i}]", f)
            if d.text and self.kind != "perplexity":
                raise InputError(
                    "generated text only serves perplexity suites", file=f, field=f"data[{i}].text"
                )
        if self.prompt.format not in ("chat", "plain"):
            raise InputError(
                f"unknown format {self.prompt.format!r} (chat, plain)", file=f, field="prompt.format"
            )
        if self.extract.method not in EXTRACT_METHODS:
            raise InputError(
                f"unknown method {self.extract.method!r} ({', '.join(EXTRACT_METHODS)})",
                file=f,
                field="extract.method",
            )
        if self.extract.method == "regex" and not self.extract.pattern:
            raise InputError("the regex method needs a pattern", file=f, field="extract.pattern")
        if self.extract.method == "regex":
            import re

            try:
                re.compile(str(self.extract.pattern))
            except re.error as e:
                raise InputError(f"bad regular expression: {e}", file=f, field="extract.pattern") from e
        if self.extract.method == "json_field" and not self.extract.field:
            raise InputError("the json_field method needs a field", file=f, field="extract.field")
        allowed = {"generate": GENERATE_METRICS, "choice": CHOICE_METRICS, "perplexity": PPL_METRICS}[
            self.kind
        ]
        if not self.metrics:
            raise InputError("name at least one metric", file=f, field="metrics")
        for m in self.metrics:
            if m not in allowed:
                raise InputError(
                    f"unknown metric {m!r} for a {self.kind} suite ({', '.join(allowed)}){_hint(m, allowed)}",
                    file=f,
                    field="metrics",
                )
        if self.n_bootstrap < 1:
            raise InputError("must be at least 1", file=f, field="n_bootstrap")
        p = self.perplexity
        if p.window is not None and p.window < 2:
            raise InputError("must be at least 2", file=f, field="perplexity.window")
        if p.stride is not None and (p.stride < 1 or (p.window is not None and p.stride >= p.window)):
            raise InputError("need 1 <= stride < window", file=f, field="perplexity.stride")

    def to_dict(self) -> dict[str, Any]:
        """The resolved suite, every default written out (recorded beside the scores)."""
        d = dataclasses.asdict(self)
        d["decoding"] = self.decoding.to_dict()
        return d


def _hint(key: str, valid: Any) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def suites_dir() -> Path:
    """The folder of the shipped suites."""
    return Path(__file__).resolve().parent.parent / "configs" / "suites"


def list_suites() -> list[str]:
    """Names of the shipped suites."""
    return sorted(p.stem for p in suites_dir().glob("*.yaml"))


_SECTIONS: dict[str, type] = {
    "prompt": PromptSpec,
    "decoding": Decoding,
    "extract": ExtractSpec,
    "choices": ChoiceSpec,
    "perplexity": PerplexitySpec,
}


def _key_lines(text: str) -> dict[str, int]:
    """``dotted.key`` -> 1-based line, from the YAML node tree (for error messages)."""
    try:
        return load_yaml(text)[1]
    except InputError:
        return {}


def _build(cls: type, raw: Any, where: str, file: str | None, lines: dict[str, int]) -> Any:
    """Instantiate a dataclass from a mapping, checking keys and simple types."""
    if not isinstance(raw, dict):
        raise InputError(
            f"expected a mapping, got {type(raw).__name__}", file=file, line=lines.get(where), field=where
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for k, v in raw.items():
        key = f"{where}.{k}" if where else str(k)
        if k not in fields or k == "source":
            raise InputError(
                f"unknown key{_hint(str(k), [n for n in fields if n != 'source'])}",
                file=file,
                line=lines.get(key),
                field=key,
            )
        kwargs[k] = _check_type(fields[k], v, key, file, lines)
    try:
        return cls(**kwargs)
    except InputError as e:  # re-raise with the file and line of the offending key
        p = e.problems[0]
        fld = p.field if p.field and p.field.startswith(where) else f"{where}.{p.field}" if where else p.field
        raise InputError(p.message, file=file, line=lines.get(fld or ""), field=fld) from None


def _check_type(f: dataclasses.Field[Any], v: Any, key: str, file: str | None, lines: dict[str, int]) -> Any:
    t = str(f.type)
    line = lines.get(key)
    if v is None:
        if "None" in t:
            return None
        raise InputError("must not be empty", file=file, line=line, field=key)
    if t in ("int", "int | None") and (not isinstance(v, int) or isinstance(v, bool)):
        raise InputError(f"expected an integer, got {v!r}", file=file, line=line, field=key)
    if t == "float" and (not isinstance(v, (int, float)) or isinstance(v, bool)):
        raise InputError(f"expected a number, got {v!r}", file=file, line=line, field=key)
    if t == "float":
        return float(v)
    if t in ("str", "str | None") and not isinstance(v, str):
        raise InputError(f"expected a string, got {v!r}", file=file, line=line, field=key)
    if t.startswith(("list[str]", "tuple[str")):
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise InputError(f"expected a list of strings, got {v!r}", file=file, line=line, field=key)
        return tuple(v) if t.startswith("tuple") else list(v)
    return v


def suite_from_dict(raw: Any, source: str | None = None, text: str | None = None) -> Suite:
    """Build and validate a :class:`Suite` from a mapping (as read from YAML).

    Args:
        raw: the mapping.
        source: the file it came from (named in errors; relative data paths resolve against its folder).
        text: the YAML text, to give line numbers in errors.

    Returns:
        The suite.

    Raises:
        InputError: an unknown key, a wrong type or a bad value, naming file, line and key.
    """
    lines = _key_lines(text) if text else {}
    if not isinstance(raw, dict):
        raise InputError("a suite file must hold a mapping", file=source)
    top = {f.name for f in dataclasses.fields(Suite)} - {"source"}
    kwargs: dict[str, Any] = {"source": source}
    for k, v in raw.items():
        if k not in top:
            raise InputError(
                f"unknown key{_hint(str(k), top)}", file=source, line=lines.get(str(k)), field=str(k)
            )
        if k in _SECTIONS:
            kwargs[k] = _build(_SECTIONS[k], v, k, source, lines)
        elif k == "data":
            items = v if isinstance(v, list) else [v]
            specs = []
            for i, d in enumerate(items):
                spec = _build(DataSpec, d, f"data[{i}]", source, lines)
                if spec.path and source and not Path(spec.path).is_absolute():
                    cand = Path(source).parent / spec.path
                    spec.path = str(cand) if cand.exists() else spec.path
                specs.append(spec)
            kwargs["data"] = specs
        else:
            kwargs[k] = _check_type(
                next(f for f in dataclasses.fields(Suite) if f.name == k), v, k, source, lines
            )
    if "name" not in kwargs:
        kwargs["name"] = Path(source).stem if source else ""
    try:
        return Suite(**kwargs)
    except InputError as e:
        p = e.problems[0]
        base = (p.field or "").split(".")[0]
        line = lines.get(p.field or "") or lines.get(base)
        raise InputError(p.message, file=source, line=line, field=p.field) from None


def load_suite(name_or_path: str) -> Suite:
    """Load a suite by shipped name (``fin_sentiment``) or from a YAML path.

    Raises:
        InputError: no such suite, unreadable YAML, or a bad key (naming the file, line and key).
    """
    p = Path(name_or_path)
    if not p.is_file():
        shipped = suites_dir() / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise InputError(
                f"no such suite file or shipped suite (shipped: {', '.join(list_suites())})",
                file=name_or_path,
                field="suite",
            )
        p = shipped
    text = read_text_file(p, "suite file")
    raw, _ = load_yaml(text, str(p))
    return suite_from_dict(raw, source=str(p), text=text)
