"""Request bodies of the OpenAI-compatible endpoints, the OpenAI-style error, and the parameter check.

Fields follow the OpenAI API reference for ``/v1/chat/completions`` and ``/v1/completions``. Nothing a
client sends is silently ignored (OpenAI itself answers 400 to an unrecognized argument):

- a field this server does not know is refused with 400 naming it;
- an OpenAI parameter this server does not implement (penalties, ``logit_bias``, tools, ``n`` > 1, ...)
  is refused with 400 naming it unless it carries its no-op default (``frequency_penalty: 0``);
- ``response_format`` ``{"type": "text"}`` is accepted; ``json_object`` and ``json_schema`` are refused
  with 400 (no constrained decoding here);
- fields that fail their schema (``temperature: 5``) get 422, in the same error shape, naming the field.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApiError",
    "ChatMessage",
    "ChatCompletionRequest",
    "CompletionRequest",
    "StreamOptions",
    "check_parameters",
]


class ApiError(Exception):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}`` with a status code."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type_
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI clients parse."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Lenient(BaseModel):
    # unknown fields are caught by check_parameters (400 naming them) before validation
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    type: Literal["text"]
    text: str


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        """The message text (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class StreamOptions(_Lenient):
    include_usage: bool = False


class _Sampling(_Lenient):
    """Fields shared by both endpoints."""

    model: str = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    # OpenAI's default temperature is 1.0 (sampling); pass 0 for greedy decoding.
    temperature: float = Field(default=1.0, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    # the end user's id: OpenAI uses it for abuse monitoring only; it never changes an answer
    user: str | None = None

    def stop_list(self) -> list[str]:
        """Stop strings as a list (empty strings dropped)."""
        if self.stop is None:
            return []
        items = [self.stop] if isinstance(self.stop, str) else list(self.stop)
        return [s for s in items if s]


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: dict[str, str] | None = None

    def requested_max_tokens(self) -> int | None:
        """``max_completion_tokens`` (the newer name) wins over ``max_tokens``."""
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def n_logprobs(self) -> int | None:
        """How many alternatives per token to report (``None``: no logprobs)."""
        return (self.top_logprobs or 0) if self.logprobs else None


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int]
    # the legacy API's logprobs is the number of alternatives per token, at most 5
    logprobs: int | None = Field(default=None, ge=0, le=5)

    def requested_max_tokens(self) -> int | None:
        """OpenAI's legacy default is 16 tokens; tunelab uses the server's limit instead (documented)."""
        return self.max_tokens

    def n_logprobs(self) -> int | None:
        """How many alternatives per token to report (``None``: no logprobs)."""
        return self.logprobs


# OpenAI parameters this server does not implement, each with the values that ask for nothing (accepted)
_NOT_IMPLEMENTED: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0, 0.0, None),
    "presence_penalty": (0, 0.0, None),
    "logit_bias": (None, {}),
    "n": (1, None),
    "best_of": (1, None),
    "echo": (False, None),
    "suffix": (None, ""),
    "tools": (None, []),
    "tool_choice": (None, "none"),
    "parallel_tool_calls": (None,),
    "functions": (None, []),
    "function_call": (None, "none"),
    "audio": (None,),
    "modalities": (None, ["text"]),
    "prediction": (None,),
    "web_search_options": (None,),
    "reasoning_effort": (None,),
    "verbosity": (None,),
    "store": (None, False),
    "service_tier": (None, "auto", "default"),
    "prompt_cache_key": (None,),
    "safety_identifier": (None,),
}

# implemented by a check here rather than a schema field
_CHECKED_HERE = {"chat": {"response_format"}, "completions": set()}


def check_parameters(data: dict[str, Any], schema: type[BaseModel], endpoint: str) -> None:
    """Refuse, with 400 naming the field, what this server would otherwise have to ignore.

    Args:
        data: the parsed JSON body.
        schema: the endpoint's request model (its fields are the implemented parameters).
        endpoint: ``chat`` or ``completions``.

    Raises:
        ApiError: 400 for an unknown field, an unimplemented parameter with a non-default value, or a
            ``response_format`` other than text.
    """
    known = set(schema.model_fields) | set(_NOT_IMPLEMENTED) | _CHECKED_HERE[endpoint]
    for name in data:
        if name not in known:
            raise ApiError(400, f"unrecognized request argument supplied: {name}", param=name)
    for name, accepted in _NOT_IMPLEMENTED.items():
        if name in data and not any(data[name] == a and type(data[name]) is type(a) for a in accepted):
            shown = ", ".join(json.dumps(a) for a in accepted)
            raise ApiError(
                400,
                f"{name}={json.dumps(data[name])[:80]} is not supported by this server (only {shown})",
                param=name,
                code="unsupported_parameter",
            )
    if endpoint == "chat":
        fmt = data.get("response_format")
        if fmt is not None and fmt != {"type": "text"}:
            kind = fmt.get("type") if isinstance(fmt, dict) else fmt
            raise ApiError(
                400,
                f"response_format {kind!r} is not supported: this server has no constrained decoding "
                "(only {'type': 'text'})",
                param="response_format",
                code="unsupported_parameter",
            )
        if data.get("top_logprobs") is not None and not data.get("logprobs"):
            raise ApiError(400, "top_logprobs requires logprobs: true", param="top_logprobs")
