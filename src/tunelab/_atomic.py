"""Atomic outputs: every file tunelab writes for a user appears complete at its final path, or not at all.

Each writer writes a temporary file in the destination's own folder (so the rename stays on one file
system), flushes and ``fsync``s it, renames it over the destination with :func:`os.replace` (atomic on
POSIX and Windows) and ``fsync``s the folder so the rename survives a power cut. A command killed at any
point leaves the previous complete file, or nothing, at the final path, plus at most a hidden
``.NAME.*.tmp`` file beside it.

- :func:`atomic_open`: a file object for text or bytes.
- :func:`atomic_path`: a temporary path, for libraries that write to a path themselves (pyarrow).
- :func:`atomic_dir`: a temporary folder, for model folders (``save_pretrained``).
- :func:`write_atomic`, :func:`write_text_atomic`: JSONL records or a text in one call.
- :func:`refuse_same_path`: an output that would overwrite one of the command's inputs is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tunelab.errors import InputError

__all__ = [
    "atomic_open",
    "atomic_path",
    "atomic_dir",
    "write_atomic",
    "write_text_atomic",
    "fsync_dir",
    "refuse_same_path",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable by itself
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) entries: give outputs the modes a plain open() would
_UMASK = _umask()


def _temp_name(final: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` (after ``fsync``) when the block succeeds.

    Args:
        path: the final file; its folder is created when missing.

    Yields:
        The temporary path to write (it exists, empty).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


@contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing through a temporary file renamed into place when the block succeeds.

    Args:
        path: the final file.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: text encoding (ignored in binary mode).

    Yields:
        The open file. An exception in the block leaves ``path`` as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        kw: dict[str, Any] = {"encoding": encoding, "newline": ""} if mode == "w" else {}
        with open(tmp, mode, **kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_open(path) as fh:
        fh.write(text)


def write_atomic(path: str | os.PathLike[str], objs: Iterable[dict[str, Any]]) -> int:
    """Write objects as a JSONL file atomically (readers never see half a file).

    Returns:
        The number of lines written.
    """
    n = 0
    with atomic_open(path) as fh:
        for o in objs:
            fh.write(json.dumps(o, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n


@contextmanager
def atomic_dir(path: str | os.PathLike[str], replaces: str | None = None) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces ``path`` when the block succeeds.

    Every file written into it is ``fsync``ed before the swap. An existing ``path`` is moved aside, the
    new folder renamed into place, then the old one deleted: a kill leaves the old folder or the new one
    at ``path`` (and a hidden ``.NAME.*`` folder beside it), never a half-written mix.

    Args:
        path: the final folder.
        replaces: a file name an existing non-empty ``path`` must hold to be replaced (``config.json`` for a
            model folder), so that a folder of something else is never deleted.

    Yields:
        The temporary folder to fill.

    Raises:
        InputError: ``path`` is a file, or a non-empty folder without ``replaces``.
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise InputError("exists and is a file, not a folder", file=str(path), field="output")
    if replaces and final.is_dir() and any(final.iterdir()) and not (final / replaces).exists():
        raise InputError(
            f"exists and holds no {replaces}: not a previous output, so it is not replaced; choose another path",
            file=str(path),
            field="output",
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        for root, _, files in os.walk(tmp):
            for name in files:
                _fsync_file(Path(root) / name)
            fsync_dir(root)
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / final.name)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def refuse_same_path(
    output: str | os.PathLike[str], output_name: str, inputs: dict[str, str | os.PathLike[str] | None]
) -> None:
    """Refuse an output path that is one of the inputs (or holds it), which writing would destroy.

    Args:
        output: the path about to be written.
        output_name: its option or argument name, for the message (``--out``, ``DST``).
        inputs: option name -> input path (``None`` entries are ignored).

    Raises:
        InputError: ``output`` resolves to an input, or is a folder that contains one.
    """
    out = Path(output).expanduser().resolve()
    for name, inp in inputs.items():
        if inp is None:
            continue
        p = Path(inp).expanduser()
        if not p.exists():
            continue
        src = p.resolve()
        if src == out or out in src.parents:
            what = "is" if src == out else "contains"
            raise InputError(
                f"{what} the input {name} ({inp}); writing it would destroy that input; choose another path",
                file=str(output),
                field=output_name,
            )
