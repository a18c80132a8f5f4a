"""Run a suite against a model and write ``OUT/eval/SUITE/predictions.jsonl`` and ``scores.json``.

``scores.json`` records, beside each number, how it was computed: the metric rule or signature, the
bootstrap CI settings, the resolved suite, the model path, a hash of the chat template, the decoding
settings and the backend. ``predictions.jsonl`` holds one line per item (id, prompt, raw output,
extracted answer, gold, per-item scores), so any score can be recomputed from it.

Both files are written atomically at the end. While a ``generate`` suite runs, each finished chunk of
generations is appended to ``predictions.partial-<run>.jsonl`` (a request cache keyed by the run: model,
adapter, weights, template, suite); a rerun after a kill takes the finished chunks from it and generates
only the rest, so every item appears once. The side file is removed when the run completes.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunelab._atomic import write_atomic, write_text_atomic
from tunelab._version import __version__
from tunelab.data import Example, plain_prompt
from tunelab.errors import InputError
from tunelab.evaluate._items import load_items, load_texts
from tunelab.evaluate._loglik import score_choices
from tunelab.evaluate._ppl import perplexity, pooled
from tunelab.evaluate._scoring import RULES, extract_item, gold_of, resolve_metrics, score_items
from tunelab.evaluate._suite import Suite, load_suite
from tunelab.generation import Backend, Prompt, TransformersBackend, chat_template_hash, render_prompt
from tunelab.models import describe_source, is_tiny
from tunelab.scoring import MetricScore, bootstrap_ci
from tunelab.synth import CachedBackend, RequestCache

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["EvalResult", "evaluate_model", "scores_table"]


@dataclass
class EvalResult:
    """What one suite run produced.

    Attributes:
        suite: the suite name.
        kind: ``generate``, ``choice`` or ``perplexity``.
        scores: metric name -> :class:`MetricScore`.
        n_items: items (or texts) evaluated.
        predictions: the rows written to ``predictions.jsonl``.
        record: the provenance written to ``scores.json`` (model, template hash, decoding, backend, suite).
        out_dir: the folder written (``OUT/eval/SUITE``), or ``None`` when nothing was written.
    """

    suite: str
    kind: str
    scores: dict[str, MetricScore]
    n_items: int
    predictions: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    out_dir: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``scores.json`` content."""
        return {
            "suite": self.suite,
            "kind": self.kind,
            "n_items": self.n_items,
            "metrics": {k: v.to_dict() for k, v in self.scores.items()},
            **self.record,
        }


def _run_key(
    model_path: str | None, adapter: str | None, template: str | None, suite: Suite, limit: int | None
) -> str:
    """A short hash of what makes two runs' generations interchangeable (weights by size and mtime)."""
    weights: list[list[Any]] = []
    for folder in (model_path, adapter):
        if folder and Path(folder).is_dir():
            for w in sorted(Path(folder).glob("*.safetensors")):
                st = w.stat()
                weights.append([w.name, st.st_size, st.st_mtime_ns])
    body: dict[str, Any] = {"model": model_path, "adapter": adapter, "weights": weights, "template": template}
    body |= {"suite": suite.to_dict(), "limit": limit}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _prompt_of(ex: Example, suite: Suite) -> Prompt:
    msgs = ex.prompt_messages
    if suite.prompt.format == "plain":
        return plain_prompt(msgs)  # the training renderer: the same text a model trained plain saw
    if suite.prompt.system and not any(m["role"] == "system" for m in msgs):
        msgs = [{"role": "system", "content": suite.prompt.system}, *msgs]
    return msgs


def _run_generate(
    suite: Suite, items: list[Example], backend: Backend, tokenizer: PreTrainedTokenizerBase | None
) -> tuple[dict[str, MetricScore], list[dict[str, Any]], dict[str, Any]]:
    prompts = [_prompt_of(ex, suite) for ex in items]
    gens = backend.generate(prompts, suite.decoding)
    extracted = [extract_item(g.text, ex, suite.extract) for g, ex in zip(gens, items)]
    answers = [a for a, _ in extracted]
    metrics = resolve_metrics(suite.metrics, items)
    auto = set(resolve_metrics(["auto"], items)) if "auto" in suite.metrics else set()
    auto -= {m for m in suite.metrics if m != "auto"}
    scores, per_item = score_items(
        metrics, items, answers, suite.n_bootstrap, suite.bootstrap_seed, auto, outputs=[g.text for g in gens]
    )
    rows = []
    for ex, p, g, (ans, rule), s in zip(items, prompts, gens, extracted, per_item):
        shown = p if isinstance(p, str) or tokenizer is None else render_prompt(p, tokenizer, "chat")
        rows.append(
            {
                "id": ex.id,
                "prompt": shown,
                "prediction": g.text,
                "answer": ans,
                "gold": gold_of(ex),
                "scores": s,
                "extraction": rule,
                "finish_reason": g.finish_reason,
                "n_prompt_tokens": g.n_prompt_tokens,
                "task": ex.meta.get("task"),
            }
        )
    return scores, rows, {"extraction": suite.extract.__dict__, "decoding": suite.decoding.to_dict()}


def _choice_options(ex: Example, suite: Suite) -> list[str]:
    opts = suite.choices.options or [str(x) for x in (ex.meta.get("labels") or [])]
    if len(opts) < 2:
        raise InputError(
            f"item {ex.id}: no options (set choices.options or meta.labels)",
            file=suite.source,
            field="choices.options",
        )
    return [suite.choices.prefix + o for o in opts]


def _run_choice(
    suite: Suite, items: list[Example], model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> tuple[dict[str, MetricScore], list[dict[str, Any]], dict[str, Any]]:
    plain = suite.prompt.format == "plain"
    contexts = [
        p if isinstance(p, str) else render_prompt(p, tokenizer, "chat")
        for p in (_prompt_of(ex, suite) for ex in items)
    ]
    options = [_choice_options(ex, suite) for ex in items]
    res = score_choices(model, tokenizer, contexts, options, add_special_tokens=plain)
    rows, acc, acc_norm = [], [], []
    for ex, ctx, opts, r in zip(items, contexts, options, res):
        gold = str(gold_of(ex)).strip().lower()
        names = [o[len(suite.choices.prefix) :].strip().lower() for o in opts]
        a, an = float(names[r.pred] == gold), float(names[r.pred_norm] == gold)
        acc.append(a)
        acc_norm.append(an)
        rows.append(
            {
                "id": ex.id,
                "prompt": ctx,
                "prediction": opts[r.pred],
                "answer": names[r.pred],
                "gold": gold_of(ex),
                "scores": {"accuracy": a, "accuracy_norm": an},
                "option_logprobs": dict(zip(opts, r.logprobs)),
            }
        )
    ci_rule = (
        f"percentile bootstrap over items, {suite.n_bootstrap} resamples, seed {suite.bootstrap_seed}, 95%"
    )
    rules = {
        "accuracy": "log-likelihood choice: the option with the highest summed log-prob (lm-eval acc)",
        "accuracy_norm": RULES["accuracy_norm"],
    }
    scores = {}
    for name, vals in (("accuracy", acc), ("accuracy_norm", acc_norm)):
        if name in suite.metrics:
            ci = bootstrap_ci(vals, n=suite.n_bootstrap, seed=suite.bootstrap_seed)
            scores[name] = MetricScore(ci.estimate, ci.low, ci.high, len(vals), rules[name], ci_rule)
    return scores, rows, {"choices": suite.choices.__dict__}


def _run_perplexity(
    suite: Suite, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, limit: int | None
) -> tuple[dict[str, MetricScore], list[dict[str, Any]], dict[str, Any], int]:
    ids, texts = load_texts(suite, limit)
    p = suite.perplexity
    res = perplexity(model, tokenizer, texts, p.window, p.stride, p.batch_size)
    per = res.per_text
    rows = [
        {
            "id": i,
            "text": t,
            "nll": s.nll,
            "n_tokens": s.n_tokens,
            "n_bytes": s.n_bytes,
            "scores": {
                "perplexity": math.exp(s.nll / s.n_tokens),
                "bits_per_byte": s.nll / s.n_bytes / math.log(2),
            },
        }
        for i, t, s in zip(ids, texts, per)
    ]
    how = (
        f"pooled over the set: exp(sum NLL / sum predicted tokens); every text token predicted once (prefix "
        f"token = BOS, else EOS); windows of {res.window} tokens, stride {res.stride}"
    )
    rules = {"perplexity": how, "bits_per_byte": "sum NLL / sum UTF-8 bytes / ln 2"}
    ci_rule = (
        f"percentile bootstrap over texts (pooled statistic), {suite.n_bootstrap} resamples, seed "
        f"{suite.bootstrap_seed}, 95%"
    )
    scores = {}
    for k, name in enumerate(("perplexity", "bits_per_byte")):
        if name in suite.metrics:

            def stat(xs: Any, k: int = k) -> float:
                return pooled(xs)[k]

            ci = bootstrap_ci(per, n=suite.n_bootstrap, seed=suite.bootstrap_seed, statistic=stat)
            value = res.perplexity if k == 0 else res.bits_per_byte
            scores[name] = MetricScore(
                value, ci.low, ci.high, res.n_tokens if k == 0 else res.n_bytes, rules[name], ci_rule
            )
    extra = {"perplexity": res.to_dict()}
    return scores, rows, extra, len(texts)


def evaluate_model(
    model: PreTrainedModel | None,
    tokenizer: PreTrainedTokenizerBase | None,
    suite: Suite | str,
    out_dir: str | Path | None,
    *,
    model_path: str | None = None,
    adapter: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    backend: Backend | None = None,
) -> EvalResult:
    """Evaluate a model on a suite and write the results.

    Args:
        model: a causal LM (may be ``None`` for a ``generate`` suite run through ``backend``).
        tokenizer: its tokenizer (renders chat prompts; records the chat template hash).
        suite: the suite, or a shipped suite name / YAML path (see :func:`tunelab.evaluate.load_suite`).
        out_dir: the run folder; files go to ``out_dir/eval/SUITE/``. ``None`` writes nothing.
        model_path: what to record as the model (defaults to ``model.name_or_path``).
        adapter: the adapter folder, recorded when one was applied.
        limit: evaluate only the first N items.
        batch_size: generation batch size; ``None`` = automatic (halves on out-of-memory).
        backend: generate through this backend instead of the local model (``generate`` suites only).

    Returns:
        An :class:`EvalResult`.

    Raises:
        InputError: bad suite data, or no model for a suite that needs one.
        TunelabError: generation failed.
    """
    t0 = time.perf_counter()
    if isinstance(suite, str):
        suite = load_suite(suite)
    if limit is not None and limit < 1:
        raise InputError("must be at least 1", field="limit")
    needs_local = suite.kind != "generate" or backend is None
    if needs_local and (model is None or tokenizer is None):
        raise InputError(f"a {suite.kind} suite needs a local model and tokenizer", field="model")
    if backend is None:
        assert model is not None and tokenizer is not None
        backend = TransformersBackend(model, tokenizer, batch_size, model_path)
    path = model_path or (str(getattr(model, "name_or_path", "")) if model is not None else None)
    template = chat_template_hash(tokenizer) if tokenizer is not None else None
    d = Path(out_dir) / "eval" / suite.name if out_dir is not None else None
    partial = (
        d / f"predictions.partial-{_run_key(path, adapter, template, suite, limit)}.jsonl" if d else None
    )
    resumed = 0
    if suite.kind == "perplexity":
        assert model is not None and tokenizer is not None
        scores, rows, extra, n = _run_perplexity(suite, model, tokenizer, limit)
    else:
        items = load_items(suite, limit)
        n = len(items)
        if suite.kind == "choice":
            assert model is not None and tokenizer is not None
            scores, rows, extra = _run_choice(suite, items, model, tokenizer)
        elif partial is not None:
            cache = RequestCache(partial)
            resumed = len(cache)  # generations a killed run of these settings finished
            cached = CachedBackend(backend, cache, chunk_size=batch_size or 64)
            scores, rows, extra = _run_generate(suite, items, cached, tokenizer)
        else:
            scores, rows, extra = _run_generate(suite, items, backend, tokenizer)
    record = {
        "model": {
            "path": path,
            "source": describe_source(str(path))["summary"] if path else None,
            "adapter": adapter,
            "chat_template_sha256_16": template,
            "embedded_tiny_model": bool(path) and is_tiny(str(path)),
            "dtype": str(getattr(model, "dtype", "")) if model is not None else None,
        },
        "prompt_format": suite.prompt.format,
        "decoding": suite.decoding.to_dict() if suite.kind == "generate" else None,
        "backend": backend.describe() if suite.kind == "generate" else {"backend": "transformers"},
        **extra,
        "suite_config": suite.to_dict(),
        "tunelab_version": __version__,
        "created_unix_s": time.time(),
        "elapsed_s": time.perf_counter() - t0,
        "resumed_items": resumed,
    }
    result = EvalResult(suite.name, suite.kind, scores, n, rows, record)
    if d is not None:
        _write_outputs(result, d)
    return result


def _write_outputs(result: EvalResult, d: Path) -> None:
    """``predictions.jsonl`` and ``scores.json``, each atomically; then the side files of the run go."""
    write_atomic(d / "predictions.jsonl", result.predictions)
    write_text_atomic(d / "scores.json", json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    for stale in d.glob("predictions.partial-*.jsonl"):
        stale.unlink()
    result.out_dir = d


def scores_table(result: EvalResult) -> Any:
    """A rich table of the scores (value, 95% CI, n, rule)."""
    from rich.table import Table

    t = Table(title=f"{result.suite} ({result.kind}, {result.n_items} items)")
    for col in ("metric", "value", "95% CI", "n", "how"):
        t.add_column(col, overflow="fold")
    for name, s in result.scores.items():
        t.add_row(name, f"{s.value:.4f}", f"[{s.ci_low:.4f}, {s.ci_high:.4f}]", str(s.n), s.rule[:90])
    return t
