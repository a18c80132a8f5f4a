"""Regenerating a run's ``report.html``/``report.md`` after votes, with ``tunelab report RUN_DIR`` in a
subprocess (the report builder counts ``human/votes.jsonl`` into its "Human judgement" section).

Votes arriving while a report is being written mark the run dirty; one more report follows, so the last
vote is always in the last report and at most one report per run is written at a time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["ReportRefresher"]

_CLI = "import sys; from tunelab.cli import main; sys.exit(main())"


class ReportRefresher:
    """Writes reports in the background, one at a time per run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = {}

    def status(self, run_dir: Path) -> dict[str, Any]:
        """``{"updating", "updated" (time of the last report written here), "error"}``."""
        with self._lock:
            s = self._state.get(str(run_dir), {})
            return {
                "updating": bool(s.get("running") or s.get("dirty")),
                "updated": s.get("updated"),
                "error": s.get("error"),
            }

    def refresh(self, run_dir: Path) -> None:
        """Ask for a new report of ``run_dir`` (returns at once)."""
        key = str(run_dir)
        with self._lock:
            s = self._state.setdefault(key, {})
            if s.get("running"):
                s["dirty"] = True
                return
            s["running"], s["dirty"] = True, False
        threading.Thread(target=self._work, args=(run_dir,), name="report", daemon=True).start()

    def _work(self, run_dir: Path) -> None:
        key = str(run_dir)
        while True:
            r = subprocess.run(
                [sys.executable, "-c", _CLI, "report", str(run_dir)],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            with self._lock:
                s = self._state[key]
                s["error"] = None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["failed"])[-1]
                if r.returncode == 0:
                    s["updated"] = time.strftime("%H:%M:%S")
                if not s.get("dirty"):
                    s["running"] = False
                    return
                s["dirty"] = False
