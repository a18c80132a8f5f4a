"""The public API of ``tunelab.models``, pinned: adding or removing a name is a deliberate change made here."""

from __future__ import annotations

import tunelab.models as pkg

PUBLIC = {
    "GGUF_QUANTS",
    "GGUFExport",
    "VerifyReport",
    "export_gguf",
    "load_gguf_model",
    "verify_gguf",
    "write_gguf",
    "write_modelfile",
    "packed_linears",
    "packing_available",
    "apply_lora",
    "cache_dir",
    "describe_source",
    "fetch_model",
    "FIND_LINKS_ENV",
    "get_registered",
    "is_complete",
    "model_cache_path",
    "PROVENANCE_FILE",
    "read_provenance",
    "REGISTRY",
    "RegisteredModel",
    "registered_names",
    "FALLBACK_CHAT_TEMPLATE",
    "is_tiny",
    "load_for_inference",
    "load_model",
    "load_model_and_tokenizer",
    "load_qlora_base",
    "cast_frozen_linears",
    "fuse_lora_layers",
    "lora_linear",
    "load_tokenizer",
    "merge_adapter",
    "pick_device",
    "resolve_dtype",
    "resolve_model_path",
    "tiny_model_dir",
    "TINY_NAME",
    "trainable_parameters",
    "write_tiny",
}


def test_public_api_is_pinned() -> None:
    assert set(pkg.__all__) == PUBLIC
    assert len(pkg.__all__) == len(PUBLIC), "a name is listed twice in __all__"
    for name in pkg.__all__:
        assert hasattr(pkg, name), name
