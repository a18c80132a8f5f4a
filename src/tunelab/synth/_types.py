"""Data types shared by the synthetic task generators, verifiers and template banks."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TaskInfo", "Case", "Derived", "Task", "Verdict", "GenerationReport"]

Answer = float | int | str


@dataclass(frozen=True)
class TaskInfo:
    """What a task is, as listed by :func:`tunelab.synth.list_tasks`.

    Attributes:
        name: unique task name (``bmi``, ``percent_change``, ``fin_sentiment`` ...).
        domain: ``medical`` or ``finance``.
        answer_type: ``decimal``, ``integer``, ``label`` or ``text``.
        scorer: name of the scorer that checks ``meta["gold"]`` (``medcalc``, ``finqa``, ``numeric``,
            ``label``, ``exact_match``).
        description: one line for humans.
        labels: the closed label set for classification tasks, else ``None``.
        family: the template bank the task is rendered with (``medcalc``, ``finqa``, ``classify``,
            ``extract``).
    """

    name: str
    domain: str
    answer_type: str
    scorer: str
    description: str
    labels: tuple[str, ...] | None = None
    family: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (labels as a list)."""
        return {
            "name": self.name,
            "domain": self.domain,
            "answer_type": self.answer_type,
            "scorer": self.scorer,
            "description": self.description,
            "labels": list(self.labels) if self.labels else None,
            "family": self.family,
        }


@dataclass
class Case:
    """One generated item before it is rendered through a template.

    Attributes:
        context: the natural-language case (patient note, table and report text, headline ...).
        question: the question asked about the context.
        steps: the step-by-step rationale, one sentence per step.
        gold: the structured gold answer (a number rounded to the task's precision, or a label).
        answer_text: the final answer as written in a response (``"24.22"``, ``"1.64%"``, ``"positive"``).
        extra: task-specific meta merged into ``Example.meta`` (FinQA ``program`` and ``table``,
            MedCalc ``lower_limit``/``upper_limit``, ``gold_detail`` ...).
    """

    context: str
    question: str
    steps: list[str]
    gold: Answer
    answer_text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Derived:
    """What a verifier re-derived from the rendered text alone."""

    gold: Answer
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """A verifiable task: a seeded generator plus an independent verifier.

    Attributes:
        info: the public description.
        make: draws one :class:`Case` from ``random.Random`` (the only source of randomness).
        derive: the independent verifier: parses the facts out of the rendered prompt text with
            regular expressions and recomputes the answer with its own code. Raises ``ValueError``
            when the text does not state the facts it needs.
        what: a noun phrase naming what is asked, used by the template banks
            ("the patient's body mass index in kg/m²").
        finetune_prompt: the fixed fine-tuning format, a ``str.format`` pattern over ``context``
            and ``question``.
        finetune_answer_format: the answer format of the fine-tuning target.
        decimals: decimal places of the written answer (numeric tasks), used for the tolerance
            when the written answer is compared with ``gold``.
        percent: the written answer is a percentage of a fraction-valued gold.
    """

    info: TaskInfo
    make: Callable[[random.Random], Case]
    derive: Callable[[str], Derived]
    what: str
    finetune_prompt: str
    finetune_answer_format: str
    decimals: int = 2
    percent: bool = False

    @property
    def name(self) -> str:
        return self.info.name


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`tunelab.synth.verify`: truthy when the example checks out."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class GenerationReport:
    """Examples that passed verification, with the counts of what was generated and rejected."""

    task: str
    examples: list[Any]
    generated: int
    verified: int
    rejected: int
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Counts only (no examples), for printing."""
        return {
            "task": self.task,
            "generated": self.generated,
            "verified": self.verified,
            "rejected": self.rejected,
            "reasons": dict(self.reasons),
        }
