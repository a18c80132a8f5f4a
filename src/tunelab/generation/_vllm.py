"""The vLLM backend: offline batched generation on a GPU, behind the same interface as the transformers backend.

It feeds vLLM the *token ids* tunelab's own tokenizer makes (chat turns rendered by the same chat template,
plain prompts with the same special tokens), stops on the same end-of-turn/EOS ids and decodes the same way,
so both backends answer the same greedy text wherever their logits agree. A LoRA adapter is served through
vLLM's own LoRA support (``enable_lora`` + a ``LoRARequest``), not merged. :func:`vllm_server_command` is the
same setup for vLLM's OpenAI-compatible server.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunelab.errors import InputError
from tunelab.generation._generate import Decoding, Generation, encode_prompts, render_prompt, trim_at_stop
from tunelab.models import load_tokenizer, resolve_model_path

__all__ = [
    "VLLMBackend",
    "import_vllm",
    "lora_rank",
    "stop_token_ids",
    "tokenizer_for",
    "vllm_server_command",
]


def import_vllm() -> Any:
    """The ``vllm`` module, or a clear error (exit 2) where it is not installed."""
    try:
        import vllm
    except ImportError as e:
        raise InputError(
            "the vllm backend needs vLLM, which is not installed here (it runs on a CUDA GPU: "
            "pip install vllm); use --backend transformers on this machine",
            field="--backend",
        ) from e
    return vllm


def stop_token_ids(model_path: str, tokenizer: Any) -> list[int]:
    """The ids the transformers backend stops on: the tokenizer's EOS and the generation config's EOS ids."""
    ids: set[int] = set()
    if isinstance(tokenizer.eos_token_id, int):
        ids.add(tokenizer.eos_token_id)
    gen_cfg = Path(model_path) / "generation_config.json"
    if gen_cfg.is_file():
        eos = json.loads(gen_cfg.read_text(encoding="utf-8")).get("eos_token_id")
        ids.update([eos] if isinstance(eos, int) else [int(i) for i in eos or []])
    if not ids:
        raise InputError("the tokenizer has no EOS token: generation could never stop", field="tokenizer")
    return sorted(ids)


def tokenizer_for(model_path: str, adapter: str | None) -> Any:
    """tunelab's tokenizer for a model (the adapter folder's when training saved one there): its chat template,
    or the ChatML fallback, is the one training rendered with."""
    if adapter is not None and Path(adapter, "tokenizer_config.json").is_file():
        return load_tokenizer(adapter)
    return load_tokenizer(model_path)


def lora_rank(adapter: str) -> int:
    """The rank of a peft LoRA adapter (what vLLM's ``max_lora_rank`` must cover)."""
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.is_file():
        raise InputError(
            "not a peft adapter folder (no adapter_config.json)", file=adapter, field="--adapter"
        )
    info = json.loads(cfg.read_text(encoding="utf-8"))
    if info.get("peft_type") != "LORA" or info.get("use_dora"):
        raise InputError("vLLM serves plain LoRA adapters only (merge DoRA first)", file=str(cfg))
    return int(info.get("r") or 8)


class VLLMBackend:
    """vLLM offline generation (CUDA GPU only; not run on the CPU machines this project's CI uses).

    Args:
        model_path: model folder, hub id, or ``tunelab-tiny``.
        adapter: a peft LoRA adapter folder, applied by vLLM per request.
        **engine_kwargs: passed to ``vllm.LLM`` (``tensor_parallel_size``, ``dtype``, ``max_model_len`` ...).

    Raises:
        InputError: vLLM is not installed, or the adapter is not a LoRA adapter.
    """

    def __init__(self, model_path: str, adapter: str | None = None, **engine_kwargs: Any) -> None:
        vllm = import_vllm()
        self._vllm = vllm
        self.model_path, self.adapter = model_path, adapter
        path = resolve_model_path(model_path)
        self.tokenizer = tokenizer_for(model_path, adapter)
        self.stop_ids = stop_token_ids(path, self.tokenizer)
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            engine_kwargs = {
                "enable_lora": True,
                "max_lora_rank": lora_rank(adapter),
                "max_loras": 1,
            } | engine_kwargs
            self.lora = LoRARequest("adapter", 1, str(Path(adapter).resolve()))
        self.llm = vllm.LLM(model=path, **engine_kwargs)

    def generate(self, prompts: Sequence[Any], decoding: Decoding) -> list[Generation]:
        chat = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        plain = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        ids: list[list[int]] = [[] for _ in prompts]
        for idx, special in ((chat, False), (plain, True)):
            texts = [
                p if isinstance(p, str) else render_prompt(p, self.tokenizer, "chat")
                for p in (prompts[i] for i in idx)
            ]
            for i, row in zip(idx, encode_prompts(self.tokenizer, texts, special) if texts else []):
                ids[i] = row
        params = self._vllm.SamplingParams(
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            max_tokens=decoding.max_new_tokens,
            stop=list(decoding.stop) or None,
            stop_token_ids=self.stop_ids,
            seed=None if decoding.greedy else decoding.seed,
        )
        outs = self.llm.generate(
            [{"prompt_token_ids": row} for row in ids], params, lora_request=self.lora, use_tqdm=False
        )
        gens = []
        for row, o in zip(ids, outs):
            c = o.outputs[0]
            token_ids = [int(t) for t in c.token_ids]
            if token_ids and token_ids[-1] in self.stop_ids:
                token_ids = token_ids[:-1]  # as the transformers backend: ids up to and excluding EOS
            text = str(self.tokenizer.decode(token_ids, skip_special_tokens=True))
            text, stopped = trim_at_stop(text, decoding.stop)
            reason = "stop" if stopped or c.finish_reason == "stop" else "length"
            gens.append(Generation(text, token_ids, len(row), reason))
        return gens

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "vllm",
            "model": self.model_path,
            "adapter": self.adapter,
            "vllm_version": getattr(self._vllm, "__version__", ""),
        }


def vllm_server_command(
    model: str,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    model_name: str | None = None,
    template_dir: str | None = None,
) -> list[str]:
    """The ``vllm serve`` argv for these settings (the chat template file is written into ``template_dir``)."""
    tok = tokenizer_for(model, adapter)
    tpl = Path(template_dir or tempfile.mkdtemp(prefix="tunelab-vllm-")) / "chat_template.jinja"
    tpl.write_text(str(tok.chat_template), encoding="utf-8")
    name = model_name or Path(resolve_model_path(model)).name
    # with an adapter, the model id clients ask for is the adapted model; the base stays reachable as NAME-base
    served = f"{name}-base" if adapter is not None else name
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model_path(model)]
    argv += ["--host", host, "--port", str(port), "--served-model-name", served, "--chat-template", str(tpl)]
    if adapter is not None:
        argv += ["--enable-lora", "--max-lora-rank", str(lora_rank(adapter))]
        argv += ["--lora-modules", f"{name}={Path(adapter).resolve()}"]
    return argv
