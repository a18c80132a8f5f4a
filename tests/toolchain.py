"""What the machine's toolchain offers the tests: torch.compile's inductor backend on CPU needs a C++ compiler."""

from __future__ import annotations

import shutil

import pytest

HAS_CXX = any(shutil.which(c) for c in ("c++", "g++", "clang++"))

#: skip a test that compiles with inductor where no C++ compiler is installed
needs_cxx = pytest.mark.skipif(not HAS_CXX, reason="torch.compile (inductor) on CPU needs a C++ compiler")
