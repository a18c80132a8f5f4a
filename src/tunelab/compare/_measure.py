"""Grading one model on every slice: per item strict, lenient and format scores (generated slices), IFEval
strict/loose (general instruction following), per-text NLL (bits per byte) and per-item KL from the base.

Results go to ``RUN_DIR/eval/<model>/<slice>.jsonl``, one line per item; a slice already written is not
measured again, so an interrupted comparison resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunelab.compare._slices import read_set
from tunelab.config import Config
from tunelab.evaluate import next_token_kl, perplexity, three_scores
from tunelab.generation import Decoding, render_prompt
from tunelab.generation import generate as generate_texts
from tunelab.scoring import ExtractSpec, ifeval_score

__all__ = ["end_of_turn", "measure_model", "read_rows"]


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The per-item rows of one model on one slice."""
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)  # atomic: a half-written slice is never read back as done


def _prompts(items: list[Any], form: str, tok: Any) -> list[str]:

    return [render_prompt(ex.prompt_messages, tok, "plain" if form == "plain" else "chat") for ex in items]


def _generate(model: Any, tok: Any, prompts: list[str], plain: bool, max_new: int, cfg: Config) -> list[Any]:

    dec = Decoding(max_new_tokens=max_new, temperature=cfg.eval.temperature)
    return generate_texts(model, tok, prompts, dec, cfg.eval.batch_size, add_special_tokens=plain)


def end_of_turn(output: str, prompt: str) -> str:
    """Cut a plain-format output where the model starts a new turn of the prompt's own form.

    A plain prompt has no end-of-turn token of its own: a model that goes on writing ``Headline: ...`` after its
    answer has started the next item. The output ends before the first line that begins with one of the
    prompt's line labels (``Headline:``, ``Sentiment:``); chat outputs already end at EOS.
    """
    labels = {line.split(":", 1)[0].strip() + ":" for line in prompt.splitlines() if ":" in line[:40]}
    labels.discard(":")
    cut = len(output)
    for lab in labels:
        i = output.find("\n" + lab)
        if i >= 0:
            cut = min(cut, i)
    return output[:cut]


def _generated_slice(model: Any, tok: Any, spec: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:

    items = read_set(spec["file"])
    prompts = _prompts(items, spec["prompt"], tok)
    gens = _generate(model, tok, prompts, spec["prompt"] == "plain", cfg.eval.max_new_tokens, cfg)
    rows = []
    for ex, p, g in zip(items, prompts, gens):
        text = end_of_turn(g.text, p) if spec["prompt"] == "plain" else g.text
        s = three_scores(text, ex, ExtractSpec())
        rows.append(
            {"id": ex.id, "task": ex.meta.get("task"), "prompt": p, "prediction": text, "finish_reason": g.finish_reason, "cut_at_new_turn": len(text) < len(g.text), **s}
        )  # fmt: skip
    return rows


def _ifeval_slice(model: Any, tok: Any, spec: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:

    items = read_set(spec["file"])
    prompts = _prompts(items, "chat", tok)
    gens = _generate(model, tok, prompts, False, cfg.compare.general_max_new_tokens, cfg)
    rows = []
    for ex, p, g in zip(items, prompts, gens):
        ids, kw = ex.meta["instruction_id_list"], ex.meta["kwargs"]
        res = ifeval_score(ids, kw, g.text)
        rows.append(
            {"id": ex.id, "task": "instruction_following", "prompt": p, "prediction": g.text,
             "gold": " + ".join(ids), "finish_reason": g.finish_reason, "instruction_id_list": ids,
             "inst_strict": list(res.strict), "inst_loose": list(res.loose),
             "strict": float(res.prompt_strict), "lenient": float(res.prompt_loose),
             "format": sum(res.strict) / len(res.strict)}
        )  # fmt: skip
    return rows


def _bpb_slice(model: Any, tok: Any, spec: dict[str, Any]) -> list[dict[str, Any]]:

    items = read_set(spec["file"])
    res = perplexity(model, tok, [ex.messages[0]["content"] for ex in items])
    return [
        {
            "id": ex.id,
            "source": ex.meta.get("source"),
            "nll": t.nll,
            "n_bytes": t.n_bytes,
            "n_tokens": t.n_tokens,
        }
        for ex, t in zip(items, res.per_text)
    ]


def _kl_slice(
    model: Any, base: Any, tok: Any, spec: dict[str, Any], base_if_rows: list[dict[str, Any]], cfg: Config
) -> list[dict[str, Any]]:

    items = read_set(spec["file"])
    prompts = _prompts(items, "chat", tok)
    conts = {r["id"]: r["prediction"] for r in base_if_rows}
    res = next_token_kl(base, model, tok, prompts, [conts[ex.id] for ex in items], batch_size=8)
    return [{"id": ex.id, "kl_sum": k, "positions": n} for ex, k, n in zip(items, res.kl_sums, res.positions)]


def measure_model(
    label: str,
    load: Callable[[], Any],
    base: Callable[[], Any],
    slices: dict[str, dict[str, Any]],
    cfg: Config,
    say: Callable[[str], None],
) -> bool:
    """Grade one model on every slice not yet written under ``RUN_DIR/eval/<label>/``.

    Args:
        label: ``base`` or ``<method>/seed-<s>``.
        load: returns ``(model, tokenizer)`` (called only when something is left to measure).
        base: returns the base ``(model, tokenizer)`` (the KL reference).
        slices: the slice definitions with their written item files.
        cfg: the comparison config.
        say: progress printer.

    Returns:
        True when something was measured, False when every slice was already there.
    """
    out = cfg.run_dir / "eval" / label
    todo = [k for k in slices if not (out / f"{k}.jsonl").is_file()]
    if not todo:
        return False
    say(f"[eval] {label}: {', '.join(todo)}")
    model, tok = load()
    for key in todo:
        spec = slices[key]
        kind = spec["kind"]
        if kind == "generate":
            rows = _generated_slice(model, tok, spec, cfg)
        elif kind == "ifeval":
            rows = _ifeval_slice(model, tok, spec, cfg)
        elif kind == "bits_per_byte":
            rows = _bpb_slice(model, tok, spec)
        else:
            if_key = next(k for k, s in slices.items() if s["kind"] == "ifeval")
            base_rows = read_rows(cfg.run_dir / "eval" / "base" / f"{if_key}.jsonl")
            rows = _kl_slice(model, base()[0], tok, spec, base_rows, cfg)
        _write(out / f"{key}.jsonl", rows)
    return True
