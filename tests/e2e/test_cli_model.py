import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tunelab.cli import cli

TUNELAB = str(Path(sys.executable).parent / "tunelab")


def test_model_tiny_then_info(tmp_path: Path) -> None:
    out = tmp_path / "tiny"
    r = subprocess.run([TUNELAB, "model", "tiny", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    r = CliRunner().invoke(cli, ["model", "info", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["architecture"] == "LlamaForCausalLM"
    assert 1_000_000 < info["parameters"] < 10_000_000
    assert info["pad_token"] != info["eos_token"]
    assert info["tiny_demo_model"] is True


def test_model_info_table() -> None:
    r = CliRunner().invoke(cli, ["model", "info", "tunelab-tiny"])
    assert r.exit_code == 0, r.output
    assert "LlamaForCausalLM" in r.output and "demonstration" in r.output


def test_model_info_bad_path_exits_2() -> None:
    r = CliRunner().invoke(cli, ["model", "info", "./no/such/model"])
    assert r.exit_code == 2
    assert "no such model folder" in r.output


def test_help_lists_every_command_group() -> None:
    r = subprocess.run([TUNELAB, "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for name in [
        "demo",
        "model",
        "data",
        "synth",
        "train",
        "eval",
        "metrics",
        "compare",
        "report",
        "estimate",
        "serve",
        "ui",
    ]:
        assert f"  {name}" in r.stdout
