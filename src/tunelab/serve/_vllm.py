"""``tunelab serve --backend vllm``: vLLM's own OpenAI-compatible server, started with tunelab's settings.

Nothing is re-implemented: tunelab builds the ``vllm serve`` command line — the chat template tunelab trained
with (written to a file for ``--chat-template``), the LoRA adapter through ``--enable-lora --lora-modules``,
loopback binding, the API key (through vLLM's ``VLLM_API_KEY``, never on the command line) — and replaces
itself with that process.
"""

from __future__ import annotations

import os

from tunelab.generation import import_vllm, vllm_server_command

__all__ = ["run_vllm_server"]


def run_vllm_server(
    model: str,
    adapter: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    model_name: str | None = None,
) -> None:
    """Replace this process with vLLM's OpenAI-compatible server (needs vLLM and a CUDA GPU).

    Raises:
        InputError: vLLM is not installed, or the adapter is not a LoRA adapter.
    """
    import_vllm()
    argv = vllm_server_command(model, adapter, host, port, model_name)
    env = dict(os.environ)
    if api_key:
        env["VLLM_API_KEY"] = api_key
    os.execve(argv[0], argv, env)
