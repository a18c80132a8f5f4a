"""Deprecated alias of :mod:`tunelab.benchmarks` (moved out of ``tunelab.data``; removed in the next release).

``import tunelab.data`` never imports this module, so the alias adds no import circle: only code that still
names ``tunelab.data.benchmarks`` loads it (the import-linter contracts list it as their one exemption).
"""

from __future__ import annotations

import warnings

from tunelab.benchmarks import *  # noqa: F403
from tunelab.benchmarks import __all__  # noqa: F401

warnings.warn(
    "tunelab.data.benchmarks moved to tunelab.benchmarks; the old name goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
