"""The public API of ``tunelab.synth``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.synth as pkg

PUBLIC = {
    "ANSWER_FORMATS",
    "BANKS",
    "BLACKLIST",
    "Case",
    "CONSTRAINT_TYPES",
    "default_seeds_path",
    "dialogue_text",
    "EVOL_DECODING",
    "evol_instruct",
    "EVOL_OPERATIONS",
    "extract_answer",
    "filter_examples",
    "FilterReport",
    "general_text",
    "generate",
    "generate_report",
    "GenerationReport",
    "GENERATOR_VERSION",
    "get_task",
    "HELDOUT_SEED",
    "INSTANCE_DECODING",
    "INSTRUCTION_DECODING",
    "instruction_following_items",
    "instruction_problem",
    "Judge",
    "list_tasks",
    "load_seed_tasks",
    "NoveltyDecision",
    "NoveltyIndex",
    "output_problem",
    "pretraining_corpus",
    "rejected_path",
    "RESPONSE_DECODING",
    "rouge_l_fmeasure",
    "SeedTask",
    "self_instruct",
    "SynthResult",
    "Task",
    "TaskInfo",
    "Template",
    "TEMPLATE_SETS",
    "templates_for",
    "Verdict",
    "verify",
    "CachedBackend",
    "RequestCache",
    "generate_to_file",
    "partial_path",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
