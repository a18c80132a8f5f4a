"""Both approaches on one base and one budget, and the report that shows which served better."""

from __future__ import annotations

from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._compare import plan_runs, run_comparison
from tunelab.compare._report import load_comparison, render_report

__all__ = [
    "load_comparison",
    "overfitting_summary",
    "plan_runs",
    "read_curve",
    "render_report",
    "run_comparison",
    "write_verdict",
]
