"""Packing encoded rows into fixed-length rows, and padding-free batches.

No example attends to another: ``position_ids`` restart at 0 at every example start, and with
Hugging Face models in transformers 5.x a forward pass given such ``position_ids`` and *no*
``attention_mask`` (and no cache: pass ``use_cache=False``) builds a block-diagonal causal mask
(``transformers.masking_utils.find_packed_sequence_indices``). The label of each example's first
token is set to -100: the causal shift would otherwise train the previous example's last token
to predict it. Padding at the end of a row is its own segment (positions from 0) with labels -100.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.data._encode import IGNORE_INDEX
from tunelab.errors import InputError

__all__ = ["PackResult", "pack", "pad_free_batches"]


@dataclass
class PackResult:
    """Packed rows and how full they are.

    Attributes:
        rows: dicts with ``input_ids``, ``labels``, ``position_ids`` (each ``max_length`` long),
            ``seq_lens`` (lengths of the examples in the row, padding excluded) and ``indices``
            (positions of those examples in the input).
        max_length: the row length.
        efficiency: real tokens / (rows * max_length).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    max_length: int = 0

    @property
    def efficiency(self) -> float:
        if not self.rows:
            return 0.0
        return sum(sum(r["seq_lens"]) for r in self.rows) / (len(self.rows) * self.max_length)


def _segment(row: dict[str, Sequence[int]]) -> tuple[list[int], list[int], list[int]]:
    ids = list(row["input_ids"])
    labels = list(row.get("labels", ids))
    if len(labels) != len(ids):
        raise InputError("input_ids and labels differ in length", field="labels")
    if labels:
        labels[0] = IGNORE_INDEX
    return ids, labels, list(range(len(ids)))


def _bins_best_fit(lengths: list[int], max_length: int, decreasing: bool = True) -> list[list[int]]:
    """Best fit: each example into the fullest row it still fits; longest first when ``decreasing``
    (fewest rows), else in input order (rows keep the input's mix of lengths)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if decreasing else range(len(lengths))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # sorted (free space, bin index)
    for i in order:
        n = lengths[i]
        k = bisect.bisect_left(free, (n, -1))
        if k < len(free):
            space, b = free.pop(k)
            bins[b].append(i)
            bisect.insort(free, (space - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (max_length - n, len(bins) - 1))
    return bins


def _bins_sequential(lengths: list[int], max_length: int) -> list[list[int]]:
    """In input order, starting a new row when the next example does not fit."""
    bins: list[list[int]] = []
    used = max_length
    for i, n in enumerate(lengths):
        if used + n > max_length:
            bins.append([])
            used = 0
        bins[-1].append(i)
        used += n
    return bins


def pack(
    rows: Sequence[dict[str, Sequence[int]]],
    max_length: int,
    strategy: str = "best_fit",
    pad_token_id: int = 0,
) -> PackResult:
    """Pack encoded rows into rows of exactly ``max_length`` tokens.

    Args:
        rows: encoded rows (``input_ids`` and optionally ``labels``), each at most ``max_length`` long.
        max_length: the packed row length.
        strategy: ``"best_fit"`` (best-fit decreasing: fewest rows, but each row holds examples of
            similar length), ``"best_fit_ordered"`` (best fit in input order: give a shuffled input
            and every row is a random mix, at a slightly lower fill) or ``"sequential"`` (keeps
            order, starts a new row whenever the next example does not fit).
        pad_token_id: id used to fill the end of a row (its labels are -100).

    Returns:
        The :class:`PackResult`.

    Raises:
        InputError: a row longer than ``max_length``, an empty row, or an unknown strategy.
    """
    lengths = [len(r["input_ids"]) for r in rows]
    for i, n in enumerate(lengths):
        if n > max_length or n == 0:
            raise InputError(
                f"row {i} has {n} tokens; pack needs 1..{max_length} (encode with max_length first)",
                field="input_ids",
            )
    if strategy in ("best_fit", "best_fit_ordered"):
        bins = _bins_best_fit(lengths, max_length, decreasing=strategy == "best_fit")
    elif strategy == "sequential":
        bins = _bins_sequential(lengths, max_length)
    else:
        raise InputError(
            f"unknown packing strategy {strategy!r} (best_fit, best_fit_ordered or sequential)",
            field="strategy",
        )
    out = PackResult(max_length=max_length)
    for b in bins:
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for i in b:
            s_ids, s_labels, s_pos = _segment(rows[i])
            ids += s_ids
            labels += s_labels
            pos += s_pos
        pad = max_length - len(ids)
        out.rows.append(
            {
                "input_ids": ids + [pad_token_id] * pad,
                "labels": labels + [IGNORE_INDEX] * pad,
                "position_ids": pos + list(range(pad)),
                "seq_lens": [lengths[i] for i in b],
                "indices": list(b),
            }
        )
    return out


def pad_free_batches(rows: Sequence[dict[str, Sequence[int]]], batch_size: int) -> list[dict[str, Any]]:
    """Concatenate each batch of ``batch_size`` rows into one row without padding.

    Args:
        rows: encoded rows, in the order to batch them.
        batch_size: examples per batch.

    Returns:
        One dict per batch: ``input_ids``, ``labels``, ``position_ids`` (restarting at each
        example), ``seq_lens`` and ``cu_seq_lens`` (cumulative starts, for varlen attention kernels).
        Feed it with ``position_ids`` and no ``attention_mask``.

    Raises:
        InputError: a non-positive batch size or an empty row.
    """
    if batch_size < 1:
        raise InputError("batch_size must be positive", field="batch_size")
    out = []
    for start in range(0, len(rows), batch_size):
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        lens = []
        for r in rows[start : start + batch_size]:
            if not r["input_ids"]:
                raise InputError("empty row", field="input_ids")
            s_ids, s_labels, s_pos = _segment(r)
            ids += s_ids
            labels += s_labels
            pos += s_pos
            lens.append(len(s_ids))
        cu = [0]
        for n in lens:
            cu.append(cu[-1] + n)
        out.append(
            {"input_ids": ids, "labels": labels, "position_ids": pos, "seq_lens": lens, "cu_seq_lens": cu}
        )
    return out
