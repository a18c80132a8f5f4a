"""Error types shared by the library and the CLI.

The CLI maps them to exit codes: :class:`InputError` (bad usage or bad input) exits 2,
any other :class:`TunelabError` (the job failed) exits 1.
"""

from __future__ import annotations

__all__ = ["InputError", "TunelabError", "Problem", "shorten", "cut_list"]

#: The most characters of one problem's message (and of its field) that an error shows.
MAX_MESSAGE_CHARS = 300


def shorten(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def cut_list(items: list[str], limit: int = 10) -> str:
    """``a, b, c, ... and N more`` for messages that list names."""
    shown = ", ".join(shorten(str(x), 60) for x in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... and {len(items) - limit:,} more"


class TunelabError(Exception):
    """A job failed for a reason worth telling the user (exit code 1)."""


class Problem:
    """One located problem in an input: ``FILE:LINE: field: message``."""

    __slots__ = ("file", "line", "field", "message")

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        fld = f"{shorten(self.field, 100)}: " if self.field else ""
        return f"{shorten(where, 200)}{fld}{shorten(self.message)}"

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"


class InputError(TunelabError):
    """Bad usage or bad input (exit code 2).

    Carries one or more :class:`Problem` so the message names file, line and field.
    """

    def __init__(
        self,
        message: str = "",
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        problems: list[Problem] | None = None,
        total: int | None = None,
    ) -> None:
        self.problems = list(problems) if problems else [Problem(message, file, line, field)]
        self.total = total if total is not None else len(self.problems)
        super().__init__(self.render())

    def render(self, limit: int = 20) -> str:
        lines = [str(p) for p in self.problems[:limit]]
        if self.total > len(lines):
            lines.append(f"... and {self.total - len(lines)} more problem(s) ({self.total} in all)")
        return "\n".join(lines)
