"""tunelab.scoring is light to import: its reference libraries load inside the functions that use them."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import sys, tunelab.scoring, tunelab.evaluate; "
        "print(','.join(m for m in ('torch', 'sacrebleu', 'rouge_score', 'sklearn', 'sympy', 'scipy', 'numpy') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
