"""tunelab.ui: a local web app over a folder of comparison runs (``tunelab ui``).

Launch a comparison from a form (presets and validated fields), watch it train (stage, step, ETA, loss
curves), browse the items where two models differ, judge two models blind (votes counted by the human-review
import and in the report), and chat with two models side by side.

- :func:`run_ui` serves it (the CLI);
- :func:`create_ui_app` builds the ASGI app (tests run it in a real server on loopback).

Importing this package does not import torch, FastAPI or uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.ui._app import create_ui_app
    from tunelab.ui._server import run_ui, ui_url

__all__ = ["create_ui_app", "run_ui", "ui_url"]

_WHERE = {"create_ui_app": "_app", "run_ui": "_server", "ui_url": "_server"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"tunelab.ui.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'tunelab.ui' has no attribute {name!r}")
