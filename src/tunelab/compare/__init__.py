"""Both approaches on one base and one budget, and the report that shows which served better."""

from __future__ import annotations

from tunelab.compare._analysis import overfitting_summary, read_curve, write_verdict
from tunelab.compare._compare import run_comparison
from tunelab.compare._plan import match_token_budget, plan_runs, seed_runs
from tunelab.compare._report import load_comparison, render_report

__all__ = [
    "load_comparison",
    "match_token_budget",
    "overfitting_summary",
    "plan_runs",
    "read_curve",
    "render_report",
    "run_comparison",
    "seed_runs",
    "write_verdict",
]
