"""Response bodies in the OpenAI shapes: chat and legacy-completion choices, logprobs, usage, SSE chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tunelab.serve._engine import Event, Failed, Finished, TextDelta, TokenLogprob
from tunelab.serve._schemas import ApiError

__all__ = ["usage", "sse", "chat_logprobs", "completion_logprobs", "chat_stream", "completion_stream"]


def usage(fin: Finished) -> dict[str, int]:
    """The ``usage`` object."""
    return {
        "prompt_tokens": fin.prompt_tokens,
        "completion_tokens": fin.completion_tokens,
        "total_tokens": fin.prompt_tokens + fin.completion_tokens,
    }


def sse(obj: dict[str, Any]) -> str:
    """One server-sent event."""
    return f"data: {json.dumps(obj)}\n\n"


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_logprobs(lps: Sequence[TokenLogprob]) -> dict[str, Any]:
    """Chat ``logprobs``: ``{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}``."""
    content = [{**_entry(p.token, p.logprob), "top_logprobs": [_entry(t, v) for t, v in p.top]} for p in lps]
    return {"content": content, "refusal": None}


def completion_logprobs(lps: Sequence[TokenLogprob]) -> dict[str, Any]:
    """Legacy ``logprobs``: parallel lists; ``text_offset`` counts characters from the completion's start."""
    return {
        "tokens": [p.token for p in lps],
        "token_logprobs": [p.logprob for p in lps],
        "top_logprobs": [dict(p.top) for p in lps],
        "text_offset": [p.offset for p in lps],
    }


def _failure(ev: Failed) -> dict[str, Any]:
    return ApiError(ev.status, ev.message, code=ev.code, type_="server_error").body()


async def chat_stream(
    events: AsyncIterator[Event], base: dict[str, Any], include_usage: bool, want_logprobs: bool
) -> AsyncIterator[str]:
    """The ``chat.completion.chunk`` events of one streamed answer, then ``[DONE]``."""
    chunk = {**base, "object": "chat.completion.chunk"}
    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    yield sse({**chunk, "choices": [first]})
    async for ev in events:
        if isinstance(ev, TextDelta):
            choice: dict[str, Any] = {"index": 0, "delta": {"content": ev.text}, "finish_reason": None}
            if want_logprobs:
                choice["logprobs"] = chat_logprobs(ev.logprobs)
            yield sse({**chunk, "choices": [choice]})
        elif isinstance(ev, Failed):
            yield sse(_failure(ev))
        else:
            yield sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": ev.finish_reason}]})
            if include_usage:
                yield sse({**chunk, "choices": [], "usage": usage(ev)})
    yield "data: [DONE]\n\n"


async def completion_stream(
    events: AsyncIterator[Event], base: dict[str, Any], include_usage: bool, want_logprobs: bool
) -> AsyncIterator[str]:
    """The ``text_completion`` events of one streamed answer, then ``[DONE]``."""
    async for ev in events:
        if isinstance(ev, TextDelta):
            lp = completion_logprobs(ev.logprobs) if want_logprobs else None
            yield sse(
                {**base, "choices": [{"index": 0, "text": ev.text, "finish_reason": None, "logprobs": lp}]}
            )
        elif isinstance(ev, Failed):
            yield sse(_failure(ev))
        else:
            end = {"index": 0, "text": "", "finish_reason": ev.finish_reason, "logprobs": None}
            yield sse({**base, "choices": [end]})
            if include_usage:
                yield sse({**base, "choices": [], "usage": usage(ev)})
    yield "data: [DONE]\n\n"
