"""Loading with validation: every problem in one pass, nothing dropped without being counted."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import write_atomic
from tunelab.data._example import Example
from tunelab.data._formats import Format, detect_format, format_names, get_format
from tunelab.data._guards import MAX_TURNS, depth_problem, turn_order_problems
from tunelab.data._io import RawRecord, read_records
from tunelab.errors import InputError, Problem, cut_list

__all__ = [
    "Rejected",
    "ValidationReport",
    "validate",
    "load",
    "load_with_report",
    "iter_examples",
    "scan",
    "write_rejected",
]

log = logging.getLogger("tunelab.data")

MAX_SHOWN = 20


@dataclass
class Rejected:
    """A record that was not kept, with every reason."""

    file: str
    line: int
    problems: list[Problem]
    record: dict[str, Any] | None = None
    raw: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "reasons": [str(p) for p in self.problems],
            "record": self.record,
            **({"raw": self.raw} if self.record is None and self.raw is not None else {}),
        }


@dataclass
class ValidationReport:
    """The outcome of reading a file.

    Attributes:
        path: the input.
        format: the record shape used (named or detected).
        n_records: records read.
        n_valid: records that became examples.
        rejected: the others, each with its problems.
        rejected_path: where rejected records were written (``skip_invalid`` mode), if anywhere.
    """

    path: str
    format: str | None = None
    n_records: int = 0
    n_valid: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    rejected_path: str | None = None

    @property
    def problems(self) -> list[Problem]:
        return [p for r in self.rejected for p in r.problems]

    @property
    def ok(self) -> bool:
        return not self.rejected

    def error(self) -> InputError:
        """An :class:`InputError` listing the first problems and the total count."""
        probs = self.problems
        return InputError(problems=probs[:MAX_SHOWN], total=len(probs))

    def counts(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "records": self.n_records,
            "valid": self.n_valid,
            "rejected": len(self.rejected),
            "problems": len(self.problems),
            "rejected_path": self.rejected_path,
        }


def scan(
    path: str | os.PathLike[str],
    format: str | None = None,
    training: bool = True,
    report: ValidationReport | None = None,
) -> Iterator[tuple[RawRecord, Example | None, list[Problem]]]:
    """Read and check records one at a time.

    Args:
        path: file, saved dataset folder or hub id.
        format: a registered shape name; detected from the first record's keys when ``None``.
        training: require every conversation to end with an assistant turn.
        report: filled in as records are read (format, counts, rejected records).

    Yields:
        ``(raw record, example or None, problems)`` for every record.

    Raises:
        InputError: unknown format name, a shape that cannot be detected, an unreadable (UTF-16, binary)
            or empty file.
    """
    fmt: Format | None = get_format(format) if format else None
    rep = report if report is not None else ValidationReport(str(path))
    rep.format = fmt.name if fmt else None
    records = fmt.read(path) if fmt is not None and fmt.read is not None else read_records(path)
    for rec in records:
        rep.n_records += 1
        probs = list(rec.problems)
        ex: Example | None = None
        if rec.data is not None:
            if fmt is None:
                fmt = detect_format(list(rec.data))
                if fmt is None:
                    raise InputError(
                        f"cannot detect the format from keys [{cut_list(sorted(map(str, rec.data)))}]; "
                        "name one with --format "
                        f"({', '.join(format_names())})",
                        file=rec.file,
                        line=rec.line,
                        field="format",
                    )
                rep.format = fmt.name
            ex, fprobs = _parse_guarded(fmt, rec)
            probs += [Problem(msg, rec.file, rec.line, fld) for fld, msg in fprobs]
            if ex is not None and training and ex.messages and ex.messages[-1]["role"] != "assistant":
                last = ex.messages[-1]["role"]
                probs.append(
                    Problem(
                        f"conversation does not end with an assistant turn (last: {last})",
                        rec.file,
                        rec.line,
                        fmt.turns_field,
                    )
                )
        if probs:
            ex = None
            rep.rejected.append(Rejected(rec.file, rec.line, probs, rec.data, rec.raw))
        else:
            rep.n_valid += 1
        yield rec, ex, probs
    if rep.n_records == 0:
        raise InputError("no records: the file is empty", file=str(path))


def _parse_guarded(fmt: Format, rec: RawRecord) -> tuple[Example | None, list[tuple[str, str]]]:
    """``fmt.parse`` behind the depth, turn-count and turn-order bounds (see :mod:`tunelab.data._guards`)."""
    assert rec.data is not None
    deep = depth_problem(rec.data)
    if deep is not None:
        return None, [deep]
    turns = rec.data.get(fmt.turns_field)
    if isinstance(turns, list) and len(turns) > MAX_TURNS:  # refused before parsing 10,000 turns
        return None, turn_order_problems(["user"] * len(turns), fmt.turns_field)
    ex, fprobs = fmt.parse(rec.data, rec.structured_as_text)
    if ex is not None:
        fprobs += turn_order_problems([m["role"] for m in ex.messages], fmt.turns_field)
    return (None if fprobs else ex), fprobs


def validate(
    path: str | os.PathLike[str], format: str | None = None, training: bool = True
) -> ValidationReport:
    """Check every record of a file and report all problems (nothing is raised for bad records).

    Args:
        path: file, saved dataset folder or hub id.
        format: shape name, or ``None`` to detect it.
        training: require conversations to end with an assistant turn.

    Returns:
        The :class:`ValidationReport`.

    Raises:
        InputError: the file cannot be read at all or its format cannot be determined.
    """
    rep = ValidationReport(str(path))
    for _ in scan(path, format, training, rep):
        pass
    return rep


def write_rejected(rejected: list[Rejected], path: str | os.PathLike[str]) -> None:
    """Write rejected records with their reasons, one JSON object per line (atomically)."""
    write_atomic(path, (r.to_dict() for r in rejected))


def _side_path(path: str | os.PathLike[str]) -> str:
    return f"{path}.rejected.jsonl"


def iter_examples(
    path: str | os.PathLike[str],
    format: str | None = None,
    skip_invalid: bool = False,
    training: bool = True,
    rejected_path: str | None = None,
    assign_ids: bool = True,
    report: ValidationReport | None = None,
) -> Iterator[Example]:
    """Stream the valid examples of a file.

    Problems are collected over the whole file; without ``skip_invalid`` an :class:`InputError`
    listing them is raised when the iteration ends (after the valid examples were yielded).

    Args:
        path: file, saved dataset folder or hub id.
        format: shape name, or ``None`` to detect it.
        skip_invalid: keep going, and write rejected records to ``rejected_path``.
        training: require conversations to end with an assistant turn.
        rejected_path: side file for rejected records (default ``<path>.rejected.jsonl``).
        assign_ids: give records without an id the id ``<file stem>-<line>``.
        report: filled in with counts and rejected records.

    Yields:
        Valid examples in file order.

    Raises:
        InputError: bad records (unless ``skip_invalid``), unreadable input, unknown format.
    """
    rep = report if report is not None else ValidationReport(str(path))
    for rec, ex, _ in scan(path, format, training, rep):
        if ex is not None:
            if assign_ids and not ex.id:
                ex.id = f"{Path(rec.file).stem}-{rec.line}"
            yield ex
    if rep.rejected:
        if not skip_invalid:
            raise rep.error()
        rep.rejected_path = rejected_path or _side_path(path)
        write_rejected(rep.rejected, rep.rejected_path)
    log.info(
        "%s: %d records, %d kept, %d rejected%s",
        path,
        rep.n_records,
        rep.n_valid,
        len(rep.rejected),
        f" (written to {rep.rejected_path})" if rep.rejected_path else "",
    )


def load_with_report(
    path: str | os.PathLike[str],
    format: str | None = None,
    skip_invalid: bool = False,
    training: bool = True,
    rejected_path: str | None = None,
    assign_ids: bool = True,
) -> tuple[list[Example], ValidationReport]:
    """Like :func:`load`, also returning the :class:`ValidationReport` (counts, rejected records)."""
    rep = ValidationReport(str(path))
    examples = list(iter_examples(path, format, skip_invalid, training, rejected_path, assign_ids, rep))
    return examples, rep


def load(
    path: str | os.PathLike[str], format: str | None = None, skip_invalid: bool = False, training: bool = True
) -> list[Example]:
    """Read a data file into examples, validating every record.

    Args:
        path: a .jsonl/.json/.csv/.parquet file, a saved HF dataset folder, or an HF hub id.
        format: shape name (see :func:`tunelab.data.format_names`), or ``None`` to detect it.
        skip_invalid: keep the valid records; write the rejected ones with reasons to
            ``<path>.rejected.jsonl`` (counts are logged).
        training: require conversations to end with an assistant turn.

    Returns:
        The examples, in file order.

    Raises:
        InputError: any bad record (all problems listed, first 20 shown) unless ``skip_invalid``.
    """
    return load_with_report(path, format, skip_invalid, training)[0]
