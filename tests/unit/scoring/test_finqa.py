"""FinQA DSL interpreter, execution accuracy and program accuracy."""

from __future__ import annotations

import pytest

from tunelab.scoring import (
    FinQAProgramError,
    execute_program,
    execution_accuracy,
    parse_program,
    parse_table_cell,
    program_accuracy,
    program_answer,
    run_program,
)
from tunelab.scoring._finqa_equiv import _canonical, _program_tree

TABLE = [
    ["", "2019", "2018", "2017"],
    ["net revenue", "$ 5,829", "$ 5,735", "$ 5,100"],
    ["operating expenses", "(134)", "(120)", "( 100 )"],
    ["growth rate", "5%", "3.5%", "2%"],
    ["cash , net", "1,234 ( 5% )", "1,000", "900"],
]


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("subtract(5829, 5735), divide(#0, 5735)", (5829 - 5735) / 5735),
        ("add(1, 2)", 3.0),
        ("add(1,2)", 3.0),  # no space: still two operands
        ("add(5,829, 1)", 5830.0),  # thousands comma
        ("multiply(5%, 200)", 10.0),
        ("divide(100, const_1000)", 0.1),
        ("multiply(7, const_m1)", -7.0),
        ("add(const_1_5, 1)", 2.5),
        ("exp(2, 10)", 1024.0),
        ("exp(4, 0.5)", 2.0),
        ("add($ 1,000, (250))", 750.0),
        ("subtract(10, 4), multiply(#0, 3), divide(#1, #0)", 3.0),
        ("table_max(net revenue, none)", 5829.0),
        ("table_min(operating expenses, none)", -134.0),
        ("table_sum(Net  Revenue, none)", 5829.0 + 5735 + 5100),
        ("table_average(growth rate, none)", (0.05 + 0.035 + 0.02) / 3),
        ("table_sum(cash , net, none)", 1234.0 + 1000 + 900),
        ("table_max(net revenue)", 5829.0),
        ("table_average(net revenue, none), divide(#0, const_1000)", (5829 + 5735 + 5100) / 3 / 1000),
    ],
)
def test_programs_evaluate_to_their_answers(program: str, expected: float) -> None:
    assert execute_program(program, TABLE) == pytest.approx(expected, rel=1e-12)


def test_greater_gives_yes_no_answer_and_one_zero_value() -> None:
    assert run_program("greater(5, 3)").answer == "yes"
    assert run_program("subtract(3, 5), greater(#0, 0)").answer == "no"
    assert execute_program("greater(5, 3)") == 1.0
    assert execute_program("greater(3, 5)") == 0.0
    assert program_answer("subtract(5829, 5735), divide(#0, 5735)") == 0.01639


def test_step_values_are_reported() -> None:
    assert run_program("add(1, 2), multiply(#0, 4)").step_values == (3.0, 12.0)


@pytest.mark.parametrize(
    "program",
    [
        "__import__('os')",
        "__import__('os').system('ls')",
        "add(1, 2) + 3",
        "add(1, 2); divide(1, 3)",
        "eval(1, 2)",
        "Add(1, 2)",
        "add(1)",
        "add(1, 2, 3)",
        "add(1, x)",
        "add(1, 2",
        "add 1, 2",
        "add(#0, 1)",
        "add(1, 2), add(#1, 1)",
        "add(1, 2), add(#5, 1)",
        "add(const_x, 1)",
        "add(inf, 1)",
        "add(nan, 1)",
        "add(1e400, 1)",
        "",
        "   ",
        "add(1, 2),",
        "add(1, 2), , add(1, 2)",
        "divide(1, 0)",
        "subtract(3, 3), divide(1, #0)",
        "exp(10, 400)",
        "exp(const_m1, 0.5)",
        "greater(1, 2), add(#0, 1)",
        "table_max(no such row, none)",
        "table_max(, none)",
        "lambda(1, 2)",
        "add(1, 2)" * 3,
    ],
)
def test_rejects_anything_outside_the_dsl(program: str) -> None:
    with pytest.raises(FinQAProgramError):
        execute_program(program, TABLE)
    # A malformed program is wrong, never an exception.
    assert execution_accuracy(program, 3.0, TABLE) is False
    assert program_accuracy(program, "add(1, 2)") is False


def test_error_is_a_value_error_and_non_strings_are_rejected() -> None:
    assert issubclass(FinQAProgramError, ValueError)
    with pytest.raises(FinQAProgramError):
        parse_program(None)  # type: ignore[arg-type]
    assert execution_accuracy(None, 1.0) is False  # type: ignore[arg-type]


def test_table_operations_need_a_table_and_numeric_cells() -> None:
    with pytest.raises(FinQAProgramError, match="no table"):
        execute_program("table_max(net revenue, none)")
    with pytest.raises(FinQAProgramError, match="not a number"):
        execute_program("table_max(notes, none)", [["notes", "see below", "1"]])
    with pytest.raises(FinQAProgramError, match="no values"):
        execute_program("table_max(empty, none)", [["empty"]])


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("$ 1,234", 1234.0),
        ("(134)", -134.0),
        ("$ ( 134 )", -134.0),
        ("5%", 0.05),
        ("1,234 ( 5% )", 1234.0),
        ("-3.5", -3.5),
        ("\u22122", -2.0),
    ],
)
def test_table_cells(cell: str, value: float) -> None:
    assert parse_table_cell(cell) == pytest.approx(value)


def test_execution_accuracy_rounds_to_five_places() -> None:
    prog = "subtract(5829, 5735), divide(#0, 5735)"
    assert execution_accuracy(prog, 0.01639)
    assert execution_accuracy(prog, "0.01639")
    assert execution_accuracy(prog, (5829 - 5735) / 5735)
    assert not execution_accuracy(prog, 0.0164)
    assert not execution_accuracy(prog, 0.01638)
    assert execution_accuracy("greater(5, 3)", "yes")
    assert execution_accuracy("greater(5, 3)", " Yes ")
    assert not execution_accuracy("greater(5, 3)", "no")
    assert not execution_accuracy("greater(5, 3)", 1.0)  # yes/no is compared as a string
    assert not execution_accuracy("add(1, 2)", "yes")
    assert not execution_accuracy("add(1, 2)", "three")
    assert execution_accuracy("table_max(net revenue, none)", 5829, TABLE)


@pytest.mark.parametrize(
    ("pred", "gold", "equal"),
    [
        ("add(2, 1)", "add(1, 2)", True),
        ("multiply(3, 2), add(#0, 1)", "multiply(2, 3), add(1, #0)", True),
        ("add(1, 2), add(#0, 3)", "add(2, 3), add(1, #0)", True),  # associativity
        ("divide(3, 5), divide(4, 5), add(#0, #1)", "add(3, 4), divide(#0, 5)", True),  # sympy needed
        (
            "subtract(5829, 5735), divide(#0, 5735)",
            "divide(5829, 5735), subtract(#0, const_1)",
            False,
        ),  # const_1 unseen
        ("subtract(5829, 5735), divide(#0, 5735)", "subtract(5829, 5735), divide(#0, 5735)", True),
        ("subtract(5,829, 5735), divide(#0, 5735)", "subtract(5829, 5735), divide(#0, 5735)", True),
        ("subtract(1, 2)", "subtract(2, 1)", False),
        ("divide(1, 2)", "divide(2, 1)", False),
        ("add(1, 7)", "add(1, 2)", False),  # 7 is not in the gold program
        ("add(1, subtract(2, 2))".replace("subtract(2, 2)", "2"), "add(1, 2)", True),
        ("add(1, 2), subtract(#0, 2)", "add(1, 2), subtract(#0, 2)", True),
        ("add(1, 2), subtract(#0, 2)", "add(1, 0)".replace("0", "2"), False),
        ("greater(1, 2)", "greater(1, 2)", True),
        ("greater(2, 1)", "greater(1, 2)", False),
        ("table_max(Net revenue, none)", "table_max(net revenue, none)", True),
        ("table_min(net revenue, none)", "table_max(net revenue, none)", False),
        ("table_sum(net revenue, none), divide(#0, const_3)", "table_average(net revenue, none)", False),
        ("exp(2, 3)", "exp(3, 2)", False),
    ],
)
def test_program_accuracy(pred: str, gold: str, equal: bool) -> None:
    assert program_accuracy(pred, gold) is equal


def test_canonical_form_is_commutative_and_associative_but_not_distributive() -> None:
    def canon(p: str) -> str:
        return _canonical(_program_tree(p)[0])

    assert canon("add(1, 2), add(#0, 3)") == canon("add(3, 2), add(1, #0)")
    assert canon("multiply(1, 2), multiply(3, #0)") == canon("multiply(2, 3), multiply(#0, 1)")
    assert canon("subtract(1, 2)") != canon("subtract(2, 1)")
    assert canon("divide(3, 5), divide(4, 5), add(#0, #1)") != canon("add(3, 4), divide(#0, 5)")
