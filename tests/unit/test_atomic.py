"""tunelab._atomic: outputs appear complete or not at all; an output onto an input is refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tunelab._atomic import atomic_dir, atomic_open, refuse_same_path, write_atomic, write_text_atomic
from tunelab.errors import InputError


class Boom(Exception):
    pass


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    write_atomic(out, [{"a": 1}, {"a": 2}])
    before = out.read_bytes()
    with pytest.raises(Boom), atomic_open(out) as fh:
        fh.write('{"a": 3}\n')
        raise Boom
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "new.txt"
    with pytest.raises(Boom), atomic_open(out) as fh:
        fh.write("half")
        raise Boom
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_written_files_have_the_mode_a_plain_open_gives(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    out = tmp_path / "atomic.txt"
    write_text_atomic(out, "x")
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_write_atomic_counts_lines(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    assert write_atomic(out, ({"i": i} for i in range(5))) == 5
    assert [json.loads(x)["i"] for x in out.read_text().splitlines()] == [0, 1, 2, 3, 4]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with atomic_dir(out) as d:
        (d / "config.json").write_text("{}")
        (d / "old.bin").write_text("old")
    with pytest.raises(Boom), atomic_dir(out) as d:
        (d / "config.json").write_text('{"new": 1}')
        raise Boom
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "old.bin"]
    assert (out / "config.json").read_text() == "{}"
    with atomic_dir(out) as d:
        (d / "config.json").write_text('{"new": 1}')
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]  # nothing of the old folder is mixed in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_refuse_same_path_names_the_output_and_the_input(tmp_path: Path) -> None:
    src = tmp_path / "data.jsonl"
    src.write_text("{}\n")
    with pytest.raises(InputError) as e:
        refuse_same_path(tmp_path / "." / "data.jsonl", "DST", {"SRC": str(src)})
    assert e.value.problems[0].field == "DST" and "is the input SRC" in str(e.value)
    base = tmp_path / "base"
    base.mkdir()
    with pytest.raises(InputError, match="contains the input --base"):
        refuse_same_path(tmp_path, "--out", {"--base": str(base)})
    os.symlink(src, tmp_path / "link.jsonl")
    with pytest.raises(InputError):
        refuse_same_path(tmp_path / "link.jsonl", "DST", {"SRC": str(src)})
    refuse_same_path(tmp_path / "other.jsonl", "DST", {"SRC": str(src), "--x": None})
