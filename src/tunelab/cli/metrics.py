"""``tunelab metrics``: score a prediction file against a reference file, JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tunelab.cli._common import handle_errors, print_json
from tunelab.errors import InputError
from tunelab.scoring import DEFAULT_METRICS, METRIC_NAMES, compute_metrics

__all__ = ["metrics", "read_items"]


def read_items(path: str, allow_multiple: bool) -> list[str | list[str]]:
    """Read one item per line: plain text, or JSONL objects with ``text`` (and, for references, ``references``).

    A file is read as JSONL when its first non-empty line starts with ``{``; then every line must be a JSON
    object. In a plain-text file every line (empty ones included) is one item; a trailing newline does not make
    an extra item.

    Args:
        path: the file.
        allow_multiple: accept a ``references`` list (several references for one item).

    Returns:
        One string, or a list of strings when ``references`` is given, per item.

    Raises:
        InputError: unreadable file, bad JSON, a missing or non-string ``text``, a bad ``references`` list.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", file=path) from None
    lines = raw.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln.rstrip("\r") for ln in lines]
    first = next((ln for ln in lines if ln.strip()), "")
    if not first.lstrip().startswith("{"):
        return list(lines)
    items: list[str | list[str]] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError("empty line in a JSONL file", file=path, line=n)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"bad JSON: {e.msg}", file=path, line=n) from None
        if not isinstance(obj, dict):
            raise InputError("each line must be a JSON object", file=path, line=n)
        if allow_multiple and "references" in obj:
            refs = obj["references"]
            if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
                raise InputError("must be a non-empty list of strings", file=path, line=n, field="references")
            items.append(list(refs))
            continue
        if not isinstance(obj.get("text"), str):
            field_help = (
                "a string (or give 'references', a list of strings)" if allow_multiple else "a string"
            )
            raise InputError(f"missing or not {field_help}", file=path, line=n, field="text")
        items.append(obj["text"])
    return items


@click.command("metrics")
@click.option(
    "--pred",
    "pred_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Predictions: one per line, or JSONL with 'text'.",
)
@click.option(
    "--ref",
    "ref_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="References: one per line, or JSONL with 'text' or 'references' (a list).",
)
@click.option(
    "--metric",
    "metric_names",
    default=None,
    help="Comma-separated metric names (default: bleu,chrf,rouge1,rouge2,rougeL,rougeLsum,exact_match,f1).",
)
@handle_errors
def metrics(pred_path: str, ref_path: str, metric_names: str | None) -> None:
    """Score predictions against references and print JSON: scores, the rule behind each, item count."""
    names = (
        [n.strip() for n in metric_names.split(",") if n.strip()] if metric_names else list(DEFAULT_METRICS)
    )
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown or not names:
        raise InputError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(METRIC_NAMES)}",
            field="--metric",
        )
    preds = read_items(pred_path, allow_multiple=False)
    refs = read_items(ref_path, allow_multiple=True)
    if len(preds) != len(refs):
        shorter, line = (pred_path, len(preds) + 1) if len(preds) < len(refs) else (ref_path, len(refs) + 1)
        raise InputError(
            f"missing item: {len(preds)} predictions but {len(refs)} references",
            file=shorter,
            line=line,
        )
    if not preds:
        raise InputError("no items to score", file=pred_path)
    try:
        result = compute_metrics(names, [str(p) for p in preds], refs)
    except ValueError as e:
        raise InputError(str(e), file=ref_path) from None
    result["pred_file"] = pred_path
    result["ref_file"] = ref_path
    print_json(result)
