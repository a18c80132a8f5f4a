"""The public API of ``tunelab.ui``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.ui as pkg

PUBLIC = {
    "create_ui_app",
    "run_ui",
    "ui_url",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
