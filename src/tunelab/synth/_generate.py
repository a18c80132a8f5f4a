"""Seeded generation of verified examples, and the verifier entry point."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

from tunelab.data import Example
from tunelab.errors import InputError, TunelabError
from tunelab.scoring import FinQAProgramError, parse_number, program_answer
from tunelab.synth._answers import ANSWER_FORMATS, extract_answer
from tunelab.synth._registry import get_task
from tunelab.synth._templates import render_messages, templates_for
from tunelab.synth._types import Derived, GenerationReport, Task, Verdict

__all__ = ["GENERATOR_VERSION", "TEMPLATE_SETS", "Generator", "generate", "generate_report", "verify"]

GENERATOR_VERSION = "2"
TEMPLATE_SETS = ("train", "heldout", "finetune")


def _num(x: Any) -> float | None:
    return parse_number(x) if isinstance(x, (str, int, float)) else None


def _gold_tolerance(task: Task) -> float:
    """How far two independent computations of the stored gold may differ (round-off at its precision)."""
    if task.info.scorer == "finqa":
        return 1.01e-5  # both sides rounded to 5 places: one unit in the last place
    if task.info.answer_type == "integer":
        return 0.0
    # one unit in the last place: two exact computations may round a true x.xx5 tie apart
    return 10.0 ** (-task.decimals) * 1.000001


def _answer_tolerance(task: Task) -> float:
    """How far the written answer may be from gold: half a unit of its last written place."""
    if task.info.answer_type == "integer":
        return 0.0
    tol = 0.5 * 10.0 ** (-task.decimals)
    return (tol / 100 if task.percent else tol) + 1e-9


def _same(task: Task, a: Any, b: Any, tol: float) -> bool:
    if task.info.answer_type in ("label", "text"):
        return str(a).strip().lower() == str(b).strip().lower()
    x, y = _num(a), _num(b)
    return x is not None and y is not None and math.isfinite(x) and abs(x - y) <= tol


def verify(example: Example) -> Verdict:
    """Check a generated example with its task's independent verifier.

    The verifier re-reads the facts from the prompt text and recomputes the answer; the example
    passes when that answer equals ``meta["gold"]``, the response's final answer (extracted in the
    form ``meta["answer_format"]``) equals it too, and, for FinQA tasks, ``meta["program"]`` executes
    to it.

    Args:
        example: an :class:`Example` produced by :func:`generate` (or edited from one).

    Returns:
        A :class:`Verdict`, truthy when the example checks out, else carrying the reason.
    """
    meta = example.meta
    try:
        task = get_task(str(meta.get("task")))
    except InputError:
        return Verdict(False, f"unknown task {meta.get('task')!r}")
    if "gold" not in meta:
        return Verdict(False, "meta has no gold")
    prompt = "\n".join(m["content"] for m in example.prompt_messages)
    try:
        derived: Derived = task.derive(prompt)
    except (ValueError, KeyError, IndexError) as e:
        return Verdict(False, f"verifier could not read the facts: {e}")
    gold = meta["gold"]
    if not _same(task, derived.gold, gold, _gold_tolerance(task)):
        return Verdict(False, f"gold {gold!r} != re-derived {derived.gold!r}")
    for key, value in derived.detail.items():
        stored = (meta.get("gold_detail") or {}).get(key)
        if stored is not None and stored != value:
            return Verdict(False, f"gold_detail {key} {stored!r} != re-derived {value!r}")
    fmt = meta.get("answer_format")
    response = example.response
    if fmt not in ANSWER_FORMATS or response is None:
        return Verdict(False, f"no response or unknown answer_format {fmt!r}")
    answer = extract_answer(response, str(fmt), task.info.labels)
    if answer is None or not _same(task, answer, gold, _answer_tolerance(task)):
        return Verdict(False, f"response answer {answer!r} != gold {gold!r}")
    if task.info.scorer == "finqa":
        try:
            exe = program_answer(str(meta.get("program", "")), meta.get("table"))
        except FinQAProgramError as e:
            return Verdict(False, f"program does not run: {e}")
        if not _same(task, exe, gold, 1e-9):
            return Verdict(False, f"program gives {exe!r}, gold is {gold!r}")
    return Verdict(True)


class Generator:
    """The seeded generation loop of one task, able to stop after any example and go on later.

    Args:
        task: a task name (see :func:`tunelab.synth.list_tasks`).
        n: how many verified examples the run wants (bounds the candidates tried).
        seed: the seed.
        templates: ``train`` | ``heldout`` | ``finetune``.

    Attributes:
        report: what was generated so far.

    Raises:
        InputError: unknown task or template set, or ``n < 0``.
    """

    def __init__(self, task: str, n: int, seed: int = 0, templates: str = "train") -> None:
        self.spec = get_task(task)
        if templates not in TEMPLATE_SETS:
            raise InputError(
                f"unknown template set {templates!r}; expected one of {', '.join(TEMPLATE_SETS)}",
                field="templates",
            )
        if n < 0:
            raise InputError(f"n must be >= 0, got {n}", field="n")
        self.task, self.n, self.seed, self.templates = task, n, seed, templates
        self.bank = templates_for(self.spec, templates) if templates != "finetune" else ()
        self.rng = random.Random(f"tunelab.synth:{task}:{seed}")
        self.report = GenerationReport(task=task, examples=[], generated=0, verified=0, rejected=0)
        self.module = self.spec.make.__module__.rsplit(".", 1)[-1].lstrip("_")

    def state(self) -> dict[str, Any]:
        """The counts and the random state after the last example (plain JSON)."""
        version, internal, gauss = self.rng.getstate()
        r = self.report
        return {
            "generated": r.generated,
            "verified": r.verified,
            "rejected": r.rejected,
            "reasons": dict(r.reasons),
            "rng": [version, list(internal), gauss],
        }

    def restore(self, state: dict[str, Any], examples: list[Example]) -> None:
        """Continue from a :meth:`state` taken after ``examples`` were produced."""
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.report.examples = list(examples)
        self.report.generated, self.report.verified = int(state["generated"]), int(state["verified"])
        self.report.rejected, self.report.reasons = int(state["rejected"]), dict(state["reasons"])

    def run(self, until: int) -> list[Example]:
        """Generate until ``until`` examples (at most ``n``) are verified; return the new ones.

        Raises:
            TunelabError: too many candidates were rejected to reach ``n``.
        """
        report, spec, task = self.report, self.spec, self.task
        first = len(report.examples)
        max_tries = 2 * self.n + 100
        while report.verified < min(until, self.n):
            if report.generated >= max_tries:
                raise TunelabError(
                    f"{task}: only {report.verified} of {self.n} examples verified after "
                    f"{report.generated} candidates; rejections: {report.reasons}"
                )
            case = spec.make(self.rng)
            template = self.rng.choice(self.bank) if self.bank else None
            messages, fmt = render_messages(spec, case, template)
            index = report.generated
            report.generated += 1
            meta: dict[str, Any] = {
                "task": task,
                "domain": spec.info.domain,
                "template_id": template.id if template else "finetune",
                "template_set": self.templates,
                "source": "tunelab.synth",
                "gold": case.gold,
                "answer_type": spec.info.answer_type,
                "scorer": spec.info.scorer,
                "answer_format": fmt,
                "answer_text": case.answer_text,
                "labels": list(spec.info.labels) if spec.info.labels else None,
                "question": case.question,
                # the case text's hash, the same under every template: evaluation sets drop items whose case
                # was trained on (tunelab.compare decontaminates with it)
                "case_hash": hashlib.sha1(case.context.encode("utf-8")).hexdigest()[:16],
                "generator": f"tunelab.synth.{self.module}.{task}",
                "version": GENERATOR_VERSION,
                "seed": self.seed,
                "index": index,
                **case.extra,
            }
            ex = Example(messages=messages, meta=meta, id=f"{task}-s{self.seed}-{index:06d}")
            verdict = verify(ex)
            if verdict:
                report.examples.append(ex)
                report.verified += 1
            else:
                report.rejected += 1
                key = verdict.reason.split(":")[0][:60]
                report.reasons[key] = report.reasons.get(key, 0) + 1
        return report.examples[first:]


def generate_report(task: str, n: int, seed: int = 0, templates: str = "train") -> GenerationReport:
    """Generate ``n`` verified examples of a task, with the counts of what was rejected.

    Generation is deterministic: the only randomness is ``random.Random`` seeded from
    ``(task, seed)``, so the same arguments give the same bytes.

    Args:
        task: a task name (see :func:`tunelab.synth.list_tasks`).
        n: how many verified examples to return.
        seed: the seed.
        templates: ``train`` (the bank's training phrasings), ``heldout`` (the evaluation-only
            phrasings) or ``finetune`` (the task's one fixed fine-tuning format).

    Returns:
        A :class:`GenerationReport`.

    Raises:
        InputError: unknown task or template set, or ``n < 0``.
        TunelabError: too many candidates were rejected to reach ``n``.
    """
    gen = Generator(task, n, seed, templates)
    gen.run(n)
    return gen.report


def generate(task: str, n: int, seed: int = 0, templates: str = "train") -> list[Example]:
    """Generate ``n`` verified examples of a task (see :func:`generate_report` for the counts).

    Args:
        task: a task name.
        n: how many examples.
        seed: the seed (same seed, same bytes).
        templates: ``train`` | ``heldout`` | ``finetune``.

    Returns:
        The examples.

    Raises:
        InputError: unknown task or template set.
        TunelabError: too many candidates were rejected.
    """
    return generate_report(task, n, seed, templates).examples
