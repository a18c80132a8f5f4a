"""Training data for the loop: sources -> examples -> encoded rows -> packed rows -> batches.

The reading, templating, masking and packing are the data layer's (:mod:`tunelab.data`); this
module mixes sources by weight, adds replay text, collates rows into tensors with *shifted*
targets, and walks the rows in a seeded order whose position can be saved and restored.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import tunelab.benchmarks  # noqa: F401 - registers the benchmark formats a data source may name
from tunelab.config import Config, SourceConfig
from tunelab.data import IGNORE_INDEX, Example, encode, encode_with_report, load, pack, split, write_records
from tunelab.errors import InputError
from tunelab.synth import general_text, generate

if TYPE_CHECKING:
    import torch

__all__ = [
    "TrainData",
    "build_train_data",
    "collate",
    "BatchStream",
    "REPLAY_SEED_OFFSET",
    "read_sources",
    "write_examples",
]

log = logging.getLogger("tunelab")

#: replay documents use general_text seeds from here on (pretraining uses < 1000, held-out 10007)
REPLAY_SEED_OFFSET = 5_000


@dataclass
class TrainData:
    """Encoded training and validation rows and what happened to the data on the way.

    Attributes:
        train_rows: rows (``input_ids``, ``labels``, optionally ``position_ids``) ready to batch.
        val_rows: the same for validation (may be empty).
        report: counts per stage (examples per source, dropped, packing efficiency, warnings).
        train_examples: the examples the run was given to train on, after dedup, the validation split and
            weighting (before encoding, so those then dropped as over-long are included); replay text is not.
        val_examples: the validation examples.
    """

    train_rows: list[dict[str, Any]]
    val_rows: list[dict[str, Any]]
    report: dict[str, Any] = field(default_factory=dict)
    train_examples: list[Example] = field(default_factory=list)
    val_examples: list[Example] = field(default_factory=list)


def read_sources(cfg: Config) -> list[list[Example]]:
    """Every training source's examples, read or generated exactly as training does (source ``i`` of
    a synthetic task is generated with seed ``synth.seed + i``), before dedup, split and weighting."""
    return [
        _read_source(src, cfg.synth.seed + i, f"data.sources[{i}]") for i, src in enumerate(cfg.data.sources)
    ]


def _read_source(src: SourceConfig, seed: int, where: str) -> list[Example]:
    if (src.path is None) == (src.task is None):
        raise InputError("give exactly one of path or task", field=where)
    if src.path is not None:
        return load(src.path, format=src.format)
    assert src.task is not None
    return list(generate(src.task, src.n, seed=seed, templates=src.templates))


def _weighted(examples: list[Example], weight: float, rng: random.Random) -> list[Example]:
    """round(weight * n) examples: whole copies for the integer part, a seeded sample for the rest."""
    if weight < 0:
        raise InputError("weight must be >= 0", field="data.sources.weight")
    whole, frac = int(weight), weight - int(weight)
    out = list(examples) * whole
    k = round(frac * len(examples))
    out += rng.sample(examples, k) if k else []
    return out


def _encode(
    examples: list[Example], tokenizer: Any, cfg: Config, report: dict[str, Any], key: str
) -> list[Any]:
    d = cfg.data
    rows, rep = encode_with_report(
        examples, tokenizer, d.max_length, mask=d.mask, render=d.render, overlong=d.overlong
    )
    report[key] = rep.to_dict()
    for w in rep.warnings:  # the data layer's template warnings reach the user of the run
        log.warning("data (%s): %s", key, w)
    if rep.dropped_overlong or rep.truncated:
        log.warning(
            "data (%s): %d example(s) over max_length=%d %s",
            key,
            rep.dropped_overlong + rep.truncated,
            d.max_length,
            "dropped" if rep.dropped_overlong else "truncated",
        )
    return rows


def _replay_rows(n: int, tokenizer: Any, cfg: Config) -> list[dict[str, Any]]:
    """General-text documents with loss on every token (limits forgetting)."""
    docs = general_text(n, seed=REPLAY_SEED_OFFSET + cfg.train.seed)
    examples = [
        Example(messages=[{"role": "assistant", "content": t}], id=f"replay-{i}") for i, t in enumerate(docs)
    ]
    return encode(examples, tokenizer, cfg.data.max_length, mask="none", render="plain", overlong="truncate")


def _rows_for_training(
    rows: list[dict[str, Any]], cfg: Config, pad_id: int, seed: int
) -> tuple[list[Any], float]:
    """Shuffle (seeded), then pack by best fit *in that order*, or keep the rows as they are.

    Best fit in the shuffled order, not best-fit decreasing: decreasing order fills each row with
    examples of about the same length, which in instruction data means the same task, so every
    step's gradient comes from a few tasks, and after the same steps the model is measurably worse
    (held-out loss 6.7% above TRL's padded batches in ``benchmarks/train_throughput.py``). The
    ordered fit costs about one point of fill (0.958 vs 0.970 there) and keeps every row a mix.
    """
    if not rows:
        return [], 0.0
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    rows = [rows[i] for i in order]
    if not cfg.data.packing:
        return rows, sum(len(r["input_ids"]) for r in rows) / (
            len(rows) * max(len(r["input_ids"]) for r in rows)
        )
    res = pack(rows, cfg.data.max_length, strategy="best_fit_ordered", pad_token_id=pad_id)
    return res.rows, res.efficiency


def build_train_data(cfg: Config, tokenizer: Any) -> TrainData:
    """Read/generate every source, split off validation, mix by weight, add replay, encode, pack.

    Each source contributes ``round(weight * its size)`` examples (repeated for weights above 1,
    a seeded sample below). Validation comes from ``data.val_sources`` or, per source and before
    weighting, a ``val_ratio`` split (so a repeated example never lands on both sides).

    Args:
        cfg: the run configuration.
        tokenizer: the model's tokenizer.

    Returns:
        The :class:`TrainData`.

    Raises:
        InputError: no sources, a source with neither/both path and task, or nothing left to
            train on (every label masked, or every example too long).
    """
    d = cfg.data
    if not d.sources:
        raise InputError("no training data: add at least one entry under data.sources", field="data.sources")
    rng = random.Random(d.shuffle_seed)
    report: dict[str, Any] = {"sources": []}
    train_ex: list[Example] = []
    val_ex: list[Example] = []
    for i, src in enumerate(d.sources):
        where = f"data.sources[{i}]"
        examples = _read_source(src, cfg.synth.seed + i, where)
        n_read = len(examples)
        if d.dedup:
            seen: set[str] = set()
            uniq = []
            for ex in examples:
                key = repr([(m["role"], m["content"]) for m in ex.messages])
                if key not in seen:
                    seen.add(key)
                    uniq.append(ex)
            examples = uniq
        held: list[Example] = []
        if not d.val_sources and d.val_ratio > 0 and len(examples) > 1:
            parts = split(examples, {"train": 1.0 - d.val_ratio, "val": d.val_ratio}, seed=d.shuffle_seed + i)
            examples, held = parts["train"], parts["val"]
        mixed = _weighted(examples, src.weight, rng)
        report["sources"].append(
            {
                "source": src.path or f"synth:{src.task}",
                "read": n_read,
                "duplicates_dropped": n_read - len(examples) if d.dedup else 0,
                "train": len(mixed),
                "val": len(held),
            }
        )
        train_ex += mixed
        val_ex += held
    for i, src in enumerate(d.val_sources):
        val_ex += _read_source(src, cfg.synth.seed + 1000 + i, f"data.val_sources[{i}]")

    rows = _encode(train_ex, tokenizer, cfg, report, "train_encode")
    if not rows:
        raise InputError(
            f"nothing to train on: all {len(train_ex)} example(s) were dropped while encoding "
            f"({report['train_encode']}); check data.mask / data.render and data.max_length",
            field="data.sources",
        )
    n_targets = sum(sum(1 for x in r["labels"] if x != IGNORE_INDEX) for r in rows)
    if n_targets == 0:
        raise InputError(
            "every label is masked: there is nothing to learn (check data.mask)", field="data.mask"
        )
    if cfg.train.replay_ratio > 0:
        # replay share r of all rows: n_replay / (n + n_replay) = r
        n_replay = max(1, round(len(rows) * cfg.train.replay_ratio / (1.0 - cfg.train.replay_ratio)))
        rows += _replay_rows(n_replay, tokenizer, cfg)
        report["replay_rows"] = n_replay
    val_rows = _encode(val_ex, tokenizer, cfg, report, "val_encode") if val_ex else []
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    train_rows, eff = _rows_for_training(rows, cfg, pad_id, d.shuffle_seed)
    val_rows, _ = _rows_for_training(val_rows, cfg, pad_id, d.shuffle_seed)
    report.update(
        train_examples=len(rows),
        val_examples=len(val_ex),
        train_rows=len(train_rows),
        val_rows=len(val_rows),
        token_efficiency=round(eff, 4),
        train_target_tokens=n_targets,
    )
    return TrainData(train_rows, val_rows, report, train_ex, val_ex)


def write_examples(data: TrainData, run_dir: Path) -> Path:
    """Write the run's examples to ``run_dir/data/train.jsonl`` and ``val.jsonl`` (one Example per line), so
    later stages (the comparison's contamination check) read what the run trained on instead of
    regenerating it.

    Returns:
        The folder written.
    """
    out = run_dir / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, examples in (("train", data.train_examples), ("val", data.val_examples)):
        write_records(out / f"{name}.jsonl", [ex.to_dict() for ex in examples])
    return out


def collate(rows: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows -> tensors, right-padded to the longest row, with next-token targets.

    ``targets[b, t] = labels[b, t + 1]``, and -100 where position ``t + 1`` starts a new packed
    example (``position_ids == 0``), at the end of each row, and on padding. Padding gets its own
    position ids from 0 so that, with no attention mask, transformers treats it as a separate
    block of the block-diagonal mask.

    Args:
        rows: dicts with ``input_ids``, ``labels`` (unshifted, -100 where masked) and optionally
            ``position_ids`` (packed rows).
        pad_id: the pad token id.

    Returns:
        ``input_ids``, ``position_ids``, ``targets`` as (B, T) int64 tensors, and ``n_targets``
        (a 0-d int64 tensor on the CPU).
    """
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    b = len(rows)
    ids = np.full((b, width), pad_id, dtype=np.int64)
    labels = np.full((b, width), IGNORE_INDEX, dtype=np.int64)
    pos = np.empty((b, width), dtype=np.int64)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = r["input_ids"]
        labels[i, :n] = r["labels"]
        pos[i, :n] = r["position_ids"] if "position_ids" in r else np.arange(n)
        pos[i, n:] = np.arange(width - n)
    targets = np.full((b, width), IGNORE_INDEX, dtype=np.int64)
    targets[:, :-1] = np.where(pos[:, 1:] == 0, IGNORE_INDEX, labels[:, 1:])
    return {
        "input_ids": torch.from_numpy(ids),
        "position_ids": torch.from_numpy(pos),
        "targets": torch.from_numpy(targets),
        "n_targets": torch.tensor(int((targets != IGNORE_INDEX).sum())),
    }


class BatchStream:
    """An endless, seeded walk over the rows: epoch ``e`` visits them in permutation ``P(seed, e)``.

    Every optimizer step takes ``grad_accum`` global micro-batches of ``batch_size * world_size``
    rows; process ``rank`` collates its own ``batch_size`` slice of each, so one process with
    batch ``2k`` sees exactly the rows two processes with batch ``k`` see together. The position
    (``epoch``, ``cursor``) is all that a checkpoint needs to continue the same order.

    Args:
        rows: training rows.
        batch_size: rows per micro-batch per process.
        seed: order seed.
        pad_id: pad token id for :func:`collate`.
        world_size: number of processes.
        rank: this process.
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        batch_size: int,
        seed: int,
        pad_id: int,
        world_size: int = 1,
        rank: int = 0,
    ) -> None:
        if not rows:
            raise InputError("no training rows", field="data.sources")
        self.rows = rows
        self.batch_size = batch_size
        self.seed = seed
        self.pad_id = pad_id
        self.world_size = world_size
        self.rank = rank
        self.epoch = 0
        self.cursor = 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))

    def _take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.cursor >= len(self.rows):
                self.epoch += 1
                self.cursor = 0
                self._perm = self._permutation(self.epoch)
            m = min(k - len(out), len(self.rows) - self.cursor)
            out += self._perm[self.cursor : self.cursor + m].tolist()
            self.cursor += m
        return out

    def next_step(self, grad_accum: int) -> list[dict[str, torch.Tensor]]:
        """This process's ``grad_accum`` micro-batches for the next optimizer step."""
        out = []
        for _ in range(grad_accum):
            idx = self._take(self.batch_size * self.world_size)
            mine = idx[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
            out.append(collate([self.rows[i] for i in mine], self.pad_id))
        return out

    @property
    def epoch_float(self) -> float:
        """Epochs completed, fractional."""
        return self.epoch + self.cursor / len(self.rows)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "n_rows": len(self.rows)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("n_rows") != len(self.rows):
            raise InputError(
                f"the checkpoint was made with {state.get('n_rows')} training rows, this run has "
                f"{len(self.rows)}: the data or data settings changed, so the order cannot be resumed",
                field="data",
            )
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._perm = self._permutation(self.epoch)
