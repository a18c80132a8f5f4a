"""FLAN-style instruction template banks and rendering of a :class:`Case` into an :class:`Example`.

Each task family has one bank of hand-written phrasings (FLAN, Wei et al. 2021, used 10 per data
set). A phrasing asks for one output form: the answer only, a JSON object ``{"answer": ...}``, or
reasoning followed by a line ``Answer: ...``. Three phrasings per bank are declared held out: they
are never used for training data and serve to measure whether a model follows instructions it has
not seen. The fixed fine-tuning format of each task is separate from the banks
(``template_id="finetune"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tunelab.synth._types import Case, Task

__all__ = ["Template", "BANKS", "templates_for", "render_messages", "answer_format_for"]


@dataclass(frozen=True)
class Template:
    """One phrasing.

    Attributes:
        id: unique within its bank (``medcalc.04``); banks are per task family.
        text: a ``str.format`` pattern over ``context``, ``question``, ``what`` and ``labels``.
        form: the output form it requests: ``answer_only``, ``json`` or ``reasoning_then_answer``.
        heldout: reserved for evaluation.
    """

    id: str
    text: str
    form: str
    heldout: bool = False


_R = "reasoning_then_answer"
_A = "answer_only"
_J = "json"


def _bank(family: str, rows: list[tuple[str, str]], heldout: int = 3) -> tuple[Template, ...]:
    n = len(rows)
    return tuple(
        Template(id=f"{family}.{i + 1:02d}", text=text, form=form, heldout=i >= n - heldout)
        for i, (form, text) in enumerate(rows)
    )


BANKS: dict[str, tuple[Template, ...]] = {
    "medcalc": _bank(
        "medcalc",
        [
            (
                _R,
                '{context}\n\n{question} Work through the calculation step by step, then write the result on a final line starting with "Answer:".',
            ),
            (_A, "Read the patient note and report {what}. Reply with the number only.\n\n{context}"),
            (
                _J,
                '{context}\n\nQuestion: {question}\nRespond with a JSON object of the form {{"answer": <number>}} and nothing else.',
            ),
            (
                _R,
                'You are a careful clinical calculator. Using the note below, determine {what}. Show each step and end with "Answer: <value>".\n\nNote:\n{context}',
            ),
            (_A, "Patient note:\n{context}\n\n{question} Give only the numeric result."),
            (
                _R,
                'Calculate {what} for this patient. Explain your reasoning briefly, then state the result on its own line as "Answer: ...".\n\n{context}',
            ),
            (
                _J,
                'Extract the relevant values from the note and compute {what}. Output JSON: {{"answer": value}}.\n\n{context}',
            ),
            (
                _R,
                '{question}\n\nCase: {context}\n\nThink step by step and finish with a line "Answer: <number>".',
            ),
            (_A, "Here is a clinical vignette.\n{context}\nWhat is {what}? Answer with a single number."),
            (
                _R,
                'Given the following case, find {what}. Reason it out first and put the final value after "Answer:".\n\n{context}',
            ),
            (_J, '{context}\n\nCompute {what}. Return your answer as JSON with the key "answer".'),
        ],
    ),
    "finqa": _bank(
        "finqa",
        [
            (
                _R,
                '{context}\n\nQuestion: {question}\nReason step by step, write the calculation as a program, and end with a line "Answer: <value>".',
            ),
            (
                _A,
                "Use the table and text below to answer: {question} Reply with the value only.\n\n{context}",
            ),
            (_J, '{context}\n\n{question} Respond only with JSON like {{"answer": <value>}}.'),
            (
                _R,
                'As a financial analyst, answer from this excerpt of an annual report: {question} Show your work and finish with "Answer: ...".\n\n{context}',
            ),
            (_A, "Report excerpt:\n{context}\n\n{question} Give just the answer, {what}."),
            (
                _R,
                'Read the financial data and answer the question. Explain the steps, then put the result after "Answer:".\n\n{context}\n\nQuestion: {question}',
            ),
            (
                _J,
                'Compute {what} from the figures below to answer: {question} Output a JSON object with a single key "answer".\n\n{context}',
            ),
            (
                _R,
                '{question}\n\nData:\n{context}\n\nLet us reason it through and close with the final answer on a line of the form "Answer: value".',
            ),
            (_A, "{context}\n\nBased on the figures above, {question} Answer briefly with the value alone."),
            (
                _R,
                'Here are some figures from a company filing.\n{context}\n{question} Reason first, then write "Answer:" followed by {what}.',
            ),
            (
                _J,
                'Question: {question}\nContext:\n{context}\nReturn the answer as JSON, for example {{"answer": "..."}}.',
            ),
        ],
    ),
    "classify": _bank(
        "classify",
        [
            (_A, "{context}\n\n{question} Answer with one of: {labels}."),
            (
                _A,
                "Classify the following. Possible answers: {labels}.\n\n{context}\n\nAnswer with the label only.",
            ),
            (
                _J,
                '{context}\n\n{question} Reply with JSON {{"answer": "<label>"}} where the label is one of {labels}.',
            ),
            (
                _R,
                'Decide {what}. Give a short reason, then a final line "Answer: <label>" using one of {labels}.\n\n{context}',
            ),
            (_A, "What is {what}? Choose from {labels}.\n\n{context}"),
            (_A, "{context}\nPick the right label ({labels}) for {what}. Output only the label."),
            (
                _J,
                'Read this and determine {what}. Output a JSON object with key "answer" whose value is one of {labels}.\n\n{context}',
            ),
            (
                _R,
                '{question}\n\n{context}\n\nExplain briefly and end with "Answer:" followed by one of {labels}.',
            ),
            (_A, "Text:\n{context}\nLabel it as {labels}. Label:"),
            (
                _R,
                'Consider the following and decide {what}. Think first, then write "Answer: " and the label ({labels}).\n\n{context}',
            ),
            (
                _J,
                '{context}\n\nAnswer the question "{question}" with JSON like {{"answer": "label"}} (labels: {labels}).',
            ),
        ],
    ),
    "extract": _bank(
        "extract",
        [
            (_A, "{context}\n\n{question} Reply with the answer only."),
            (_A, "Read the text and give {what}. Output only the value.\n\n{context}"),
            (_J, '{context}\n\n{question} Respond with JSON {{"answer": ...}} and nothing else.'),
            (
                _R,
                'Find {what} in the text below. Say briefly how you found it, then write "Answer: <value>".\n\n{context}',
            ),
            (_A, "Text:\n{context}\nQuestion: {question}\nAnswer:"),
            (
                _R,
                '{question}\n\n{context}\n\nExplain in one or two sentences and end with a line "Answer: ...".',
            ),
            (
                _J,
                'Extract {what} from the following and return it as a JSON object with key "answer".\n\n{context}',
            ),
            (_A, "What is {what}? Use the text below and answer with the value alone.\n\n{context}"),
            (_A, "{context}\n\nGive {what}, nothing else."),
            (
                _R,
                'Determine {what} from this text. Reason briefly, then put the result after "Answer:".\n\n{context}',
            ),
            (_J, 'Here is a short text.\n{context}\n{question} Answer in JSON as {{"answer": value}}.'),
        ],
    ),
}


def templates_for(task: Task, which: str) -> tuple[Template, ...]:
    """The phrasings of a task's bank for ``which`` = ``train`` | ``heldout`` | ``all``.

    Raises:
        ValueError: on an unknown ``which``.
    """
    bank = BANKS[task.info.family]
    if which == "train":
        return tuple(t for t in bank if not t.heldout)
    if which == "heldout":
        return tuple(t for t in bank if t.heldout)
    if which == "all":
        return bank
    raise ValueError(f"unknown template subset {which!r}; expected train, heldout or all")


def answer_format_for(task: Task, form: str) -> str:
    """Resolve a template's requested form into the ``answer_format`` stored in meta."""
    if form != _A:
        return form
    if task.info.labels:
        return "label"
    return "number" if task.info.answer_type in ("decimal", "integer") else "text"


def _labels_text(task: Task) -> str:
    labels = list(task.info.labels or ())
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " or " + labels[-1]


def _json_answer(task: Task, case: Case) -> str:
    value: object = case.answer_text
    if task.info.answer_type in ("decimal", "integer") and not task.percent:
        value = int(case.answer_text) if task.info.answer_type == "integer" else float(case.answer_text)
    return json.dumps({"answer": value})


def _response(task: Task, case: Case, answer_format: str) -> str:
    if answer_format == "json":
        return _json_answer(task, case)
    if answer_format == _R:
        return "\n".join([*case.steps, f"Answer: {case.answer_text}"])
    return case.answer_text


def render_messages(task: Task, case: Case, template: Template | None) -> tuple[list[dict[str, str]], str]:
    """Render a case through a bank phrasing, or through the fine-tuning format when ``template`` is None.

    Returns:
        ``(messages, answer_format)``: the user and assistant turns and the form the answer is in.
    """
    if template is None:
        fmt = task.finetune_answer_format
        user = task.finetune_prompt.format(context=case.context, question=case.question)
        # the fine-tuning target starts with a space: "Sentiment:" -> " positive"
        assistant = " " + _response(task, case, fmt)
    else:
        fmt = answer_format_for(task, template.form)
        user = template.text.format(
            context=case.context, question=case.question, what=task.what, labels=_labels_text(task)
        )
        assistant = _response(task, case, fmt)
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}], fmt
