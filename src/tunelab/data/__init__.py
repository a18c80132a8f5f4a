"""Data layer: the canonical :class:`Example`, readers, validation, templates, masks, packing."""

from __future__ import annotations

from tunelab.data._example import ROLES, Example

__all__ = ["Example", "ROLES"]
