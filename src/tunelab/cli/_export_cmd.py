"""``tunelab model export --model DIR [--adapter DIR] --format gguf --quant Q --out FILE.gguf`` (``model`` group)."""

from __future__ import annotations

import sys

import click

from tunelab.cli._common import handle_errors

__all__ = ["export_cmd"]

QUANTS = ["f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]  # tunelab.models.GGUF_QUANTS, without torch


@click.command("export")
@click.option("--model", "model_dir", required=True, help="Model folder, hub id, or tunelab-tiny.")
@click.option(
    "--adapter",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="A LoRA/DoRA adapter folder, merged into the model first.",
)
@click.option("--format", "fmt", default="gguf", show_default=True, type=click.Choice(["gguf"]))
@click.option("--quant", default="f16", show_default=True, type=click.Choice(QUANTS), help="Weight type.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The .gguf file to write.")
@click.option("--ollama", is_flag=True, help="Also write an Ollama Modelfile beside the GGUF.")
@click.option(
    "--no-verify", is_flag=True, help="Skip loading the file back and comparing it with the source."
)
@handle_errors
def export_cmd(
    model_dir: str, adapter: str | None, fmt: str, quant: str, out: str, ollama: bool, no_verify: bool
) -> None:
    """Write a model as one GGUF file for llama.cpp, Ollama and LM Studio (no compiler, no network).

    The tokenizer and chat template go into the file's metadata. Unless --no-verify, the file is then loaded
    back with transformers and compared with the source on fixed prompts: greedy tokens and the largest
    logit difference, against a threshold per quantization type. Exit codes: 0 written (and verified);
    1 verification failed (the file stays, for inspection); 2 an architecture, tokenizer or option that
    cannot be exported (nothing written).
    """
    from tunelab.models import export_gguf, verify_gguf, write_modelfile

    export, source, tokenizer = export_gguf(model_dir, out, quant, adapter)
    types = ", ".join(f"{n} {t}" for t, n in sorted(export.tensor_types.items()))
    click.echo(
        f"wrote {export.path} ({export.size_bytes / 2**20:.1f} MiB, {export.architecture}, {quant}: "
        f"{export.n_tensors} tensors: {types}; pre-tokenizer {export.vocab.pre})\nsha256 {export.sha256}"
    )
    for note in export.notes:
        click.echo(f"note: {note}")
    if ollama:
        ctx = int(source.config.max_position_embeddings)
        mf = write_modelfile(tokenizer, export.path, ctx)
        click.echo(f"wrote {mf} (ollama create NAME -f {mf})")
    if no_verify:
        click.echo("verification skipped (--no-verify)")
        return
    report = verify_gguf(source, tokenizer, export.path, quant)
    for c in report.checks:
        if c.same_tokens:
            tokens = "same"
        elif c.divergence_margin is not None:
            tie = "near-tie" if report.agrees(c) else "DIFFERENT"
            tokens = f"{tie} (source margin {c.divergence_margin:.3f})"
        else:
            tokens = "DIFFERENT"
        click.echo(
            f"  {c.prompt[:40]:<40}  greedy {tokens:<32} max |Δlogit| {c.max_abs_logit_diff:.4f}  "
            f"KL {c.mean_kl:.5f}"
        )
    need = "must agree" if report.tokens_required else "reported only"
    verdict = "PASS" if report.passed else "FAIL"
    click.echo(
        f"verify {verdict} ({quant}): greedy tokens identical on {report.same_tokens}/{len(report.checks)} "
        f"prompts ({need}); max |Δlogit| {report.max_abs_logit_diff:.4f}, threshold {report.tolerance}"
    )
    if not report.passed:
        sys.exit(1)
