"""FinQA programs: a parser and interpreter for the DSL, execution accuracy and program accuracy.

A FinQA program is a list of steps separated by ", ", e.g. ``subtract(5829, 5735), divide(#0, 5735)``.
Operations: ``add subtract multiply divide exp greater`` (two operands) and ``table_max table_min table_sum
table_average`` (a row name, optionally followed by ``none``). Operands are numbers ("5,829", "$ 12", "5%" is
0.05, "(134)" is -134), ``#n`` (the result of step n, which must come earlier) and ``const_X`` constants
(``const_100`` = 100, ``const_m1`` = -1, and as a documented extension ``const_1_5`` = 1.5).

Model output is never given to ``eval``/``exec``: the program is scanned by hand, anything outside the DSL raises
:class:`FinQAProgramError`, and only the ten operations above are run.

Defined behaviour for corner cases (the official script turns every Python error into an invalid program; so do
we, with a reason):
- division by zero, an overflowing ``exp`` or any non-finite result: :class:`FinQAProgramError`;
- ``greater`` yields 1.0/0.0 internally and the answer "yes"/"no" when it is the last step; using a "yes/no"
  result as an arithmetic operand is an error (FinQA would fail on it too);
- a table row is looked up by its first cell, compared case-insensitively with whitespace collapsed and no space
  before punctuation; every other
  cell of the row must parse as a number (``$``, commas, "(134)" negative, "5%"; like FinQA, text after a
  parenthesis that follows a number is ignored: "1,234 ( 5% )" is 1234), or the step is an error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tunelab.scoring._numeric import parse_number

__all__ = [
    "BINARY_OPS",
    "TABLE_OPS",
    "FinQAExecution",
    "FinQAProgramError",
    "FinQAStep",
    "execute_program",
    "execution_accuracy",
    "parse_program",
    "parse_table_cell",
    "program_answer",
    "run_program",
]

BINARY_OPS: tuple[str, ...] = ("add", "subtract", "multiply", "divide", "exp", "greater")
TABLE_OPS: tuple[str, ...] = ("table_max", "table_min", "table_sum", "table_average")
_MAX_CHARS = 10_000
_MAX_STEPS = 200

_OP_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_AFTER_STEP_RE = re.compile(r"\s*(,|$)")
_REF_RE = re.compile(r"^#(\d+)$")
_CONST_RE = re.compile(r"^const_(m?)(\d+)(?:_(\d+))?$")
_NUMERIC_CHARS_RE = re.compile(r"^[\s$()+\-\d.,%eE\u2212]+$")


class FinQAProgramError(ValueError):
    """A FinQA program that is malformed, outside the DSL, or cannot be executed."""


@dataclass(frozen=True)
class FinQAStep:
    """One parsed step: an operation and its operand strings (stripped)."""

    op: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class FinQAExecution:
    """The result of :func:`run_program`.

    Attributes:
        value: the last step's value (``greater`` gives 1.0 or 0.0).
        answer: FinQA's answer: ``"yes"``/``"no"`` when the last step is ``greater``, else ``round(value, 5)``.
        step_values: every step's value, in order.
    """

    value: float
    answer: float | str
    step_values: tuple[float, ...]


def _split_depth0(text: str, need_space: bool) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0 and (not need_space or (i + 1 < len(text) and text[i + 1].isspace())):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _split_args(inner: str, op: str) -> tuple[str, ...]:
    # The separator is ", "; a comma with no space is a thousands separator unless that leaves the wrong arity
    # ("add(1,2)" is still two operands).
    parts = _split_depth0(inner, need_space=True)
    if op in TABLE_OPS:
        if len(parts) >= 2 and parts[-1].lower() == "none":
            parts = [", ".join(parts[:-1])]
        if len(parts) != 1 or not parts[0]:
            raise FinQAProgramError(f"{op} takes a row name and 'none', got {inner!r}")
        return (parts[0],)
    if len(parts) == 1:
        parts = _split_depth0(inner, need_space=False)
    if len(parts) != 2 or not all(parts):
        raise FinQAProgramError(f"{op} takes two operands, got {inner!r}")
    return (parts[0], parts[1])


def parse_program(program: str) -> list[FinQAStep]:
    """Parse a FinQA program into steps, checking it stays inside the DSL.

    Args:
        program: the program text, steps separated by ", ".

    Returns:
        The steps in order.

    Raises:
        FinQAProgramError: not a string, empty, too long, an unknown operation, a wrong number of operands, an
            operand that is not a number/``#n``/``const_X``, a reference to a step that does not come earlier,
            or text outside ``op(args)`` steps.
    """
    if not isinstance(program, str):
        raise FinQAProgramError(f"a program is a string, got {type(program).__name__}")
    text = program.strip()
    if not text:
        raise FinQAProgramError("empty program")
    if len(text) > _MAX_CHARS:
        raise FinQAProgramError(f"program longer than {_MAX_CHARS} characters")
    steps: list[FinQAStep] = []
    pos = 0
    while True:
        m = _OP_RE.match(text, pos)
        if not m:
            raise FinQAProgramError(f"expected 'operation(' at character {pos}: {text[pos : pos + 30]!r}")
        op = m.group(1)
        if op not in BINARY_OPS and op not in TABLE_OPS:
            raise FinQAProgramError(
                f"unknown operation {op!r} (allowed: {', '.join(BINARY_OPS + TABLE_OPS)})"
            )
        depth, j = 0, m.end()
        while j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        if j >= len(text):
            raise FinQAProgramError(f"unclosed '(' in step {len(steps)}")
        steps.append(FinQAStep(op, _split_args(text[m.end() : j], op)))
        if len(steps) > _MAX_STEPS:
            raise FinQAProgramError(f"more than {_MAX_STEPS} steps")
        after = _AFTER_STEP_RE.match(text, j + 1)
        if after is None:
            raise FinQAProgramError(
                f"expected ', ' or the end after step {len(steps) - 1}: {text[j + 1 : j + 31]!r}"
            )
        if after.group(1) == "":
            break
        pos = after.end()
    for i, step in enumerate(steps):
        if step.op in BINARY_OPS:
            for arg in step.args:
                _check_operand(arg, i)
    return steps


def _check_operand(arg: str, step_index: int) -> None:
    ref = _REF_RE.match(arg)
    if ref:
        if int(ref.group(1)) >= step_index:
            raise FinQAProgramError(f"step {step_index}: {arg} does not refer to an earlier step")
        return
    if arg.startswith("const_"):
        if not _CONST_RE.match(arg):
            raise FinQAProgramError(f"step {step_index}: bad constant {arg!r}")
        return
    if not _NUMERIC_CHARS_RE.match(arg) or parse_number(arg) is None:
        raise FinQAProgramError(f"step {step_index}: operand {arg!r} is not a number, #n or const_X")


def _const_value(arg: str) -> float:
    m = _CONST_RE.match(arg)
    assert m is not None
    value = float(f"{m.group(2)}.{m.group(3)}" if m.group(3) else m.group(2))
    return -value if m.group(1) else value


def parse_table_cell(cell: str) -> float:
    """Parse a FinQA table cell as a number.

    Args:
        cell: e.g. ``"$ 1,234"``, ``"(134)"`` (-134), ``"5%"`` (0.05), ``"1,234 ( 5% )"`` (1234).

    Returns:
        The value.

    Raises:
        FinQAProgramError: the cell is not a number.
    """
    value = parse_number(cell)
    if value is None and "(" in cell and not cell.strip().startswith("("):
        value = parse_number(cell.split("(")[0])
    if value is None:
        raise FinQAProgramError(f"table cell {cell!r} is not a number")
    return value


def _norm_row(name: str) -> str:
    # FinQA tables are tokenized ("cash , net"); programs may not be ("cash, net").
    return re.sub(r"\s+([,.;:%)])", r"\1", " ".join(str(name).lower().split()))


def _table_row(table: list[list[str]] | None, name: str) -> list[float]:
    if not table:
        raise FinQAProgramError(f"table operation on row {name!r} but no table was given")
    key = _norm_row(name)
    for row in table:
        if row and _norm_row(row[0]) == key:
            cells = [parse_table_cell(str(c)) for c in row[1:]]
            if not cells:
                raise FinQAProgramError(f"table row {name!r} has no values")
            return cells
    raise FinQAProgramError(f"no table row named {name!r}")


def run_program(program: str, table: list[list[str]] | None = None) -> FinQAExecution:
    """Parse and execute a FinQA program.

    Args:
        program: the program text.
        table: the table as rows of cells, the first cell of each row being its name (needed by table ops).

    Returns:
        A :class:`FinQAExecution` with the value, FinQA's answer and every step's value.

    Raises:
        FinQAProgramError: malformed program, unknown row, unparsable cell, division by zero, overflow, or a
            yes/no result used as a number.
    """
    steps = parse_program(program)
    values: list[float] = []
    is_bool: list[bool] = []

    def operand(arg: str, i: int) -> float:
        ref = _REF_RE.match(arg)
        if ref:
            k = int(ref.group(1))
            if is_bool[k]:
                raise FinQAProgramError(f"step {i}: {arg} is a yes/no answer, not a number")
            return values[k]
        if arg.startswith("const_"):
            return _const_value(arg)
        value = parse_number(arg)
        assert value is not None  # checked by parse_program
        return value

    for i, step in enumerate(steps):
        if step.op in TABLE_OPS:
            cells = _table_row(table, step.args[0])
            if step.op == "table_max":
                result = max(cells)
            elif step.op == "table_min":
                result = min(cells)
            else:
                result = sum(cells) / (len(cells) if step.op == "table_average" else 1)
        else:
            a, b = operand(step.args[0], i), operand(step.args[1], i)
            try:
                result = _binary(step.op, a, b)
            except (ZeroDivisionError, OverflowError) as e:
                raise FinQAProgramError(f"step {i} {step.op}({a}, {b}): {e}") from None
        if not math.isfinite(result):
            raise FinQAProgramError(f"step {i} {step.op}: result is not finite")
        values.append(float(result))
        is_bool.append(step.op == "greater")
    last = values[-1]
    answer: float | str = ("yes" if last else "no") if is_bool[-1] else round(last, 5)
    return FinQAExecution(value=last, answer=answer, step_values=tuple(values))


def _binary(op: str, a: float, b: float) -> float:
    if op == "add":
        return a + b
    if op == "subtract":
        return a - b
    if op == "multiply":
        return a * b
    if op == "divide":
        if b == 0:
            raise ZeroDivisionError("division by zero")
        return a / b
    if op == "exp":
        result = a**b
        if isinstance(result, complex):
            raise FinQAProgramError(f"exp({a}, {b}) is not a real number")
        return float(result)
    return 1.0 if a > b else 0.0  # greater


def execute_program(program: str, table: list[list[str]] | None = None) -> float:
    """Run a FinQA program and return its value (``greater`` gives 1.0 for yes, 0.0 for no).

    Args:
        program: the program text.
        table: rows of cells (first cell = row name), for table operations.

    Returns:
        The last step's value, unrounded.

    Raises:
        FinQAProgramError: see :func:`run_program`.
    """
    return run_program(program, table).value


def program_answer(program: str, table: list[list[str]] | None = None) -> float | str:
    """Run a FinQA program and return its answer as FinQA reports it.

    Args:
        program: the program text.
        table: rows of cells, for table operations.

    Returns:
        ``"yes"``/``"no"`` when the last step is ``greater``, else the value rounded to 5 decimals.

    Raises:
        FinQAProgramError: see :func:`run_program`.
    """
    return run_program(program, table).answer


def execution_accuracy(
    pred_program: str, gold_exe_ans: float | str, table: list[list[str]] | None = None
) -> bool:
    """FinQA execution accuracy for one item: does the predicted program compute the gold answer?

    Rule: ``round(result, 5) == round(exe_ans, 5)`` (FinQA's ``exe_ans`` is already rounded to 5 places, so
    rounding it again changes nothing there and keeps unrounded golds fair); "yes"/"no" answers are compared as
    strings. A malformed or failing program is wrong, never an exception.

    Args:
        pred_program: the predicted program text.
        gold_exe_ans: the gold answer (a number, a numeric string, or "yes"/"no").
        table: rows of cells, for table operations.

    Returns:
        Whether the prediction is correct.
    """
    try:
        answer = program_answer(pred_program, table)
    except FinQAProgramError:
        return False
    if isinstance(gold_exe_ans, str):
        gold_text = gold_exe_ans.strip().lower()
        if gold_text in ("yes", "no"):
            return answer == gold_text
        gold_value = parse_number(gold_text)
        if gold_value is None:
            return False
    else:
        gold_value = float(gold_exe_ans)
    if isinstance(answer, str):
        return False
    return answer == round(gold_value, 5)
