"""Shared fixtures: the embedded tiny model, loaded once per test session (CPU, float32)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny() -> tuple[Any, Any]:
    from tunelab.models import load_model, load_tokenizer

    return load_model("tunelab-tiny", device="cpu"), load_tokenizer("tunelab-tiny")
