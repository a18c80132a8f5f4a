"""The resumable batch loop shared by Self-Instruct and Evol-Instruct.

A run writes three things: the kept records (``OUT``), the rejected ones with their reasons
(``OUT.rejected.jsonl``) and a work folder (``OUT.work/``: request cache and journal). Batches are journaled as
they finish; the two output files are written (atomically) only when the run ends, from the journal, so a killed
run never leaves a smaller data set that looks complete at ``OUT``. On start the journal is replayed and the loop
goes on with the next batch; unfinished batches are recomputed from the same seeded state, and their model
requests come back from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import write_atomic
from tunelab.synth._cache import CachedBackend, Journal
from tunelab.synth._filter import Rejections
from tunelab.synth._llm import work_dir

__all__ = ["RunState", "SynthResult", "rejected_path"]


def rejected_path(out: str | Path) -> Path:
    """``OUT.rejected.jsonl``."""
    p = Path(out)
    return p.with_name(p.name + ".rejected.jsonl")


@dataclass
class SynthResult:
    """What a Self-Instruct or Evol-Instruct run produced.

    Attributes:
        out: the output file (kept records, one Example per line).
        kept: records in it.
        generated: candidates produced by the model (kept + rejected).
        reasons: rejections per reason.
        batches: batches done in total (this call and earlier ones).
        resumed_batches: batches replayed from the journal instead of being run.
        cache: ``cache_hits``, ``requests_sent``, ``cache_size`` of this call.
        complete: the target was reached (else the batch limit stopped the run).
    """

    out: Path
    kept: int
    generated: int
    reasons: dict[str, int]
    batches: int
    resumed_batches: int
    cache: dict[str, int]
    complete: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            **{k: v for k, v in self.__dict__.items() if k != "extra"},
            "out": str(self.out),
            **self.extra,
        }


class RunState:
    """A run's journal, replayed: the kept and rejected records so far, and the output files rebuilt.

    Args:
        out: the output file.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(work_dir(out) / "journal.jsonl")
        self.kept: list[dict[str, Any]] = []
        self.rejections = Rejections()
        self.generated = 0
        for e in self.journal.entries:
            self.kept.extend(e["kept"])
            self.rejections.extend(e["rejected"])
            self.generated += int(e["generated"])
        self.resumed_batches = len(self.journal.entries)

    @property
    def batches(self) -> int:
        return len(self.journal.entries)

    def commit(
        self, kept: list[dict[str, Any]], rejections: Rejections, generated: int, **extra: Any
    ) -> None:
        """Finish a batch: journal it (the commit point)."""
        self.journal.append(
            {
                "batch": self.batches,
                "kept": kept,
                "rejected": rejections.records,
                "generated": generated,
                **extra,
            }
        )
        self.kept.extend(kept)
        self.rejections.extend(rejections.records)
        self.generated += generated

    def finish(self) -> None:
        """Write the output and rejected files from every journaled batch (each atomically)."""
        write_atomic(self.out, self.kept)
        write_atomic(rejected_path(self.out), self.rejections.records)

    def result(self, backend: CachedBackend, complete: bool, **extra: Any) -> SynthResult:
        """The run's summary."""
        return SynthResult(
            out=self.out,
            kept=len(self.kept),
            generated=self.generated,
            reasons=dict(self.rejections.counts),
            batches=self.batches,
            resumed_batches=self.resumed_batches,
            cache=backend.stats(),
            complete=complete,
            extra=extra,
        )
