"""tunelab.synth: verified synthetic task generators (medical, finance) and FLAN-style template banks.

Every generated example carries its structured gold answer in ``meta`` and has been checked by an
independent verifier that re-reads the facts from the rendered text.
"""

from __future__ import annotations

from tunelab.synth._answers import ANSWER_FORMATS, extract_answer
from tunelab.synth._generate import GENERATOR_VERSION, TEMPLATE_SETS, generate, generate_report, verify
from tunelab.synth._registry import get_task, list_tasks
from tunelab.synth._templates import BANKS, Template, templates_for
from tunelab.synth._types import Case, GenerationReport, Task, TaskInfo, Verdict

__all__ = [
    "ANSWER_FORMATS",
    "BANKS",
    "GENERATOR_VERSION",
    "TEMPLATE_SETS",
    "Case",
    "GenerationReport",
    "Task",
    "TaskInfo",
    "Template",
    "Verdict",
    "extract_answer",
    "generate",
    "generate_report",
    "get_task",
    "list_tasks",
    "templates_for",
    "verify",
]
