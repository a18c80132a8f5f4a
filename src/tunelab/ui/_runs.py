"""The one place that reads what a comparison leaves in its run directory (the adapter the UI is built on).

What ``tunelab compare`` writes, and where this module reads it:

- ``config.yaml``: the resolved config (base model, target task, steps);
- ``instruction/metrics.jsonl``, ``finetune/metrics.jsonl``: one JSON object per logged step (``step``,
  ``loss``, ``tokens``, ``tokens_per_s``, ``val_loss`` on evaluation steps), appended while training;
- ``eval/<model>/eval/<slice>/predictions.jsonl``: per item ``id``, ``task``, ``prompt``, ``prediction``,
  ``gold`` and ``scores`` (the strict scorer results); a lenient score, where a run records one, is read from
  ``scores_lenient`` or from ``scores`` keys ending in ``_lenient``;
- ``compare.json``: slices, per-model values with CIs, pairs, verdict, and per tuned model (``approaches``;
  ``methods`` in older files) its curve and prompt rendering (written last);
- ``report.html`` / ``report.md``;
- ``ui/job.json`` and ``ui/compare.log``: written by the UI when it launched the run.

When the comparison's outputs change, this module changes; the routes and the page do not.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from tunelab.errors import InputError

__all__ = [
    "MODELS",
    "RUN_NAME",
    "run_path",
    "list_runs",
    "run_state",
    "run_progress",
    "run_results",
    "accuracy_items",
    "flipped",
    "read_job",
    "approach",
]

MODELS = ("base", "instruction", "finetune")
TRAINED = ("instruction", "finetune")  # the order compare trains them in
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# the item's own scorer, in the order compare reads them (pooled slices mix label, numeric and EM tasks)
SCORER_KEYS = ("label_accuracy", "medcalc_accuracy", "execution_accuracy", "numeric_accuracy", "exact_match")
RECENT_S = 120.0  # a run not launched here counts as still working when a file changed this recently


def run_path(runs_dir: Path, name: str, field: str = "run") -> Path:
    """The run directory ``runs_dir/name``, refusing names that could leave ``runs_dir``.

    Raises:
        InputError: the name is not a plain run name (letters, digits, ``.``, ``_``, ``-``; no leading dot).
    """
    if not RUN_NAME.match(name) or ".." in name:
        raise InputError(
            f"{name!r} is not a run name (letters, digits, '.', '_', '-'; starts with a letter or digit)",
            field=field,
        )
    root = runs_dir.resolve()
    p = (root / name).resolve()
    if p.parent != root:
        raise InputError(f"{name!r} resolves outside the runs folder", field=field)
    return p


def _read_json(p: Path) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _read_jsonl(p: Path) -> list[dict[str, Any]]:
    """Lines of a JSONL file that may be growing: a half-written last line is skipped."""
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _config(d: Path) -> dict[str, Any]:
    import yaml

    for p in (d / "config.yaml", d / "ui" / "launch.yaml"):
        if p.is_file():
            try:
                v = yaml.safe_load(p.read_text(encoding="utf-8"))
            except yaml.YAMLError:
                continue
            if isinstance(v, dict):
                return v
    return {}


def approach(data: dict[str, Any], name: str) -> dict[str, Any]:
    """One tuned model's block of ``compare.json`` (curve, render, cost): under ``approaches``, or under
    ``methods`` in files written before that key was renamed."""
    block = data.get("approaches", data.get("methods")) or {}
    one = dict(block.get(name) or {})
    seeds = one.get("seeds")
    if isinstance(seeds, dict) and seeds:  # one run per seed: the first seed's run stands for the approach
        return {**dict(next(iter(seeds.values()))), **{k: v for k, v in one.items() if k != "seeds"}}
    return one


def train_dir(d: Path, name: str) -> Path:
    """The folder of an approach's training run: ``<name>/seed-<s>/`` (the one logged to most recently)
    when the comparison trains one run per seed, else ``<name>/``."""
    seeded = [p for p in (d / name).glob("seed-*") if (p / "metrics.jsonl").is_file()]
    if seeded:
        return max(seeded, key=lambda p: (p / "metrics.jsonl").stat().st_mtime)
    return d / name


def first_seed_dir(d: Path, name: str) -> Path:
    """The first seed's run of an approach (``<name>/seed-<lowest>/``), else ``<name>/``."""
    seeded = sorted((d / name).glob("seed-*"), key=lambda p: int(p.name.split("-", 1)[1]))
    return seeded[0] if seeded else d / name


def read_job(d: Path) -> dict[str, Any] | None:
    """``ui/job.json`` of a run launched by the UI (state, pid, times, exit code), or None."""
    j = _read_json(d / "ui" / "job.json")
    return j if isinstance(j, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_lines(d: Path) -> list[str]:
    p = d / "ui" / "compare.log"
    return p.read_text(encoding="utf-8", errors="replace").splitlines() if p.is_file() else []


def _stage_from_log(lines: list[str]) -> tuple[str, str | None]:
    """(stage, model) from the progress lines compare prints: ``[instruction] training ...``,
    ``[eval] base: ...``, and ``report:`` at the end."""
    stage, model = "starting", None
    for line in lines:
        m = re.search(r"\[(instruction|finetune)\] (training|already trained)", line) or re.search(
            r"\[train\] (instruction|finetune) ", line
        )
        if m:
            stage, model = "training", m.group(1)
        m = re.search(r"\[eval\] (base|instruction|finetune)(?:/seed-\d+)?:", line)
        if m:
            stage, model = "evaluating", m.group(1)
        if line.startswith("report:"):
            stage, model = "reporting", None
    return stage, model


def _error_from_log(lines: list[str]) -> str | None:
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:") :].strip()
    tail = [x for x in lines if x.strip()]
    return tail[-1] if tail else None


def _newest_mtime(d: Path) -> float:
    ps = [train_dir(d, m) / "metrics.jsonl" for m in TRAINED] + [d / "eval", d / "compare.json"]
    return max((p.stat().st_mtime for p in ps if p.exists()), default=0.0)


def run_state(d: Path) -> dict[str, Any]:
    """State (``starting``, ``training``, ``evaluating``, ``reporting``, ``done``, ``failed``, ``cancelled``,
    ``incomplete``), the current model, the error of a failed run, and whether the UI launched it."""
    job = read_job(d)
    lines = _log_lines(d)
    if job is not None:
        st = job.get("state")
        if st == "running" and not _pid_alive(int(job.get("pid", 0))):
            st = "done" if (d / "compare.json").is_file() and job.get("returncode") == 0 else "failed"
        if st == "running":
            stage, model = _stage_from_log(lines)
            return {"state": stage, "model": model, "error": None, "launched_here": True}
        err = _error_from_log(lines) if st == "failed" else None
        return {"state": st, "model": None, "error": err, "launched_here": True}
    if (d / "compare.json").is_file():
        return {"state": "done", "model": None, "error": None, "launched_here": False}
    working = time.time() - _newest_mtime(d) < RECENT_S
    if (d / "eval").is_dir():
        return {"state": "evaluating" if working else "incomplete", "model": None, "error": None}
    return {"state": "training" if working else "incomplete", "model": None, "error": None}


def _headline(data: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, s in data.get("slices", {}).items():
        out.append(
            {
                "key": key,
                "name": s.get("name", key),
                "metric": s.get("metric"),
                "percent": s.get("scale", "fraction") == "fraction",
                "n": s.get("n"),
                "models": {m: (s.get("models", {}).get(m) or {}).get("value") for m in MODELS},
            }
        )
    return out


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every run directory under ``runs_dir`` with its state, base model, target task and headline numbers."""
    if not runs_dir.is_dir():
        return []
    out = []
    for d in sorted(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if not d.is_dir() or not RUN_NAME.match(d.name):
            continue
        if not any((d / f).exists() for f in ("config.yaml", "compare.json", "ui/job.json")):
            continue
        cfg = _config(d)
        data = _read_json(d / "compare.json") or {}
        out.append(
            {
                "name": d.name,
                **run_state(d),
                "base_model": data.get("base_model") or (cfg.get("model") or {}).get("name_or_path"),
                "target": (cfg.get("compare") or {}).get("target_task"),
                "created": data.get("created"),
                "headline": _headline(data),
            }
        )
    return out


def _train_progress(d: Path, name: str, max_steps: int) -> dict[str, Any]:
    """Step, curves and seconds per step of one training run, from its growing metrics.jsonl."""
    run = train_dir(d, name)
    recs = _read_jsonl(run / "metrics.jsonl")
    train = [[r["step"], r["loss"]] for r in recs if r.get("loss") is not None]
    val = [[r["step"], r["val_loss"]] for r in recs if r.get("val_loss") is not None]
    # time spent = sum over logged windows of (tokens in the window / tokens per second in it)
    seconds, prev_tokens = 0.0, 0
    for r in recs:
        if r.get("tokens") is not None and r.get("tokens_per_s"):
            seconds += (r["tokens"] - prev_tokens) / r["tokens_per_s"]
            prev_tokens = r["tokens"]
    step = recs[-1]["step"] if recs else 0
    done = (run / "train_summary.json").is_file()
    return {
        "step": step,
        "max_steps": max_steps,
        "done": done,
        "s_per_step": seconds / step if step else None,
        "train": train,
        "val": val,
    }


def run_progress(d: Path) -> dict[str, Any]:
    """The live view: state, stage, per-method step and loss curves, an ETA for the training left, the
    log's tail and a failed run's error."""
    cfg = _config(d)
    max_steps = int((cfg.get("train") or {}).get("max_steps") or 0)
    state = run_state(d)
    runs = {m: _train_progress(d, m, max_steps) for m in TRAINED}
    known = [r["s_per_step"] for r in runs.values() if r["s_per_step"]]
    eta = None
    if state["state"] in ("starting", "training") and known:
        per = known[-1]
        eta = sum(per * (max_steps - r["step"]) for r in runs.values() if not r["done"])
    return {**state, "runs": runs, "eta_s": eta, "log": _log_lines(d)[-12:]}


def run_results(d: Path) -> dict[str, Any]:
    """The finished comparison as the results page shows it (from ``compare.json``).

    Raises:
        InputError: the run has no compare.json yet.
    """
    data = _read_json(d / "compare.json")
    if not isinstance(data, dict) or "slices" not in data:
        raise InputError("this run has no results yet (no compare.json)", file=str(d / "compare.json"))
    items = accuracy_items(d)
    return {
        "title": data.get("title"),
        "base_model": data.get("base_model"),
        "tiny": data.get("tiny"),
        "budget": (data.get("budget") or {}).get("description"),
        "verdict": data.get("verdict", []),
        "headline": _headline(data),
        "pairs": {k: s.get("pairs", {}) for k, s in data["slices"].items()},
        "curves": {m: approach(data, m).get("curve", {}) for m in TRAINED},
        "item_slices": {k: {"name": data["slices"][k].get("name", k), "n": len(v)} for k, v in items.items()},
        "tasks": sorted({it["task"] for v in items.values() for it in v}),
        "lenient": any(it["lenient"] for v in items.values() for it in v),
        "has_report": (d / "report.html").is_file(),
    }


def _lenient(row: dict[str, Any]) -> float | None:
    if row.get("lenient") is not None:  # graded by the comparison: strict, lenient and format per item
        return float(row["lenient"])
    s = row.get("scores_lenient")
    if isinstance(s, dict):
        vals = [s[k] for k in SCORER_KEYS if s.get(k) is not None]
        return float(vals[0]) if vals else None
    for k in SCORER_KEYS:
        if row.get("scores", {}).get(k + "_lenient") is not None:
            return float(row["scores"][k + "_lenient"])
    return None


def _strict(row: dict[str, Any]) -> float:
    if row.get("strict") is not None:
        return float(row["strict"])
    s = row.get("scores", {})
    for k in SCORER_KEYS:
        if s.get(k) is not None:
            return float(s[k])
    return 0.0


def _model_rows(d: Path, model: str, key: str) -> list[dict[str, Any]]:
    """One model's graded rows of one slice: ``eval/base/<slice>.jsonl`` and the first seed's
    ``eval/<approach>/seed-<s>/<slice>.jsonl``; or the older ``eval/<model>/eval/<slice>/predictions.jsonl``."""
    seeded = sorted((d / "eval" / model).glob("seed-*"), key=lambda p: int(p.name.split("-", 1)[1]))
    for p in [*(x / f"{key}.jsonl" for x in seeded[:1]), d / "eval" / model / f"{key}.jsonl"]:
        if p.is_file():
            return _read_jsonl(p)
    return _read_jsonl(d / "eval" / model / "eval" / key / "predictions.jsonl")


def accuracy_items(d: Path) -> dict[str, list[dict[str, Any]]]:
    """Per generation slice, every item with its prompt, gold answer, each model's output, and each model's
    strict (and, where recorded, lenient) correctness. Slices without outputs (perplexity) are left out."""
    data = _read_json(d / "compare.json") or {}
    out: dict[str, list[dict[str, Any]]] = {}
    for key in data.get("slices", {}):
        rows = {m: _model_rows(d, m, key) for m in MODELS}
        if not rows["base"] or "prediction" not in rows["base"][0]:
            continue
        by_id = {m: {r["id"]: r for r in rows[m]} for m in MODELS}
        items = []
        for r0 in rows["base"]:
            i = r0["id"]
            if not all(i in by_id[m] for m in MODELS):
                continue
            rs = {m: by_id[m][i] for m in MODELS}
            items.append(
                {
                    "id": i,
                    "slice": key,
                    "task": r0.get("task") or "?",
                    "prompt": r0.get("prompt", ""),
                    "gold": r0.get("gold"),
                    "outputs": {m: rs[m].get("prediction", "") for m in MODELS},
                    "strict": {m: _strict(rs[m]) for m in MODELS},
                    "lenient": {m: _lenient(rs[m]) for m in MODELS} if _lenient(r0) is not None else None,
                }
            )
        out[key] = items
    return out


def flipped(
    d: Path, a: str, b: str, slice_key: str | None = None, task: str | None = None, mode: str = "strict"
) -> dict[str, Any]:
    """Items one of two models got right and the other wrong, with prompt, gold and all outputs.

    Raises:
        InputError: unknown model, mode, slice or task; lenient asked of a run that records no lenient scores.
    """
    if a not in MODELS or b not in MODELS or a == b:
        raise InputError(f"pick two different models of {', '.join(MODELS)}", field="a,b")
    if mode not in ("strict", "lenient"):
        raise InputError("mode is strict or lenient", field="mode")
    items = accuracy_items(d)
    if slice_key and slice_key not in items:
        raise InputError(f"unknown slice {slice_key!r} (one of {', '.join(items)})", field="slice")
    pool = [it for k, v in items.items() if not slice_key or k == slice_key for it in v]
    if task:
        pool = [it for it in pool if it["task"] == task]
    if mode == "lenient" and any(it["lenient"] is None for it in pool):
        raise InputError("this run records strict scores only", field="mode")
    a_only, b_only = [], []
    for it in pool:
        sc = it[mode]
        if sc[a] > sc[b]:
            a_only.append(it)
        elif sc[b] > sc[a]:
            b_only.append(it)
    return {"a": a, "b": b, "mode": mode, "n": len(pool), "a_only": a_only, "b_only": b_only}
