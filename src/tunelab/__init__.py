"""tunelab: instruction tuning vs task fine-tuning, side by side.

``import tunelab`` stays light: torch, transformers and friends load only where they are used.
"""

from __future__ import annotations

from typing import Any

from tunelab.errors import InputError, TunelabError

__version__ = "0.1.0"

__all__ = ["InputError", "TunelabError", "__version__", "load_config", "train"]


def load_config(path: str, overrides: list[str] | None = None) -> Any:
    """Load a YAML config with ``section.key=value`` overrides (see :mod:`tunelab.config`)."""
    from tunelab.config import load_config as _load

    return _load(path, overrides)


def train(config: Any) -> Any:
    """Train one model from a :class:`tunelab.config.Config` (see :mod:`tunelab.train`)."""
    from tunelab.train import train as _train

    return _train(config)
