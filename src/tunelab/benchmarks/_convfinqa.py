"""ConvFinQA (Chen et al., EMNLP 2022): conversation files (``train.json``) and turn files (``train_turn.json``).

Layout: a JSON array of records ``{"id", "pre_text", "post_text", "table", "annotation": {...}}`` (FinQA's
context fields). In conversation files ``annotation`` holds ``dialogue_break`` (the questions, one per turn),
``turn_program`` (the gold program of each turn) and ``exe_ans_list`` (each turn's answer). Turn files repeat
the context once per turn and add ``cur_program``, ``exe_ans`` and ``turn_ind`` (the turn's index).

Choice (one Example per record, documented): a turn-file record is that turn; a conversation-file record is
its **final** question. Either way the Example is a multi-turn chat: the first user turn carries the report
(rendered as for FinQA: instruction, pre_text, table as pipe rows, post_text) and the first question; every
earlier turn is answered by its gold program (``Program: ...``, teacher forcing, as ConvFinQA's evaluation
conditions on the gold history); the last user turn is the scored question and the assistant turn its gold
program. Use the turn files to score every turn; the conversation files score only the final turns.

Scoring: FinQA's execution and program accuracy on the last turn (:func:`score_convfinqa`).
"""

from __future__ import annotations

from typing import Any

from tunelab.benchmarks._common import (
    maybe_json,
    need_table,
    need_text_list,
    record_id,
    register_benchmark,
    type_name,
)
from tunelab.benchmarks._finqa import (
    FINQA_INSTRUCTION,
    _exe_ans,
    _program,
    extract_program,
    render_report,
    score_finqa,
)
from tunelab.data import Example, FieldProblem
from tunelab.scoring import parse_number

__all__ = ["parse_convfinqa", "score_convfinqa"]


def _bare_number(v: Any) -> float | None:
    """ConvFinQA's number-selection turns have a bare number as their program ("206588")."""
    return parse_number(v.strip()) if isinstance(v, str) and "(" not in v and v.strip() else None


def _turn_program(v: Any, fld: str, probs: list[FieldProblem]) -> str:
    if _bare_number(v) is not None:
        return str(v).strip()
    return _program(v, fld, probs)


def _list(a: dict[str, Any], key: str, probs: list[FieldProblem]) -> list[Any]:
    v = a.get(key)
    if not isinstance(v, list) or not v:
        probs.append(
            (
                f"annotation.{key}",
                "missing" if v is None else f"expected a non-empty array, got {type_name(v)}",
            )
        )
        return []
    return v


def parse_convfinqa(d: dict[str, Any], as_text: bool) -> tuple[Example | None, list[FieldProblem]]:
    """Parse one ConvFinQA record, conversation or turn layout (see the module docstring)."""
    probs: list[FieldProblem] = []
    pre = need_text_list(d, "pre_text", probs, as_text)
    post = need_text_list(d, "post_text", probs, as_text)
    if "table" not in d:
        probs.append(("table", "missing"))
    table = need_table(d.get("table"), "table", probs, as_text) if "table" in d else []
    ex_id = record_id(d, "id", probs)
    ann = maybe_json(d.get("annotation"), as_text)
    if not isinstance(ann, dict):
        probs.append(
            ("annotation", "missing" if ann is None else f"expected an object, got {type_name(ann)}")
        )
        return None, probs
    questions = _list(ann, "dialogue_break", probs)
    programs = _list(ann, "turn_program", probs)
    answers = ann.get("exe_ans_list")
    for i, q in enumerate(questions):
        if not isinstance(q, str) or not q.strip():
            probs.append((f"annotation.dialogue_break[{i}]", "expected a non-empty question string"))
    if questions and programs and len(questions) != len(programs):
        probs.append(("annotation.turn_program", f"{len(programs)} programs for {len(questions)} questions"))
    turn_file = "cur_program" in ann or "turn_ind" in ann
    if turn_file:
        ind = ann.get("turn_ind")
        if isinstance(ind, bool) or not isinstance(ind, int) or not 0 <= ind < max(len(questions), 1):
            probs.append(
                ("annotation.turn_ind", f"expected a turn index below {len(questions)}, got {ind!r}")
            )
            return None, probs
        turn = ind
        program = _turn_program(ann.get("cur_program"), "annotation.cur_program", probs)
        exe = _exe_ans(ann.get("exe_ans"), "annotation.exe_ans", probs)
    else:
        turn = len(questions) - 1
        program = _turn_program(
            programs[turn] if 0 <= turn < len(programs) else None, f"annotation.turn_program[{turn}]", probs
        )
        if not isinstance(answers, list) or len(answers) != len(questions):
            probs.append(
                ("annotation.exe_ans_list", f"expected {len(questions)} answers, got {answers!r}"[:120])
            )
            return None, probs
        exe = _exe_ans(answers[turn], f"annotation.exe_ans_list[{turn}]", probs)
    history = [
        _turn_program(programs[i] if i < len(programs) else None, f"annotation.turn_program[{i}]", probs)
        for i in range(turn)
    ]
    if probs or exe is None:
        return None, probs
    report = render_report(pre, table, post)
    messages: list[dict[str, str]] = []
    for i in range(turn + 1):
        q = f"Question: {questions[i].strip()}"
        messages.append(
            {"role": "user", "content": f"{FINQA_INSTRUCTION}\n\n{report}\n\n{q}" if i == 0 else q}
        )
        messages.append({"role": "assistant", "content": f"Program: {history[i] if i < turn else program}"})
    meta = {
        "task": "convfinqa",
        "domain": "finance",
        "source": "convfinqa",
        "benchmark": "convfinqa",
        "scorer": "finqa_program",
        "answer_type": "program",
        "gold": exe,
        "exe_ans": exe,
        "program": program,
        "table": table,
        "turn_index": turn,
        "n_turns": len(questions),
        "question": questions[turn].strip(),
    }
    return Example(messages=messages, meta=meta, id=ex_id), probs


def score_convfinqa(prediction_text: str, example: Example) -> dict[str, float]:
    """Score one ConvFinQA turn: FinQA's execution accuracy and program accuracy (ConvFinQA's official
    metrics), on the program read from the output exactly as :func:`tunelab.benchmarks.score_finqa` does.

    ConvFinQA's number-selection turns have a bare number as their program ("206588"); the official evaluator
    executes it to itself. A bare-number output is therefore scored here as that number (execution: ``round(x, 5)
    == exe_ans``; program: equal to a bare-number gold program), since :func:`tunelab.scoring.run_program`
    accepts only operation steps.

    Args:
        prediction_text: the raw model output for the last question.
        example: the item.

    Returns:
        ``{"execution_accuracy", "program_accuracy", "extracted"}``.
    """
    prog = extract_program(prediction_text)
    value = _bare_number(prog)
    if prog is None or value is None:
        return score_finqa(prediction_text, example)
    exe = example.meta["exe_ans"]
    exe_ok = not isinstance(exe, str) and round(value, 5) == round(float(exe), 5)
    gold_value = _bare_number(example.meta["program"])
    return {
        "execution_accuracy": float(exe_ok),
        "program_accuracy": float(gold_value is not None and gold_value == value),
        "extracted": 1.0,
    }


register_benchmark(
    "convfinqa",
    parse_convfinqa,
    detect=lambda k: {"pre_text", "table", "annotation"} <= set(k),
    turns_field="annotation.turn_program",
)
