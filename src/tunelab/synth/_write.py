"""``synth generate`` to a file: resumable through a side file, the output written atomically at the end.

While it runs, verified examples go to ``OUT.partial`` in chunks, each chunk one appended, ``fsync``ed line
that also holds the generator's counts and random state after it. ``OUT`` itself is written once, through a
temporary file and a rename, when all ``n`` examples exist, and the side file is then removed. A run killed at
any point leaves the previous ``OUT`` (or none) and a side file; the rerun with the same task, seed and
template set continues after the last complete chunk and writes the same bytes an uninterrupted run writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tunelab._atomic import write_atomic
from tunelab.data import Example
from tunelab.synth._cache import Journal
from tunelab.synth._generate import GENERATOR_VERSION, Generator
from tunelab.synth._types import GenerationReport

__all__ = ["generate_to_file", "partial_path"]


def partial_path(out: str | Path) -> Path:
    """The side file of an unfinished run: ``OUT.partial``."""
    p = Path(out)
    return p.with_name(p.name + ".partial")


def generate_to_file(
    task: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    templates: str = "train",
    chunk: int = 500,
    progress: Callable[[GenerationReport, int], None] | None = None,
) -> tuple[GenerationReport, int]:
    """Generate ``n`` verified examples of ``task`` into the JSONL file ``out``, resuming an unfinished run.

    Args:
        task: a task name.
        n: examples wanted.
        out: the output file (one Example per line).
        seed: the seed (same seed, same bytes, resumed or not).
        templates: ``train`` | ``heldout`` | ``finetune``.
        chunk: verified examples per side-file line (the work a kill can lose).
        progress: called after each chunk with the report so far and the examples resumed.

    Returns:
        The :class:`GenerationReport` and how many examples were taken from the side file.

    Raises:
        InputError: unknown task or template set, or ``n < 0``.
        TunelabError: too many candidates were rejected to reach ``n``.
    """
    gen = Generator(task, n, seed, templates)
    side = partial_path(out)
    header = {"task": task, "seed": seed, "templates": templates, "version": GENERATOR_VERSION}
    journal = Journal(side)
    resumed = 0
    if journal.entries and journal.entries[0].get("run") == header:
        done = [Example.from_dict(d) for e in journal.entries[1:] for d in e["examples"]]
        if journal.entries[1:] and len(done) <= n:
            gen.restore(journal.entries[-1]["state"], done)
            resumed = len(done)
    if not resumed:
        side.unlink(missing_ok=True)  # another run's or an empty side file: start over
        journal = Journal(side)
        journal.append({"run": header})
    while gen.report.verified < n:
        new = gen.run(gen.report.verified + max(1, chunk))
        journal.append({"examples": [ex.to_dict() for ex in new], "state": gen.state()})
        if progress is not None:
            progress(gen.report, resumed)
    write_atomic(out, (ex.to_dict() for ex in gen.report.examples))
    side.unlink(missing_ok=True)
    return gen.report, resumed
