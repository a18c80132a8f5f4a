"""The embedded base model, ``tunelab-tiny``, as shipped in the package (``models/tiny/``).

The code that pretrains it lives in :mod:`tunelab.train._pretrain` and the text it was pretrained on in
:mod:`tunelab.synth` (``pretraining_corpus``); this module only finds and copies the shipped folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["tiny_model_dir", "write_tiny"]


def tiny_model_dir() -> Path:
    """The shipped model folder inside the package."""
    return Path(__file__).parent / "tiny"


def write_tiny(out: str | Path) -> Path:
    """Copy the shipped model to ``out`` as a normal HF model folder."""
    src = tiny_model_dir()
    dst = Path(out)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copy2(f, dst / f.name)
    return dst
