"""``tunelab synth``: list the verifiable tasks, generate verified synthetic data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import tunelab.benchmarks  # noqa: F401 - registers the benchmark formats (finqa, medcalc ...)
from tunelab._atomic import refuse_same_path, write_atomic
from tunelab.cli._common import handle_errors
from tunelab.data import load, write_records
from tunelab.errors import InputError, TunelabError
from tunelab.evaluate import rating_judge
from tunelab.generation import OpenAIBackend, make_backend
from tunelab.synth import (
    BLACKLIST,
    EVOL_DECODING,
    INSTANCE_DECODING,
    INSTRUCTION_DECODING,
    RESPONSE_DECODING,
    default_seeds_path,
    evol_instruct,
    filter_examples,
    generate_to_file,
    list_tasks,
    load_seed_tasks,
    partial_path,
    rejected_path,
    self_instruct,
)

__all__ = ["synth"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def synth() -> None:
    """Generate verified synthetic data and filter it."""


@synth.command("tasks")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {name, domain, answer_type, scorer}.")
@handle_errors
def tasks_cmd(as_json: bool) -> None:
    """List the verifiable synthetic tasks."""
    infos = list_tasks()
    if as_json:
        rows = [
            {"name": t.name, "domain": t.domain, "answer_type": t.answer_type, "scorer": t.scorer}
            for t in infos
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(infos)} verifiable tasks")
    for col in ("name", "domain", "answer type", "scorer", "description"):
        table.add_column(col)
    for t in infos:
        table.add_row(t.name, t.domain, t.answer_type, t.scorer, t.description)
    Console(width=160).print(table)


@synth.command("generate")
@click.option("--task", required=True, help="Task name (see `tunelab synth tasks`).")
@click.option("--n", "n", type=int, required=True, help="Number of verified examples to write.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output JSONL file."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed (same seed, same bytes).")
@click.option(
    "--templates",
    type=click.Choice(["train", "heldout", "finetune"]),
    default="train",
    show_default=True,
    help="Training phrasings, held-out phrasings, or the fixed fine-tuning format.",
)
@handle_errors
def generate_cmd(task: str, n: int, out: Path, seed: int, templates: str) -> None:
    """Generate N verified examples of TASK as JSONL (one Example per line).

    OUT is written in one piece when all N exist; a killed run leaves the previous OUT (or none) and
    OUT.partial, from which the same command continues.
    """
    if n < 0:
        raise InputError(f"--n must be >= 0, got {n}", field="n")
    report, resumed = generate_to_file(task, n, out, seed=seed, templates=templates)
    if resumed:
        click.echo(f"resumed {resumed} examples from {partial_path(out)}")
    click.echo(
        f"{task}: generated {report.generated}, verified {report.verified}, rejected {report.rejected} -> {out}"
    )
    for reason, count in report.reasons.items():
        click.echo(f"  rejected {count}: {reason}")


def _backend_options(fn: Any) -> Any:
    """The generator options shared by self-instruct and evol."""
    opts = [
        click.option("--model", default=None, help="Local model folder, hub id or tunelab-tiny."),
        click.option("--base-url", default=None, help="An OpenAI-compatible server (http://HOST:PORT/v1)."),
        click.option("--model-name", default=None, help="The model id the server expects (with --base-url)."),
        click.option("--api-key", default=None, envvar="OPENAI_API_KEY", help="API key for --base-url."),
        click.option(
            "--batch-size", type=int, default=4, show_default=True, help="Items per batch (journal unit)."
        ),
        click.option(
            "--concurrency", type=int, default=8, show_default=True, help="Requests in flight (server)."
        ),
        click.option(
            "--timeout", "timeout_s", type=float, default=120.0, show_default=True, help="Per request (s)."
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampling."),
        click.option(
            "--chat", is_flag=True, help="Send prompts as a user turn (chat models) instead of completions."
        ),
        click.option("--max-new-tokens", type=int, default=256, show_default=True, help="Generation budget."),
        click.option("--device", default="auto", show_default=True, help="Local device."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _make_backend(opts: dict[str, Any]) -> Any:
    return make_backend(
        model=opts["model"],
        base_url=opts["base_url"],
        model_name=opts["model_name"],
        api_key=opts["api_key"],
        batch_size=opts["batch_size"],
        concurrency=opts["concurrency"],
        timeout_s=opts["timeout_s"],
        device=opts["device"],
    )


def _chunk_size(opts: dict[str, Any]) -> int:
    """Requests per backend call (cached as each call returns): the server's concurrency, or the local batch."""
    return int(opts["concurrency"] if opts["base_url"] else opts["batch_size"])


def _print_result(res: Any) -> None:
    d = res.to_dict()
    click.echo(
        f"kept {d['kept']} of {d['generated']} generated -> {d['out']} "
        f"(batches {d['batches']}, resumed {d['resumed_batches']}; "
        f"cache hits {d['cache']['cache_hits']}, requests sent {d['cache']['requests_sent']})"
    )
    for reason, count in d["reasons"].items():
        click.echo(f"  rejected {count}: {reason}")
    click.echo(json.dumps(d, default=str))


@synth.command("self-instruct")
@click.option(
    "--seeds",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Seed tasks JSONL (Self-Instruct layout); default: tunelab's medical/finance/general seeds.",
)
@click.option("--n", "n", type=int, required=True, help="Examples wanted.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output JSONL.")
@click.option(
    "--max-batches", type=int, default=None, help="Stop after this many batches (default max(10, 4n))."
)
@click.option("--rouge-threshold", type=float, default=0.7, show_default=True, help="Novelty threshold.")
@click.option("--min-words", type=int, default=4, show_default=True)
@click.option("--max-words", type=int, default=150, show_default=True)
@_backend_options
@handle_errors
def self_instruct_cmd(
    seeds: Path | None,
    n: int,
    out: Path,
    max_batches: int | None,
    rouge_threshold: float,
    min_words: int,
    max_words: int,
    **opts: Any,
) -> None:
    """Self-Instruct: generate N instruction/response examples from seed tasks (rerun to resume)."""
    import dataclasses

    refuse_same_path(out, "--out", {"--seeds": seeds})
    tasks = load_seed_tasks(seeds or default_seeds_path())
    res = self_instruct(
        _make_backend(opts),
        tasks,
        out,
        n,
        batch_size=opts["batch_size"],
        max_batches=max_batches,
        seed=opts["seed"],
        chat=opts["chat"],
        rouge_threshold=rouge_threshold,
        min_words=min_words,
        max_words=max_words,
        instruction_decoding=dataclasses.replace(INSTRUCTION_DECODING, max_new_tokens=opts["max_new_tokens"]),
        instance_decoding=dataclasses.replace(INSTANCE_DECODING, max_new_tokens=opts["max_new_tokens"]),
        chunk_size=_chunk_size(opts),
        progress=lambda r: click.echo(f"batch {r.batches}: kept {r.kept}/{n}", err=True),
    )
    _print_result(res)


@synth.command("evol")
@click.option(
    "--in",
    "in_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Instructions to evolve (any data file tunelab reads; the prompt turns are the instruction).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output JSONL.")
@click.option("--rounds", type=int, default=1, show_default=True, help="Evolution rounds.")
@click.option(
    "--no-gain-rouge",
    type=float,
    default=0.9,
    show_default=True,
    help="ROUGE-L vs the original at or above which an evolution brought no information.",
)
@click.option("--model-equality-check", is_flag=True, help="Also ask the model whether the two are equal.")
@_backend_options
@handle_errors
def evol_cmd(
    in_path: Path, out: Path, rounds: int, no_gain_rouge: float, model_equality_check: bool, **opts: Any
) -> None:
    """Evol-Instruct: rewrite instructions harder or broader for R rounds, eliminate failures (rerun to resume)."""
    import dataclasses

    refuse_same_path(out, "--out", {"--in": in_path})
    examples = load(in_path, training=False)
    res = evol_instruct(
        _make_backend(opts),
        examples,
        out,
        rounds=rounds,
        batch_size=opts["batch_size"],
        seed=opts["seed"],
        chat=opts["chat"],
        no_gain_rouge=no_gain_rouge,
        model_equality_check=model_equality_check,
        evol_decoding=dataclasses.replace(EVOL_DECODING, max_new_tokens=opts["max_new_tokens"]),
        response_decoding=dataclasses.replace(RESPONSE_DECODING, max_new_tokens=opts["max_new_tokens"]),
        chunk_size=_chunk_size(opts),
        progress=lambda r: click.echo(f"batch {r.batches}: kept {r.kept}", err=True),
    )
    _print_result(res)


@synth.command("filter")
@click.argument("in_path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--near-dup-threshold",
    type=float,
    default=0.8,
    show_default=True,
    help="MinHash Jaccard threshold for near duplicates (0 turns it off).",
)
@click.option(
    "--rouge-threshold",
    type=float,
    default=0.7,
    show_default=True,
    help="Drop an instruction whose ROUGE-L F against a kept one is above this (1 turns it off).",
)
@click.option("--min-words", type=int, default=4, show_default=True)
@click.option("--max-words", type=int, default=150, show_default=True)
@click.option(
    "--no-blacklist", is_flag=True, help="Keep instructions with Self-Instruct's blacklisted words."
)
@click.option("--verify", is_flag=True, help="Check examples of verifiable synthetic tasks by re-derivation.")
@click.option("--judge-url", default=None, help="OpenAI-compatible server of an LLM judge.")
@click.option("--judge-model", default=None, help="The judge's model id (default: the server's first model).")
@click.option("--judge-min-score", type=int, default=7, show_default=True, help="Minimum 1-10 rating.")
@click.option("--judge-max-new-tokens", type=int, default=512, show_default=True)
@click.option("--api-key", default=None, envvar="OPENAI_API_KEY", help="API key for --judge-url.")
@handle_errors
def filter_cmd(
    in_path: Path,
    out: Path,
    near_dup_threshold: float,
    rouge_threshold: float,
    min_words: int,
    max_words: int,
    no_blacklist: bool,
    verify: bool,
    judge_url: str | None,
    judge_model: str | None,
    judge_min_score: int,
    judge_max_new_tokens: int,
    api_key: str | None,
) -> None:
    """Filter generated data IN into OUT; rejected records with reasons go to OUT.rejected.jsonl."""
    refuse_same_path(out, "OUT", {"IN": in_path})
    if not 0 <= near_dup_threshold <= 1 or not 0 <= rouge_threshold <= 1:
        raise InputError("thresholds must be in [0, 1]", field="threshold")
    judge = None
    if judge_url:
        backend = OpenAIBackend(judge_url, judge_model or _first_model(judge_url, api_key), api_key=api_key)
        judge = rating_judge(backend, max_new_tokens=judge_max_new_tokens)
    examples = load(in_path, training=False)
    report = filter_examples(
        examples,
        near_dup_threshold=near_dup_threshold or None,
        rouge_threshold=None if rouge_threshold >= 1 else rouge_threshold,
        min_words=min_words,
        max_words=max_words,
        blacklist=None if no_blacklist else BLACKLIST,
        verify=verify,
        judge=judge,
        judge_min_score=judge_min_score,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_records(out, [ex.to_dict() for ex in report.kept])
    write_atomic(rejected_path(out), report.rejections.records)
    d = report.to_dict()
    click.echo(f"kept {d['kept']} of {d['n_in']} -> {out}; rejected {d['rejected']} -> {rejected_path(out)}")
    for reason, count in d["reasons"].items():
        click.echo(f"  rejected {count}: {reason}")
    click.echo(json.dumps(d))


def _first_model(base_url: str, api_key: str | None) -> str:
    """The first model id a server lists at /v1/models."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        r = httpx.get(base_url.rstrip("/") + "/models", headers=headers, timeout=30)
        r.raise_for_status()
        return str(r.json()["data"][0]["id"])
    except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
        raise TunelabError(f"cannot list the judge's models at {base_url}: {e}; pass --judge-model") from e
