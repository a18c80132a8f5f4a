"""The embedded base model, ``tunelab-tiny``, as shipped in the package (``models/tiny/``).

The code that pretrains it lives in :mod:`tunelab.train._pretrain` and the text it was pretrained on in
:mod:`tunelab.synth` (``pretraining_corpus``); this module only finds and copies the shipped folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tunelab._atomic import atomic_dir

__all__ = ["tiny_model_dir", "write_tiny"]


def tiny_model_dir() -> Path:
    """The shipped model folder inside the package."""
    return Path(__file__).parent / "tiny"


def write_tiny(out: str | Path) -> Path:
    """Copy the shipped model to ``out`` as a normal HF model folder (written whole, then renamed into place)."""
    src = tiny_model_dir()
    with atomic_dir(out, replaces="config.json") as tmp:
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
    return Path(out)
