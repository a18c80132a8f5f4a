"""``tunelab data``: validate, describe and convert data files."""

from __future__ import annotations

from typing import Any

import click

import tunelab.benchmarks  # noqa: F401 - registers the benchmark formats (finqa, medcalc ...)
from tunelab.cli._common import handle_errors, print_json
from tunelab.data import convert, describe, load_with_report, validate, write_rejected
from tunelab.errors import InputError
from tunelab.models import load_tokenizer

__all__ = ["data"]


def _format_option(f: Any) -> Any:
    return click.option(
        "--format",
        "format_",
        default=None,
        help="Record shape (detected from the first record when omitted).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def data() -> None:
    """Validate, describe and convert data files (JSONL, JSON, CSV, Parquet, saved HF datasets)."""


@data.command("validate")
@click.argument("path")
@_format_option
@click.option(
    "--skip-invalid", is_flag=True, help="Keep going; write rejected records to PATH.rejected.jsonl."
)
@click.option(
    "--eval",
    "eval_data",
    is_flag=True,
    help="Evaluation data: conversations need not end with an assistant turn.",
)
@handle_errors
def validate_cmd(path: str, format_: str | None, skip_invalid: bool, eval_data: bool) -> None:
    """Check every record of PATH and report every problem as FILE:LINE: field: message (exit 2 if any)."""
    rep = validate(path, format_, training=not eval_data)
    click.echo(
        f"{path}: format {rep.format}: {rep.n_records} records, {rep.n_valid} valid, {len(rep.rejected)} rejected"
    )
    if rep.rejected and skip_invalid:
        rep.rejected_path = f"{path}.rejected.jsonl"
        write_rejected(rep.rejected, rep.rejected_path)
        click.echo(f"rejected records with reasons written to {rep.rejected_path}")
        for p in rep.problems[:20]:
            click.echo(f"warning: {p}", err=True)
        if rep.n_valid == 0:
            raise InputError("no valid records", file=path)
    elif rep.rejected:
        raise rep.error()


def _table(stats: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{stats.get('path', '')} ({stats.get('format')})")
    t.add_column("measure")
    for c in ("min", "mean", "p50", "p90", "p99", "max"):
        t.add_column(c, justify="right")
    for name, key in (
        ("turns", "turns"),
        (f"length ({stats['length']['unit']})", "length"),
        ("characters", "chars"),
    ):
        d = stats[key]
        t.add_row(name, *(str(d[c]) for c in ("min", "mean", "p50", "p90", "p99", "max")))
    con = Console()
    con.print(t)
    con.print(
        f"examples: {stats['examples']}   ending with an assistant turn: {stats['ending_with_assistant']}"
    )
    con.print(f"exact duplicates: {stats['exact_duplicates']}")
    if "over_max_length" in stats:
        con.print(
            f"over max length {stats['max_length']} {stats['length']['unit']}: {stats['over_max_length']}"
        )
    if "labels" in stats:
        lt = Table(title="labels")
        lt.add_column("label")
        lt.add_column("count", justify="right")
        lt.add_column("fraction", justify="right")
        for k, v in stats["labels"].items():
            lt.add_row(k, str(v["count"]), f"{v['fraction']:.3f}")
        con.print(lt)


@data.command("stats")
@click.argument("path")
@_format_option
@click.option(
    "--model", default=None, help="Model folder or id whose tokenizer measures lengths (else words)."
)
@click.option("--max-length", type=int, default=None, help="Count examples longer than this.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--skip-invalid", is_flag=True, help="Describe the valid records; count the rejected ones.")
@click.option(
    "--eval",
    "eval_data",
    is_flag=True,
    help="Evaluation data: conversations need not end with an assistant turn.",
)
@handle_errors
def stats_cmd(
    path: str,
    format_: str | None,
    model: str | None,
    max_length: int | None,
    as_json: bool,
    skip_invalid: bool,
    eval_data: bool,
) -> None:
    """Examples, turns, length distribution, label balance, duplicates and over-length counts of PATH.

    A record counts exactly when `tunelab data validate` (with the same --eval) accepts it.
    """
    examples, rep = load_with_report(
        path,
        format_,
        skip_invalid=skip_invalid,
        training=not eval_data,
        rejected_path=f"{path}.rejected.jsonl",
    )
    if not examples:
        raise InputError("no valid records", file=path)
    tok = load_tokenizer(model) if model else None
    stats = {"path": path, **describe(examples, rep.format, tok, max_length), "rejected": len(rep.rejected)}
    if as_json:
        print_json(stats)
    else:
        _table(stats)
        if rep.rejected:
            click.echo(f"rejected: {len(rep.rejected)} (reasons in {rep.rejected_path})")


@data.command("convert")
@click.argument("src")
@click.argument("dst")
@click.option("--format", "format_", required=True, help="Output record shape.")
@click.option("--in-format", default=None, help="Input record shape (detected when omitted).")
@click.option(
    "--skip-invalid", is_flag=True, help="Write what converts; rejected records go to DST.rejected.jsonl."
)
@handle_errors
def convert_cmd(src: str, dst: str, format_: str, in_format: str | None, skip_invalid: bool) -> None:
    """Convert SRC to DST in another record shape; the file type follows DST's extension."""
    rep = convert(src, dst, format_, in_format=in_format, skip_invalid=skip_invalid)
    click.echo(
        f"{src} ({rep.in_format}) -> {dst} ({rep.out_format}): {rep.read} read, {rep.written} written, "
        f"{len(rep.rejected)} rejected"
    )
    for w in rep.warnings:
        click.echo(f"warning: {w}", err=True)
    if rep.rejected_path:
        click.echo(f"rejected records with reasons written to {rep.rejected_path}")
