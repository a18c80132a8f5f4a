"""FinQA program accuracy: is a predicted program symbolically equivalent to the gold program?

Follows the official script: both programs become expression trees whose leaves are symbols (literal operands
and table steps), and they are equivalent when their canonical forms agree or sympy simplifies their difference
to zero. Parsing is :func:`tunelab.scoring.parse_program` (never ``eval``).
"""

from __future__ import annotations

from tunelab.scoring._finqa import _REF_RE, TABLE_OPS, FinQAProgramError, _norm_row, parse_program
from tunelab.scoring._numeric import parse_number

__all__ = ["program_accuracy"]


_Tree = tuple  # ("sym", key) | (op, child, child)


def _program_tree(program: str) -> tuple[_Tree, set[str]]:
    """The expression tree of a program's last step with leaves as symbols, and the set of leaf keys.

    Leaves follow the official script: every literal operand and every table step is a symbol. Numbers are keyed by
    value (so "5,829" and "5829" are one symbol), constants by name (``const_100`` and ``100`` are different
    symbols, as in FinQA), table steps by operation and normalized row name.
    """
    steps = parse_program(program)
    trees: list[_Tree] = []
    leaves: set[str] = set()

    def leaf(arg: str) -> _Tree:
        ref = _REF_RE.match(arg)
        if ref:
            return trees[int(ref.group(1))]
        key = arg if arg.startswith("const_") else f"num:{parse_number(arg)!r}"
        leaves.add(key)
        return ("sym", key)

    for step in steps:
        if step.op in TABLE_OPS:
            key = f"{step.op}:{_norm_row(step.args[0])}"
            leaves.add(key)
            trees.append(("sym", key))
        else:
            trees.append((step.op, leaf(step.args[0]), leaf(step.args[1])))
    return trees[-1], leaves


def _canonical(tree: _Tree) -> str:
    """A canonical string for a tree: add and multiply are flattened and their operands sorted."""
    if tree[0] == "sym":
        return f"<{tree[1]}>"
    op = tree[0]
    if op in ("add", "multiply"):
        operands: list[str] = []
        stack = [tree[1], tree[2]]
        while stack:
            t = stack.pop()
            if t[0] == op:
                stack.extend([t[1], t[2]])
            else:
                operands.append(_canonical(t))
        return f"{op}({','.join(sorted(operands))})"
    return f"{op}({_canonical(tree[1])},{_canonical(tree[2])})"


def _to_sympy(tree: _Tree, symbols: dict[str, object]) -> object:
    import sympy

    if tree[0] == "sym":
        return symbols[tree[1]]
    a, b = _to_sympy(tree[1], symbols), _to_sympy(tree[2], symbols)
    op = tree[0]
    if op == "add":
        return a + b  # type: ignore[operator]
    if op == "subtract":
        return a - b  # type: ignore[operator]
    if op == "multiply":
        return a * b  # type: ignore[operator]
    if op == "divide":
        return a / b  # type: ignore[operator]
    if op == "exp":
        return a**b  # type: ignore[operator]
    return sympy.Function("greater")(a, b)


def program_accuracy(pred: str, gold: str) -> bool:
    """FinQA program accuracy for one item: is the predicted program symbolically equivalent to the gold one?

    Like the official ``equal_program``: operands and table steps become symbols, the prediction may use only
    operands that occur in the gold program, and the two final expressions are compared symbolically. Here the
    comparison is ``sympy.simplify(pred - gold) == 0`` (``greater`` is an opaque function of its two simplified
    arguments), after a fast canonical-form check (add/multiply commutative and associative). Without sympy, the
    canonical form alone decides. A malformed program is wrong, never an exception.

    Args:
        pred: the predicted program.
        gold: the gold program.

    Returns:
        Whether the programs are equivalent.
    """
    try:
        gold_tree, gold_leaves = _program_tree(gold)
        pred_tree, pred_leaves = _program_tree(pred)
    except FinQAProgramError:
        return False
    if not pred_leaves <= gold_leaves:
        return False
    if _canonical(pred_tree) == _canonical(gold_tree):
        return True
    try:
        import sympy
    except ImportError:  # pragma: no cover - sympy comes with torch
        return False
    symbols = {key: sympy.Symbol(f"a{i}") for i, key in enumerate(sorted(gold_leaves))}
    try:
        diff = sympy.simplify(_to_sympy(pred_tree, symbols) - _to_sympy(gold_tree, symbols))  # type: ignore[operator]
    except (TypeError, ValueError, ZeroDivisionError, RecursionError):
        return False
    return bool(diff == 0)
