"""tunelab.synth: verified synthetic task generators (medical, finance), FLAN-style template banks, and
LLM-driven generation (Self-Instruct, Evol-Instruct) with filters that report what they removed and why.

Every generated task example carries its structured gold answer in ``meta`` and has been checked by an
independent verifier that re-reads the facts from the rendered text. LLM-driven runs go through
:mod:`tunelab.generation`'s backends behind a resumable request cache; an LLM judge used as a filter is passed
in as a callable (:data:`Judge`). The generated text the embedded tiny model was pretrained on, and the held-out
general text forgetting is measured on, come from here too (``pretraining_corpus``, ``general_text``).
"""

from __future__ import annotations

from tunelab.synth._answers import ANSWER_FORMATS, extract_answer
from tunelab.synth._cache import CachedBackend, RequestCache
from tunelab.synth._constraints import CONSTRAINT_TYPES, instruction_following_items
from tunelab.synth._corpus import HELDOUT_SEED, dialogue_text, general_text, pretraining_corpus
from tunelab.synth._evol import EVOL_DECODING, EVOL_OPERATIONS, RESPONSE_DECODING, evol_instruct
from tunelab.synth._filter import (
    BLACKLIST,
    FilterReport,
    Judge,
    filter_examples,
    instruction_problem,
    output_problem,
)
from tunelab.synth._generate import GENERATOR_VERSION, TEMPLATE_SETS, generate, generate_report, verify
from tunelab.synth._novelty import NoveltyDecision, NoveltyIndex, rouge_l_fmeasure
from tunelab.synth._registry import get_task, list_tasks
from tunelab.synth._run import SynthResult, rejected_path
from tunelab.synth._selfinstruct import (
    INSTANCE_DECODING,
    INSTRUCTION_DECODING,
    SeedTask,
    default_seeds_path,
    load_seed_tasks,
    self_instruct,
)
from tunelab.synth._templates import BANKS, Template, templates_for
from tunelab.synth._types import Case, GenerationReport, Task, TaskInfo, Verdict
from tunelab.synth._write import generate_to_file, partial_path

__all__ = [
    "CachedBackend",
    "RequestCache",
    "generate_to_file",
    "partial_path",
    "CONSTRAINT_TYPES",
    "instruction_following_items",
    "ANSWER_FORMATS",
    "BANKS",
    "BLACKLIST",
    "EVOL_DECODING",
    "EVOL_OPERATIONS",
    "HELDOUT_SEED",
    "INSTANCE_DECODING",
    "INSTRUCTION_DECODING",
    "RESPONSE_DECODING",
    "FilterReport",
    "Judge",
    "NoveltyDecision",
    "NoveltyIndex",
    "SeedTask",
    "SynthResult",
    "default_seeds_path",
    "dialogue_text",
    "evol_instruct",
    "filter_examples",
    "instruction_problem",
    "general_text",
    "load_seed_tasks",
    "output_problem",
    "pretraining_corpus",
    "rejected_path",
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
