"""Hostile and broken config files: bounded YAML, one clear line each, FILE:LINE: key on every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunelab._text import MAX_YAML_NODES, load_yaml
from tunelab.config import load_config, shipped_presets
from tunelab.errors import InputError


def _err(path: Path | str) -> str:
    with pytest.raises(InputError) as e:
        load_config(path)
    return str(e.value)


def _alias_bomb(levels: int = 9) -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append(f"run_name: *{chr(96 + levels)}")  # 9**9 = 387M strings once expanded
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    f = tmp_path / "bomb.yaml"
    f.write_text(_alias_bomb())
    assert _err(f) == (
        f"{f}:6: yaml: expands to more than {MAX_YAML_NODES:,} values (aliases repeated inside aliases?)"
    )


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    value, lines = load_yaml("base: &b {lr: 0.1, steps: 3}\ntrain:\n  <<: *b\n  steps: 4\n")
    assert value["train"] == {"lr": 0.1, "steps": 4} and lines["train.steps"] == 4


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(InputError, match="an alias refers to a value that contains it"):
        load_yaml("a: &a [1, *a]\n", "r.yaml")


def test_yaml_nested_thousands_deep(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("run_name: " + "[" * 5000 + "]" * 5000 + "\n")
    assert _err(f).startswith(f"{f}") and "nested more than 64 levels deep" in _err(f)
    g = tmp_path / "deep2.yaml"
    g.write_text("run_name: " + "[" * 80 + "]" * 80 + "\n")
    assert _err(g) == f"{g}:1: nested more than 64 levels deep"


def test_a_binary_config_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    head = b"\x89PNG\r\n\x1a\n"
    f.write_bytes(head + b"\x00\x00\x00\rIHDR")
    assert _err(f) == f"{f}:1: encoding: this config is binary, not UTF-8 text (it starts with {head!r})"


def test_a_utf16_config_names_its_encoding(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes("train:\n  lr: 0.1\n".encode("utf-16"))
    msg = _err(f)
    assert msg.startswith(f"{f}:1: encoding: this config is UTF-16 LE") and "\n" not in msg


def test_a_config_with_a_bad_utf8_byte_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(b"train:\n  lr: 0.1\nrun_name: caf\xe9\n")
    assert _err(f) == f"{f}:3: encoding: not valid UTF-8 (byte 0xe9 at column 14)"


@pytest.mark.parametrize(
    ("text", "word"), [(".nan", "not a number"), (".inf", "infinite"), ("-.inf", "infinite")]
)
def test_temperature_nan_is_not_a_number(tmp_path: Path, text: str, word: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(f"eval:\n  max_new_tokens: 8\n  temperature: {text}\n")
    msg = _err(f)
    assert msg.startswith(f"{f}:3: eval.temperature: ") and word in msg


def test_range_errors_name_the_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("run_name: x\ntrain:\n  lr: 0.1\n  max_steps: 0\ndata:\n  val_ratio: 1.5\n")
    assert _err(f) == f"{f}:4: train.max_steps: must be >= 1"
    g = tmp_path / "g.yaml"
    g.write_text("data:\n  val_ratio: 1.5\n")
    assert _err(g) == f"{g}:2: data.val_ratio: must be in [0, 1)"


def test_an_unknown_key_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.1\n  max_stepz: 3\n")
    assert _err(f).startswith(f"{f}:3: train.max_stepz: unknown key; did you mean 'train.max_steps'?")


def test_an_unknown_preset_lists_the_presets() -> None:
    msg = _err("no-such-preset")
    assert (
        msg
        == f"no-such-preset: no such config file or shipped preset (presets: {', '.join(shipped_presets())})"
    )
    assert {"instruction", "finetune", "demo"} <= set(shipped_presets())


def test_a_huge_value_in_an_error_is_cut_with_a_count(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("run_name: [" + ", ".join(str(i) for i in range(30000)) + "]\n")
    msg = _err(f)
    assert (
        len(msg) < len(f"{f}:1: run_name: ") + 340
        and msg.startswith(f"{f}:1: run_name: [0, 1, 2")
        and "more characters)" in msg
    )
