"""Shared pieces of the benchmark adapters: field checks, prompt rendering, readers, registration.

Every adapter is a ``parse(record, structured_as_text) -> (Example | None, [(field, message)])`` function
registered with :func:`tunelab.data.register_format`. Released layouts that are not one record per JSON
object (a dict keyed by PMID, nested questions per TAT-QA context, ``sentence@label`` text lines) get a
reader here that yields :class:`tunelab.data.RawRecord` objects with the file and the line of each record,
so problems name file, line and field exactly like the generic readers do.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from tunelab.data import (
    Example,
    FieldProblem,
    Format,
    RawRecord,
    file_kind,
    get_format,
    json_type_name,
    maybe_json,
    read_jsonl,
    read_records,
    register_format,
)
from tunelab.errors import InputError, Problem

__all__ = [
    "Parse",
    "Reader",
    "BENCH_READERS",
    "register_benchmark",
    "read_benchmark_records",
    "load_benchmark",
    "render_table",
    "single_turn",
]

Parse = Callable[[dict[str, Any], bool], tuple[Example | None, list[FieldProblem]]]
Reader = Callable[[str | os.PathLike[str]], Iterator[RawRecord]]

#: format name -> reader for layouts the generic readers cannot split into one record per item
BENCH_READERS: dict[str, Reader] = {}


type_name = json_type_name  # JSON-style type name for messages (one implementation, in the data layer)


def need_text(
    d: dict[str, Any], key: str, probs: list[FieldProblem], where: str = "", required: bool = True
) -> str:
    """A non-empty string field (problems are appended; ``""`` is returned on a problem)."""
    fld = f"{where}{key}"
    if key not in d or d[key] is None:
        if required:
            probs.append((fld, "missing"))
        return ""
    v = d[key]
    if not isinstance(v, str):
        probs.append((fld, f"expected a string, got {type_name(v)}"))
        return ""
    if required and not v.strip():
        probs.append((fld, "empty"))
    return v


def need_text_list(
    d: dict[str, Any], key: str, probs: list[FieldProblem], as_text: bool, where: str = ""
) -> list[str]:
    """A list of strings (may be empty)."""
    fld = f"{where}{key}"
    if key not in d:
        probs.append((fld, "missing"))
        return []
    v = maybe_json(d[key], as_text)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        probs.append((fld, f"expected an array of strings, got {type_name(v)}"))
        return []
    return list(v)


def need_table(v: Any, fld: str, probs: list[FieldProblem], as_text: bool) -> list[list[str]]:
    """A table as rows of cells; cells that are numbers become their text."""
    v = maybe_json(v, as_text)
    if not isinstance(v, list) or not v:
        probs.append((fld, f"expected a non-empty array of rows, got {type_name(v)}"))
        return []
    rows: list[list[str]] = []
    for i, row in enumerate(v):
        if not isinstance(row, list) or not all(
            isinstance(c, str | int | float) and not isinstance(c, bool) for c in row
        ):
            probs.append(
                (f"{fld}[{i}]", f"expected an array of cells (strings or numbers), got {type_name(row)}")
            )
            continue
        rows.append([str(c) for c in row])
    return rows


def record_id(d: dict[str, Any], key: str, probs: list[FieldProblem]) -> str:
    """The record's id as a string ("" when absent)."""
    v = d.get(key, "")
    if isinstance(v, bool) or not isinstance(v, str | int):
        probs.append((key, f"expected a string, got {type_name(v)}"))
        return ""
    return str(v)


def render_table(rows: list[list[str]]) -> str:
    """A table as pipe rows, one line per row: ``| cell | cell |`` (a ``|`` inside a cell becomes ``\\|``).

    Args:
        rows: the rows of cells, header row first as the data set gives it.

    Returns:
        The table text (no separator line: benchmark tables often have no single header row).
    """

    def cell(c: str) -> str:
        return " ".join(str(c).split()).replace("|", "\\|")

    return "\n".join("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)


def single_turn(ex_id: str, user: str, assistant: str, meta: dict[str, Any]) -> Example:
    """An Example of one user turn (the prompt) and one assistant turn (the reference answer)."""
    return Example(
        messages=[{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        meta=meta,
        id=ex_id,
    )


def register_benchmark(
    name: str,
    parse: Parse,
    detect: Callable[[Collection[str]], bool] | None = None,
    read: Reader | None = None,
    turns_field: str = "messages",
) -> None:
    """Register a read-only benchmark shape with the data layer's format registry.

    Args:
        name: the ``--format`` name.
        parse: the record parser.
        detect: key-based detection (``None`` = only by name).
        read: a reader for layouts the generic readers cannot split; passed to the registry when its
            :class:`~tunelab.data.Format` has a ``read`` field, and always usable through
            :func:`load_benchmark`.
        turns_field: the field named when a conversation lacks a final assistant turn.
    """
    kwargs: dict[str, Any] = {}
    if read is not None:
        BENCH_READERS[name] = read
        if "read" in {f.name for f in dataclasses.fields(Format)}:
            kwargs["read"] = read
    register_format(Format(name, parse, None, detect, turns_field, **kwargs), replace=True)


def read_benchmark_records(path: str | os.PathLike[str], format: str) -> Iterator[RawRecord]:
    """The raw records of a benchmark file: its own reader when it has one, else the generic readers.

    Raises:
        InputError: unreadable file.
    """
    reader = BENCH_READERS.get(format)
    return reader(path) if reader is not None else read_records(path)


def load_benchmark(path: str | os.PathLike[str], format: str, training: bool = False) -> list[Example]:
    """Read a benchmark file in its released layout into examples, checking every record.

    This is the same parse path as ``tunelab.data.load(path, format=...)``; it also works for the layouts
    that need their own reader (``tatqa``, ``pubmedqa``, ``phrasebank``) before the data layer dispatches
    to format readers itself.

    Args:
        path: the file.
        format: a benchmark format name.
        training: require a final assistant turn (every benchmark example has one).

    Returns:
        The examples in file order; ids default to ``<file stem>-<line>``.

    Raises:
        InputError: every problem found (file, line, field), or an unreadable file / unknown format.
    """
    fmt = get_format(format)
    out: list[Example] = []
    problems: list[Problem] = []
    for rec in read_benchmark_records(path, format):
        probs = list(rec.problems)
        if rec.data is not None:
            ex, fprobs = fmt.parse(rec.data, rec.structured_as_text)
            probs += [Problem(msg, rec.file, rec.line, fld) for fld, msg in fprobs]
            if ex is not None and training and ex.response is None:
                probs.append(
                    Problem(
                        "conversation does not end with an assistant turn",
                        rec.file,
                        rec.line,
                        fmt.turns_field,
                    )
                )
            if ex is not None and not probs:
                if not ex.id:
                    ex.id = f"{Path(rec.file).stem}-{rec.line}"
                out.append(ex)
        problems += probs
    if problems:
        raise InputError(problems=problems[:20], total=len(problems))
    return out


# ---------------------------------------------------------------- readers for JSON containers


def read_json_lines(path: str | os.PathLike[str]) -> Iterator[RawRecord]:
    """Records of a file of JSON lines whatever its extension (MedMCQA releases JSON lines as ``.json``);
    other files go to the generic readers.

    Raises:
        InputError: the file cannot be read.
    """
    p = Path(path)
    if (
        p.is_file()
        and file_kind(p) == "json"
        and p.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"
    ):
        yield from read_jsonl(p)
    else:
        yield from read_records(path)


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _line_at(text: str, i: int) -> int:
    return text.count("\n", 0, i) + 1


def read_json_text(path: str | os.PathLike[str]) -> tuple[str | None, RawRecord | None]:
    """The UTF-8 text of a JSON file, or a problem record (missing file raises)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=str(path))
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return None, RawRecord(str(p), line, None, [Problem("not valid UTF-8", str(p), line, "encoding")])


def iter_json_object_items(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any, int] | RawRecord]:
    """``(key, value, line)`` for each member of a top-level JSON object (line of the key), streaming the
    members one at a time; a decoding problem is yielded as a :class:`RawRecord` carrying it, then stops."""
    f = str(path)
    text, bad = read_json_text(path)
    if text is None:
        assert bad is not None
        yield bad
        return
    dec = json.JSONDecoder()
    i = _skip_ws(text, 0)
    if i >= len(text) or text[i] != "{":
        yield RawRecord(
            f,
            _line_at(text, i),
            None,
            [Problem("expected a JSON object keyed by id", f, _line_at(text, i), "json")],
        )
        return
    i = _skip_ws(text, i + 1)
    if i < len(text) and text[i] == "}":
        return
    while True:
        line = _line_at(text, i)
        try:
            key, j = dec.raw_decode(text, i)
            if not isinstance(key, str):
                raise json.JSONDecodeError("expected a string key", text, i)
            j = _skip_ws(text, j)
            if j >= len(text) or text[j] != ":":
                raise json.JSONDecodeError("expected ':'", text, j)
            value, j = dec.raw_decode(text, _skip_ws(text, j + 1))
        except json.JSONDecodeError as e:
            yield RawRecord(
                f,
                e.lineno,
                None,
                [Problem(f"malformed JSON: {e.msg} (column {e.colno})", f, e.lineno, "json")],
            )
            return
        yield key, value, line
        j = _skip_ws(text, j)
        if j < len(text) and text[j] == ",":
            i = _skip_ws(text, j + 1)
            continue
        if j < len(text) and text[j] == "}":
            return
        ln = _line_at(text, j)
        yield RawRecord(
            f, ln, None, [Problem("malformed JSON: expected ',' or '}' between members", f, ln, "json")]
        )
        return
