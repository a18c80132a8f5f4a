"""tunelab: instruction tuning vs task fine-tuning, side by side.

``import tunelab`` stays light: torch, transformers and friends load only where they are used.
"""

from __future__ import annotations

from typing import Any

from tunelab._version import __version__
from tunelab.config import load_config
from tunelab.errors import InputError, TunelabError

__all__ = ["InputError", "TunelabError", "__version__", "load_config", "train"]


def train(config: Any) -> Any:
    """Train one model from a :class:`tunelab.config.Config` (see :mod:`tunelab.train`).

    ``tunelab.train`` imports torch, so it loads on the first call, not with ``import tunelab``.
    """
    from tunelab.train import train as _train

    return _train(config)
