"""The public API of ``tunelab.data``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.data as pkg

PUBLIC = {
    "end_of_turn_ids",
    "render_chat",
    "stop_token_ids",
    "HUMAN_TEXT_SHA256",
    "human_texts",
    "IGNORE_INDEX",
    "check_contamination",
    "ContaminationReport",
    "convert",
    "ConvertReport",
    "dedup_exact",
    "dedup_near",
    "describe",
    "detect_format",
    "encode",
    "encode_with_report",
    "EncodeReport",
    "Example",
    "FieldProblem",
    "file_kind",
    "FilterResult",
    "Format",
    "format_names",
    "get_format",
    "iter_examples",
    "json_type_name",
    "load",
    "load_with_report",
    "LossyConversion",
    "maybe_json",
    "normalize_text",
    "pack",
    "PackResult",
    "pad_free_batches",
    "plain_prompt",
    "RawRecord",
    "read_jsonl",
    "read_records",
    "register_format",
    "Rejected",
    "Removed",
    "ROLES",
    "split",
    "to_records",
    "validate",
    "ValidationReport",
    "write_records",
    "write_rejected",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
