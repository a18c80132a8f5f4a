"""``tunelab eval``: evaluate a model on a suite."""

from __future__ import annotations

from typing import Any

import click

from tunelab.cli._common import backend_option, handle_errors
from tunelab.errors import InputError
from tunelab.evaluate import DataSpec, evaluate_model, load_suite, scores_table
from tunelab.generation import OpenAIBackend, VLLMBackend
from tunelab.models import load_for_inference, load_tokenizer

__all__ = ["eval_cmd"]


@click.command("eval")
@click.option("--model", "model_path", required=True, help="Model folder, hub id, or tunelab-tiny.")
@click.option("--adapter", default=None, help="A LoRA adapter folder applied on top of the model (peft).")
@click.option("--suite", "suite_name", required=True, help="A shipped suite name or a suite YAML file.")
@click.option(
    "--data", "data_path", default=None, help="Evaluate on this data file instead of the suite's data."
)
@click.option("--format", "data_format", default=None, help="Record shape of --data (detected when omitted).")
@click.option(
    "--out", "out_dir", default="runs/eval", show_default=True, help="Run folder (writes OUT/eval/SUITE/)."
)
@click.option("--limit", type=int, default=None, help="Evaluate only the first N items.")
@click.option("--batch-size", type=int, default=None, help="Generation batch size (default: automatic).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--dtype", default="float32", show_default=True, help="auto, float32, bfloat16 or float16.")
@backend_option(
    "Local generation engine: tunelab's decode loop, or vLLM (CUDA GPU; LoRA through vLLM's LoRA support)."
)
@click.option("--base-url", default=None, help="Generate through this OpenAI-compatible endpoint instead.")
@click.option("--api-key", default=None, envvar="OPENAI_API_KEY", help="API key for --base-url.")
@handle_errors
def eval_cmd(
    model_path: str,
    adapter: str | None,
    suite_name: str,
    data_path: str | None,
    data_format: str | None,
    out_dir: str,
    limit: int | None,
    batch_size: int | None,
    device: str,
    dtype: str,
    backend_name: str,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Evaluate a model on a suite; write predictions.jsonl and scores.json under OUT/eval/SUITE/.

    Exit codes: 0 success; 1 the job failed; 2 bad usage or bad input (a bad suite names file, line and key).
    """
    from rich.console import Console

    if limit is not None and limit < 1:
        raise InputError("must be at least 1", field="--limit")
    if batch_size is not None and batch_size < 1:
        raise InputError("must be at least 1", field="--batch-size")
    suite = load_suite(suite_name)
    if data_path is not None:
        # the suite names its benchmark's format; --format overrides it
        fmt = data_format or (suite.data[0].format if suite.data else None)
        suite.data = [DataSpec(path=data_path, format=fmt)]
        suite.source = None
        suite.validate()
    backend: Any = None
    model: Any = None
    if backend_name == "vllm":
        if base_url is not None or suite.kind != "generate":
            why = "--base-url" if base_url is not None else f"a {suite.kind} suite (generation suites only)"
            raise InputError(f"--backend vllm cannot be combined with {why}", field="--backend")
        backend = VLLMBackend(model_path, adapter=adapter, dtype=dtype)
        tokenizer = backend.tokenizer
    elif base_url is not None and suite.kind == "generate":
        tokenizer = load_tokenizer(model_path)
        backend = OpenAIBackend(base_url, model=model_path, api_key=api_key)
    else:
        model, tokenizer = load_for_inference(model_path, adapter, dtype=dtype, device=device)
    result = evaluate_model(
        model,
        tokenizer,
        suite,
        out_dir,
        model_path=model_path,
        adapter=adapter,
        limit=limit,
        batch_size=batch_size,
        backend=backend,
    )
    console = Console(stderr=False)
    console.print(scores_table(result))
    if result.record.get("resumed_items"):
        console.print(f"resumed {result.record['resumed_items']} generations from an unfinished run")
    console.print(f"wrote {result.out_dir}/predictions.jsonl and scores.json")
