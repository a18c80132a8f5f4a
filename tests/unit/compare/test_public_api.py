"""The public API of ``tunelab.compare``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.compare as pkg

PUBLIC = {
    "match_token_budget",
    "seed_runs",
    "load_comparison",
    "overfitting_summary",
    "plan_runs",
    "read_curve",
    "render_report",
    "run_comparison",
    "write_verdict",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
