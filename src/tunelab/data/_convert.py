"""Conversion between record shapes and file types, refusing or reporting every loss."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import refuse_same_path
from tunelab.data._example import Example
from tunelab.data._formats import LossyConversion, get_format
from tunelab.data._io import WRITE_KINDS, write_records
from tunelab.data._load import MAX_SHOWN, Rejected, ValidationReport, scan, write_rejected
from tunelab.errors import InputError, Problem

__all__ = ["ConvertReport", "convert", "to_records"]


@dataclass
class ConvertReport:
    """What :func:`convert` did.

    Attributes:
        read: records read.
        written: records written.
        rejected: records not written (invalid input, or the target shape cannot hold them).
        warnings: container limits that change values on the way back (e.g. CSV stores numbers as text).
        rejected_path: the side file, when records were rejected in ``skip_invalid`` mode.
    """

    input: str
    output: str
    in_format: str | None
    out_format: str
    read: int = 0
    written: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected_path: str | None = None

    def counts(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "in_format": self.in_format,
            "out_format": self.out_format,
            "read": self.read,
            "written": self.written,
            "rejected": len(self.rejected),
            "warnings": self.warnings,
            "rejected_path": self.rejected_path,
        }


def to_records(examples: list[Example], format: str) -> list[dict[str, Any]]:
    """Render examples in a record shape.

    Raises:
        InputError: an example the shape cannot hold (all listed, with the example id).
    """
    fmt = get_format(format)
    if fmt.emit is None:
        raise InputError(f"format {format!r} is read-only", field="format")
    out, probs = [], []
    for ex in examples:
        try:
            out.append(fmt.emit(ex))
        except LossyConversion as e:
            probs.append(
                Problem(f"cannot convert to {format}: {e.message}", file=ex.id or None, field=e.field)
            )
    if probs:
        raise InputError(problems=probs[:MAX_SHOWN], total=len(probs))
    return out


def _container_warnings(kind: str, rec: dict[str, Any], seen: set[tuple[str, str]]) -> list[str]:
    out = []
    for k, v in rec.items():
        if kind == "csv" and isinstance(v, bool | int | float) and (k, "csv") not in seen:
            seen.add((k, "csv"))
            out.append(f"{k}: CSV stores text; {type(v).__name__} values such as {v!r} read back as strings")
        if kind in ("csv", "parquet") and (v is None or v == "") and (k, "null") not in seen:
            seen.add((k, "null"))
            out.append(
                f"{k}: {kind} does not tell empty or null from absent; such values read back as absent"
            )
    return out


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    format: str,
    in_format: str | None = None,
    skip_invalid: bool = False,
    training: bool = False,
) -> ConvertReport:
    """Convert a data file to another record shape and/or file type.

    The output file type follows ``dst``'s extension (.jsonl, .json, .csv, .parquet). An example the
    target shape cannot hold (e.g. a multi-turn chat into ``alpaca``) is never dropped silently: it
    is an error, or with ``skip_invalid`` a rejected record written to ``<dst>.rejected.jsonl``.

    Args:
        src: input file, saved dataset folder or hub id.
        dst: output file.
        format: output shape name.
        in_format: input shape name, or ``None`` to detect it.
        skip_invalid: write what can be written and the rest to the side file.
        training: also require conversations to end with an assistant turn.

    Returns:
        The :class:`ConvertReport`.

    Raises:
        InputError: bad input records or examples the target cannot hold (unless ``skip_invalid``), or
            ``dst`` is ``src``.
    """
    kind = WRITE_KINDS.get(Path(dst).suffix.lower())
    if kind is None:
        raise InputError(
            f"unsupported output type {Path(dst).suffix!r} (use .jsonl, .json, .csv or .parquet)",
            file=str(dst),
        )
    refuse_same_path(dst, "DST", {"SRC": src})
    fmt = get_format(format)
    if fmt.emit is None:
        raise InputError(f"format {format!r} cannot be written", field="format")
    vrep = ValidationReport(str(src))
    rep = ConvertReport(str(src), str(dst), in_format, format)
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for raw, ex, _ in scan(src, in_format, training, vrep):
        if ex is None:
            continue
        try:
            rec = fmt.emit(ex)
        except LossyConversion as e:
            prob = Problem(f"cannot convert to {format}: {e.message}", raw.file, raw.line, e.field)
            rep.rejected.append(Rejected(raw.file, raw.line, [prob], raw.data, raw.raw))
            continue
        rep.warnings += _container_warnings(kind, rec, seen)
        records.append(rec)
    rep.in_format, rep.read = vrep.format, vrep.n_records
    rep.rejected = vrep.rejected + rep.rejected
    rep.rejected.sort(key=lambda r: r.line)
    if rep.rejected and not skip_invalid:
        probs = [p for r in rep.rejected for p in r.problems]
        raise InputError(problems=probs[:MAX_SHOWN], total=len(probs))
    rep.written = write_records(dst, records)
    if rep.rejected:
        rep.rejected_path = f"{dst}.rejected.jsonl"
        write_rejected(rep.rejected, rep.rejected_path)
    return rep
