"""The canonical record every reader produces and every stage consumes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Example", "ROLES"]

ROLES = ("system", "user", "assistant")


@dataclass
class Example:
    """One training or evaluation item.

    Attributes:
        messages: chat turns, each ``{"role": "system"|"user"|"assistant", "content": str}``.
            Training examples end with an assistant turn; evaluation prompts may not.
        meta: provenance and scoring information. Well-known keys: ``task``, ``domain``,
            ``template_id``, ``source``, ``split``, ``gold`` (structured gold answer),
            ``answer_type``, ``scorer`` (name of the scorer that checks ``gold``).
        id: a stable identifier (unique within a file).
    """

    messages: list[dict[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """All turns before the final assistant turn."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[:-1]
        return list(self.messages)

    @property
    def response(self) -> str | None:
        """The final assistant turn's content, or ``None`` when the example has none."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "messages": self.messages, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        return cls(messages=list(d["messages"]), meta=dict(d.get("meta") or {}), id=str(d.get("id", "")))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)
