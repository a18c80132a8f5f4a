"""Data layer: the canonical :class:`Example`, readers, validation, templates, masks, packing.

``import tunelab.data`` imports neither torch nor transformers: tokenization imports them inside the
functions that need it. The released benchmark layouts (``medcalc``, ``finqa``, ...) are formats too: they
register here when :mod:`tunelab.benchmarks` is imported (the CLI, training and evaluation import it).
"""

from __future__ import annotations

from tunelab.data import _shapes  # noqa: F401 - registers the built-in record shapes
from tunelab.data._convert import ConvertReport, convert, to_records
from tunelab.data._dedup import (
    ContaminationReport,
    FilterResult,
    Removed,
    check_contamination,
    dedup_exact,
    dedup_near,
    normalize_text,
)
from tunelab.data._encode import IGNORE_INDEX, EncodeReport, encode, encode_with_report, plain_prompt
from tunelab.data._example import ROLES, Example
from tunelab.data._formats import (
    FieldProblem,
    Format,
    LossyConversion,
    detect_format,
    format_names,
    get_format,
    maybe_json,
    register_format,
)
from tunelab.data._io import RawRecord, file_kind, json_type_name, read_jsonl, read_records, write_records
from tunelab.data._load import (
    Rejected,
    ValidationReport,
    iter_examples,
    load,
    load_with_report,
    validate,
    write_rejected,
)
from tunelab.data._pack import PackResult, pack, pad_free_batches
from tunelab.data._render import end_of_turn_ids, render_chat, stop_token_ids
from tunelab.data._split import split
from tunelab.data._stats import describe
from tunelab.data._texts import HUMAN_TEXT_SHA256, human_texts

__all__ = [
    "HUMAN_TEXT_SHA256",
    "human_texts",
    "IGNORE_INDEX",
    "ROLES",
    "ContaminationReport",
    "ConvertReport",
    "EncodeReport",
    "Example",
    "FieldProblem",
    "FilterResult",
    "Format",
    "LossyConversion",
    "PackResult",
    "RawRecord",
    "Rejected",
    "Removed",
    "ValidationReport",
    "check_contamination",
    "end_of_turn_ids",
    "render_chat",
    "stop_token_ids",
    "convert",
    "dedup_exact",
    "dedup_near",
    "describe",
    "detect_format",
    "encode",
    "encode_with_report",
    "file_kind",
    "format_names",
    "get_format",
    "iter_examples",
    "json_type_name",
    "load",
    "load_with_report",
    "maybe_json",
    "normalize_text",
    "pack",
    "pad_free_batches",
    "plain_prompt",
    "read_jsonl",
    "read_records",
    "register_format",
    "split",
    "to_records",
    "validate",
    "write_records",
    "write_rejected",
]
