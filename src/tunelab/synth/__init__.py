"""tunelab.synth: verified synthetic task generators (medical, finance), FLAN-style template banks, and
LLM-driven generation (Self-Instruct, Evol-Instruct) with filters that report what they removed and why.

Every generated task example carries its structured gold answer in ``meta`` and has been checked by an
independent verifier that re-reads the facts from the rendered text. LLM-driven runs go through the evaluate
package's backends behind a resumable request cache.
"""

from __future__ import annotations

from tunelab.synth._answers import ANSWER_FORMATS, extract_answer
from tunelab.synth._evol import EVOL_OPERATIONS, evol_instruct
from tunelab.synth._filter import (
    BLACKLIST,
    FilterReport,
    filter_examples,
    instruction_problem,
    output_problem,
)
from tunelab.synth._generate import GENERATOR_VERSION, TEMPLATE_SETS, generate, generate_report, verify
from tunelab.synth._llm import make_backend
from tunelab.synth._novelty import NoveltyDecision, NoveltyIndex, rouge_l_fmeasure
from tunelab.synth._registry import get_task, list_tasks
from tunelab.synth._run import SynthResult
from tunelab.synth._selfinstruct import SeedTask, default_seeds_path, load_seed_tasks, self_instruct
from tunelab.synth._templates import BANKS, Template, templates_for
from tunelab.synth._types import Case, GenerationReport, Task, TaskInfo, Verdict

__all__ = [
    "ANSWER_FORMATS",
    "BANKS",
    "BLACKLIST",
    "EVOL_OPERATIONS",
    "FilterReport",
    "NoveltyDecision",
    "NoveltyIndex",
    "SeedTask",
    "SynthResult",
    "default_seeds_path",
    "evol_instruct",
    "filter_examples",
    "instruction_problem",
    "load_seed_tasks",
    "make_backend",
    "output_problem",
    "rouge_l_fmeasure",
    "self_instruct",
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
