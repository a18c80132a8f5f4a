"""Readers and writers for record files: JSONL, JSON, CSV, Parquet, saved HF datasets, hub ids.

Readers yield :class:`RawRecord` objects one at a time (JSONL and CSV are streamed line by line);
each carries its source file and line (row for Parquet and HF datasets) so every later error
can name where it came from. A record that cannot be decoded carries a :class:`Problem`
instead of data, so one pass reports every problem.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunelab._atomic import atomic_open, atomic_path, write_atomic
from tunelab._text import check_text_file
from tunelab.data._guards import (
    MAX_RECORD_BYTES,
    TooDeep,
    depth_problem,
    loads_bounded,
    read_lines_bounded,
    record_too_large,
)
from tunelab.errors import InputError, Problem

__all__ = [
    "RawRecord",
    "read_records",
    "read_jsonl",
    "write_records",
    "file_kind",
    "json_type_name",
    "WRITE_KINDS",
]

WRITE_KINDS = {".jsonl": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
_READ_KINDS = {**WRITE_KINDS, ".ndjson": "jsonl"}


@dataclass
class RawRecord:
    """One record as read from a file, before any format is applied.

    Attributes:
        file: the source file (or dataset id) for error messages.
        line: 1-based line number (JSONL, JSON, CSV) or row number (Parquet, HF datasets).
        data: the decoded object, or ``None`` when it could not be decoded.
        problems: decoding problems (malformed JSON, non-UTF-8 bytes, not an object).
        raw: the undecoded text, kept for the rejected-records side file.
        structured_as_text: True when nested values arrive as text (CSV) and may be JSON-decoded.
    """

    file: str
    line: int
    data: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    raw: str | None = None
    structured_as_text: bool = False


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """The file type from the extension (``jsonl``, ``json``, ``csv``, ``parquet``), or ``None``."""
    return _READ_KINDS.get(Path(path).suffix.lower())


def read_records(path: str | os.PathLike[str], split: str | None = None) -> Iterator[RawRecord]:
    """Yield the records of a file, a saved HF dataset folder or (when not local) an HF hub id.

    Args:
        path: the file, folder or hub id (``org/name`` or ``org/name:split``).
        split: the split to read from a dataset dict or hub dataset (default: ``train`` or the only one).

    Yields:
        One :class:`RawRecord` per record, in file order.

    Raises:
        InputError: the path does not exist, or its type is not supported.
    """
    p = Path(path)
    if p.is_dir():
        yield from _read_hf_disk(p, split)
        return
    if not p.exists():
        if _looks_like_hub_id(str(path)):
            yield from _read_hf_hub(str(path), split)
            return
        raise InputError("no such file or directory", file=str(path))
    kind = file_kind(p)
    if kind in ("jsonl", "json", "csv"):
        check_text_file(p, "data file")
    if kind == "jsonl":
        yield from read_jsonl(p)
    elif kind == "json":
        yield from _read_json(p)
    elif kind == "csv":
        yield from _read_csv(p)
    elif kind == "parquet":
        yield from _read_parquet(p)
    else:
        raise InputError(
            f"unsupported file type {p.suffix!r} (use .jsonl, .json, .csv, .parquet or a saved dataset folder)",
            file=str(p),
        )


def _looks_like_hub_id(s: str) -> bool:
    name = s.split(":", 1)[0]
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(parts) and not s.startswith((".", "/")) and file_kind(name) is None


def _decode(raw: bytes, file: str, line: int) -> tuple[str, Problem | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as e:
        bad = raw[e.start : e.start + 1].hex()
        prob = Problem(f"not valid UTF-8 (byte 0x{bad} at column {e.start + 1})", file, line, "encoding")
        return raw.decode("utf-8", errors="replace"), prob


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """Yield the records of a file of JSON lines, whatever its extension (each with file and line).

    Raises:
        InputError: the file cannot be read, or a line is not a JSON object.
    """
    p = Path(path)
    f = str(p)
    with p.open("rb") as fh:
        for lineno, raw, size in read_lines_bounded(fh):
            if raw is None:
                yield RawRecord(f, lineno, None, [Problem(record_too_large(size), f, lineno, "record")])
                continue
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if not raw.strip():
                continue
            text, prob = _decode(raw, f, lineno)
            if prob is not None:
                yield RawRecord(f, lineno, None, [prob], raw=text.rstrip("\r\n"))
                continue
            yield _parse_json_object(text.rstrip("\r\n"), f, lineno)


def _parse_json_object(text: str, f: str, lineno: int) -> RawRecord:
    try:
        obj = loads_bounded(text)
    except json.JSONDecodeError as e:
        return RawRecord(
            f,
            lineno,
            None,
            [Problem(f"malformed JSON: {e.msg} (column {e.colno})", f, lineno, "json")],
            raw=text,
        )
    except TooDeep as e:
        return RawRecord(f, lineno, None, [Problem(str(e), f, lineno, e.field)], raw=text)
    if not isinstance(obj, dict):
        prob = Problem(f"expected a JSON object, got {json_type_name(obj)}", f, lineno, "json")
        return RawRecord(f, lineno, None, [prob], raw=text)
    return RawRecord(f, lineno, obj, raw=text)


def json_type_name(v: Any) -> str:
    """JSON-style type name of a value, for problem messages."""
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(v), "null" if v is None else type(v).__name__)


def _read_json(p: Path) -> Iterator[RawRecord]:
    f = str(p)
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        bad = data[e.start : e.start + 1].hex()
        yield RawRecord(
            f, line, None, [Problem(f"not valid UTF-8 (byte 0x{bad} at column {col})", f, line, "encoding")]
        )
        return
    dec = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i < len(text) and text[i] == "{":
        rec, end = _json_value_at(dec, text, i, f)
        if end >= 0 and _skip_ws(text, end) < len(text):
            # more after the first object: JSON lines saved as .json (MedMCQA ships so); read every line
            yield from read_jsonl(p)
            return
        yield rec
        return
    if i >= len(text) or text[i] != "[":
        yield RawRecord(f, 1, None, [Problem("expected a JSON array of objects", f, 1, "json")])
        return
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while i < len(text):
        rec, end = _json_value_at(dec, text, i, f)
        yield rec
        if end < 0:
            return
        i = _skip_ws(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip_ws(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            return
        line = text.count("\n", 0, i) + 1
        yield RawRecord(
            f, line, None, [Problem("malformed JSON: expected ',' or ']' between records", f, line, "json")]
        )
        return


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _json_value_at(dec: json.JSONDecoder, text: str, i: int, f: str) -> tuple[RawRecord, int]:
    line = text.count("\n", 0, i) + 1
    try:
        obj, end = dec.raw_decode(text, i)
    except json.JSONDecodeError as e:
        return RawRecord(
            f, e.lineno, None, [Problem(f"malformed JSON: {e.msg} (column {e.colno})", f, e.lineno, "json")]
        ), -1
    except RecursionError:
        return RawRecord(f, line, None, [Problem(str(TooDeep()), f, line, "json")]), -1
    if end - i > MAX_RECORD_BYTES:
        return RawRecord(f, line, None, [Problem(record_too_large(end - i), f, line, "record")]), end
    deep = depth_problem(obj)
    if deep is not None:
        return RawRecord(f, line, None, [Problem(deep[1], f, line, deep[0])]), end
    if not isinstance(obj, dict):
        return RawRecord(
            f, line, None, [Problem(f"expected a JSON object, got {json_type_name(obj)}", f, line, "json")]
        ), end
    return RawRecord(f, line, obj, raw=text[i:end]), end


def _read_csv(p: Path) -> Iterator[RawRecord]:
    f = str(p)
    bad_lines: dict[int, Problem] = {}

    def lines() -> Iterator[str]:
        with p.open("rb") as fh:
            for lineno, raw, size in read_lines_bounded(fh):
                if raw is None:
                    bad_lines[lineno] = Problem(record_too_large(size), f, lineno, "record")
                    yield "\n"
                    continue
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                text, prob = _decode(raw, f, lineno)
                if prob is not None:
                    bad_lines[lineno] = prob
                yield text

    reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        return
    if 1 in bad_lines:
        yield RawRecord(f, 1, None, [bad_lines[1]])
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield RawRecord(f, start, None, [Problem(f"malformed CSV: {e}", f, start, "csv")])
            return
        end = reader.line_num
        probs = [bad_lines[n] for n in range(start, end + 1) if n in bad_lines]
        if not any(c.strip() for c in row):
            if probs:  # a line too long to read, or undecodable bytes, on an otherwise empty row
                yield RawRecord(f, start, None, probs, structured_as_text=True)
            start = end + 1
            continue
        if len(row) != len(header):
            probs.append(Problem(f"expected {len(header)} columns, got {len(row)}", f, start, "csv"))
        raw = ",".join(row)
        if probs:
            yield RawRecord(f, start, None, probs, raw=raw, structured_as_text=True)
        else:
            # CSV has no null: an empty cell means "absent" so optional fields round-trip.
            data = {k: v for k, v in zip(header, row) if v != ""}
            yield RawRecord(f, start, data, raw=raw, structured_as_text=True)
        start = end + 1


def _read_parquet(p: Path) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    f = str(p)
    try:
        pf = pq.ParquetFile(p)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise InputError(f"cannot read Parquet file: {e}", file=f) from e
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for obj in batch.to_pylist():
            row += 1
            yield RawRecord(f, row, _drop_nulls(obj), structured_as_text=True)


def _drop_nulls(obj: dict[str, Any]) -> dict[str, Any]:
    # Parquet columns are the union of all records' keys: a null means "absent in this record".
    return {k: v for k, v in obj.items() if v is not None}


def _read_hf_disk(p: Path, split: str | None) -> Iterator[RawRecord]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(p))
    except Exception as e:  # datasets raises FileNotFoundError or its own errors
        raise InputError(f"not a saved Hugging Face dataset folder: {e}", file=str(p)) from e
    yield from _iter_dataset(ds, str(p), split)


def _read_hf_hub(name: str, split: str | None) -> Iterator[RawRecord]:
    import datasets

    repo, _, sp = name.partition(":")
    try:
        ds = datasets.load_dataset(repo, split=sp or split or None)
    except Exception as e:  # offline, unknown id, gated repo...
        raise InputError(f"cannot load Hugging Face dataset: {e}", file=name) from e
    yield from _iter_dataset(ds, name, None)


def _iter_dataset(ds: Any, name: str, split: str | None) -> Iterator[RawRecord]:
    if (
        hasattr(ds, "keys")
        and not hasattr(ds, "column_names")
        or isinstance(getattr(ds, "column_names", None), dict)
    ):
        splits = list(ds.keys())
        chosen = split or ("train" if "train" in splits else (splits[0] if len(splits) == 1 else None))
        if chosen is None or chosen not in splits:
            raise InputError(f"dataset has splits {splits}; name one with NAME:SPLIT", file=name)
        ds = ds[chosen]
    for row, obj in enumerate(ds, start=1):
        yield RawRecord(name, row, _drop_nulls(dict(obj)), structured_as_text=True)


def write_records(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> int:
    """Write records to a file whose type is given by its extension.

    The file appears complete or not at all (a temporary file renamed into place, see
    :mod:`tunelab._atomic`). Nested values (lists, objects) are stored natively in JSON/JSONL; in CSV they are
    JSON-encoded text; in Parquet objects (such as ``meta``, whose keys vary) are JSON-encoded
    text while lists of uniform objects (``messages``) stay native.

    Args:
        path: output file (``.jsonl``, ``.json``, ``.csv`` or ``.parquet``).
        records: the records.

    Returns:
        The number of records written.

    Raises:
        InputError: unsupported extension, or values Parquet cannot store in one column.
    """
    p = Path(path)
    kind = WRITE_KINDS.get(p.suffix.lower())
    if kind is None:
        raise InputError(
            f"unsupported output type {p.suffix!r} (use .jsonl, .json, .csv or .parquet)", file=str(p)
        )
    if kind == "jsonl":
        return write_atomic(p, records)
    rows = list(records)
    if kind == "json":
        with atomic_open(p) as fh:
            fh.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    elif kind == "csv":
        _write_csv(p, rows)
    else:
        _write_parquet(p, rows)
    return len(rows)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def _write_csv(p: Path, rows: list[dict[str, Any]]) -> None:
    cols = _columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if v is None:
                cells.append("")
            elif isinstance(v, str):
                cells.append(v)
            else:
                cells.append(json.dumps(v, ensure_ascii=False))
        w.writerow(cells)
    with atomic_open(p) as fh:
        fh.write(buf.getvalue())


def _write_parquet(p: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    enc = [
        {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v) for k, v in r.items()}
        for r in rows
    ]
    try:
        table = pa.Table.from_pylist(enc)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(
            f"cannot store these records in Parquet (mixed value types in a column?): {e}", file=str(p)
        ) from e
    with atomic_path(p) as tmp:
        pq.write_table(table, tmp)
