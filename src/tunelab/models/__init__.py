"""Model loading (hub id, folder, or a registered model obtained from the package index), the shipped
tiny base model, LoRA wiring and merging, GGUF export.

The text the tiny model was pretrained on lives in :mod:`tunelab.synth` and the code that pretrains it in
:mod:`tunelab.train` (``build_tiny``). Importing this package does not import torch.
"""

from __future__ import annotations

from tunelab.models._fetch import FIND_LINKS_ENV, fetch_model, is_complete, read_provenance
from tunelab.models._gguf import GGUF_QUANTS, GGUFExport, export_gguf, write_gguf
from tunelab.models._gguf_verify import VerifyReport, load_gguf_model, verify_gguf
from tunelab.models._inference import load_for_inference
from tunelab.models._load import (
    FALLBACK_CHAT_TEMPLATE,
    TINY_NAME,
    describe_source,
    is_tiny,
    load_model,
    load_model_and_tokenizer,
    load_tokenizer,
    pick_device,
    resolve_dtype,
    resolve_model_path,
)
from tunelab.models._lora import apply_lora, cast_frozen_linears, load_qlora_base, trainable_parameters
from tunelab.models._lora_fused import fuse_lora_layers, lora_linear
from tunelab.models._merge import merge_adapter
from tunelab.models._modelfile import write_modelfile
from tunelab.models._packed import packed_linears, packing_available
from tunelab.models._registry import (
    PROVENANCE_FILE,
    REGISTRY,
    RegisteredModel,
    cache_dir,
    get_registered,
    model_cache_path,
    registered_names,
)
from tunelab.models._shipped import tiny_model_dir, write_tiny

__all__ = [
    "FIND_LINKS_ENV",
    "PROVENANCE_FILE",
    "REGISTRY",
    "RegisteredModel",
    "cache_dir",
    "describe_source",
    "fetch_model",
    "get_registered",
    "is_complete",
    "model_cache_path",
    "read_provenance",
    "registered_names",
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
    "cast_frozen_linears",
    "fuse_lora_layers",
    "lora_linear",
    "load_qlora_base",
    "merge_adapter",
    "trainable_parameters",
    "FALLBACK_CHAT_TEMPLATE",
    "TINY_NAME",
    "is_tiny",
    "load_for_inference",
    "load_model",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "pick_device",
    "resolve_dtype",
    "resolve_model_path",
    "tiny_model_dir",
    "write_tiny",
]
