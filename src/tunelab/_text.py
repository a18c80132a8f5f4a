"""Reading text a user hands over: UTF-8 checked in one clear line, and YAML bounded.

- :func:`check_text_file`: a UTF-16/32 byte-order mark (named, with the conversion command) or binary bytes
  is one error line, never a ``UnicodeDecodeError`` traceback or one problem per line.
- :func:`read_text_file`: the checked file decoded as UTF-8 (a bad byte names its line and column).
- :func:`load_yaml`: ``yaml.safe_load`` with bounds on nesting depth and on the size the document has once
  its aliases are expanded (a "billion laughs" file of a few hundred bytes would otherwise grow to
  gigabytes), and the line of every key, so later errors can say ``FILE:LINE: key``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tunelab.errors import InputError

__all__ = [
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "apply_overrides",
    "check_text_file",
    "load_yaml",
    "parse_scalar",
    "read_text_file",
]

#: Nesting levels of mappings and lists in a YAML document.
MAX_YAML_DEPTH = 64
#: Values in a YAML document with its aliases expanded (the shipped configs have a few hundred).
MAX_YAML_NODES = 100_000

_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "UTF-32 LE", "UTF-32LE"),
    (b"\x00\x00\xfe\xff", "UTF-32 BE", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16 LE", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16 BE", "UTF-16BE"),
)


def check_text_file(path: str | os.PathLike[str], what: str = "file") -> None:
    """Refuse, in one line, a file that is not UTF-8 text: a UTF-16/32 byte-order mark, or binary bytes.

    Args:
        path: the file.
        what: what it is, for the message (``data file``, ``config``).

    Raises:
        InputError: UTF-16 or UTF-32 (the mark is named, with the conversion command), or NUL bytes in the
            first 8 KiB (a binary file, or UTF-16 without a mark).
    """
    with open(path, "rb") as fh:
        head = fh.read(8192)
    for bom, name, iconv in _BOMS:
        if head.startswith(bom):
            raise InputError(
                f"this {what} is {name} (it starts with the {name} byte-order mark); tunelab reads UTF-8: "
                f"convert it first, e.g. iconv -f {iconv} -t UTF-8 {path} > converted",
                file=str(path),
                line=1,
                field="encoding",
            )
    if b"\x00" in head:
        utf16ish = head.count(b"\x00") * 3 >= len(head)
        hint = (
            "UTF-16 or UTF-32 text without a byte-order mark? convert it to UTF-8"
            if utf16ish
            else f"it starts with {head[:8]!r}"
        )
        raise InputError(
            f"this {what} is binary, not UTF-8 text ({hint})", file=str(path), line=1, field="encoding"
        )


def read_text_file(path: str | os.PathLike[str], what: str = "file") -> str:
    """A UTF-8 text file's content (a leading UTF-8 byte-order mark dropped).

    Raises:
        InputError: UTF-16/32, binary, or a byte that is not UTF-8 (its line and column named).
    """
    check_text_file(path, what)
    data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        bad = data[e.start : e.start + 1].hex()
        raise InputError(
            f"not valid UTF-8 (byte 0x{bad} at column {col})", file=str(path), line=line, field="encoding"
        ) from None


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_bounds(root: Any, source: str | None) -> None:
    """Depth and alias-expanded size of a composed YAML node graph, each node visited once."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        k = id(node)
        if done:
            kids = [measured[id(c)] for c in _children(node)]
            size, depth = 1 + sum(s for s, _ in kids), 1 + max((d for _, d in kids), default=0)
            measured[k] = (size, depth)
            active.discard(k)
            line = node.start_mark.line + 1
            if depth > MAX_YAML_DEPTH:
                raise InputError(f"nested more than {MAX_YAML_DEPTH} levels deep", file=source, line=line)
            if size > MAX_YAML_NODES:
                raise InputError(
                    f"expands to more than {MAX_YAML_NODES:,} values (aliases repeated inside aliases?)",
                    file=source,
                    line=line,
                    field="yaml",
                )
            continue
        if k in measured:
            continue
        if k in active:
            line = node.start_mark.line + 1
            raise InputError(
                "an alias refers to a value that contains it", file=source, line=line, field="yaml"
            )
        active.add(k)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in measured)


def _key_lines(root: Any) -> dict[str, int]:
    """Dotted key path (``train.lr``, ``data.sources[0].path``) -> 1-based line, for the document's own keys."""
    import yaml

    lines: dict[str, int] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    path = f"{prefix}.{key.value}" if prefix else str(key.value)
                    lines.setdefault(path, key.start_mark.line + 1)
                    stack.append((value, path))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                path = f"{prefix}[{i}]"
                lines.setdefault(path, item.start_mark.line + 1)
                stack.append((item, path))
    return lines


def load_yaml(text: str, source: str | None = None) -> tuple[Any, dict[str, int]]:
    """Parse one YAML document safely and within bounds.

    Args:
        text: the YAML text.
        source: the file, for messages.

    Returns:
        ``(value, key_lines)``: the document (``None`` when empty) and the line of each key path.

    Raises:
        InputError: invalid YAML (with its line), nesting deeper than :data:`MAX_YAML_DEPTH`, or more than
            :data:`MAX_YAML_NODES` values once aliases are expanded.
    """
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise InputError(
            f"nested more than {MAX_YAML_DEPTH} levels deep", file=source, field="yaml"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise InputError(f"invalid YAML: {problem}", file=source, line=line, field="yaml") from e
    if node is None:
        return None, {}
    _check_bounds(node, source)
    lines = _key_lines(node)  # before construction, which rewrites merge keys (<<) in place
    loader = yaml.SafeLoader("")
    try:
        value = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(
            f"invalid YAML: {getattr(e, 'problem', e)}", file=source, line=line, field="yaml"
        ) from e
    finally:
        loader.dispose()
    return value, lines


def parse_scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` (or ``--section.key=value``) overrides to a mapping.

    Values are parsed as YAML scalars (``3`` is an int, ``[a, b]`` a list, ``true`` a bool).
    """
    out = dict(values)
    for raw in overrides:
        item = raw[2:] if raw.startswith("--") else raw
        if "=" not in item:
            raise InputError(f"override {raw!r} must look like --section.key=value", field="overrides")
        dotted, text = item.split("=", 1)
        parts = dotted.split(".")
        node = out
        for p in parts[:-1]:
            child = node.get(p)
            child = dict(child) if isinstance(child, dict) else {}
            node[p] = child
            node = child
        node[parts[-1]] = parse_scalar(text)
    return out
