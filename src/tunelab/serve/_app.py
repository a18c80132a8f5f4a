"""The OpenAI-compatible FastAPI application: ``/v1/models``, ``/v1/chat/completions``,
``/v1/completions`` (streaming by server-sent events, and non-streaming), ``/health``.

Status codes: 400 bad JSON, unsupported options, or prompt + max_tokens beyond the context;
401 missing/wrong API key; 404 unknown model; 413 body too large; 422 fields that fail the
schema (the message names the field); 500 generation failure.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request  # runtime import: FastAPI resolves route annotations

from tunelab.data import render_chat
from tunelab.serve._engine import Event, Failed, Finished, GenerationEngine, GenerationRequest, TextDelta
from tunelab.serve._limits import BodySizeLimit
from tunelab.serve._schemas import ApiError, ChatCompletionRequest, CompletionRequest

if TYPE_CHECKING:
    from pydantic import BaseModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["create_app", "context_length"]


def context_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's context: ``max_position_embeddings``, or the tokenizer's limit when smaller."""
    n = int(getattr(model.config, "max_position_embeddings", 0) or 0)
    tok_max = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < tok_max < 10**7 and (n == 0 or tok_max < n):
        n = tok_max
    return n or 2048


class _Server:
    """Request handling shared by the routes (kept off the route functions for readability)."""

    def __init__(
        self,
        engine: GenerationEngine,
        model_name: str,
        aliases: set[str],
        api_key: str | None,
        max_tokens_limit: int,
        ctx: int,
    ) -> None:
        self.engine = engine
        self.tok = engine.tokenizer
        self.model_name = model_name
        self.aliases = aliases | {model_name}
        self.api_key = api_key
        self.max_tokens_limit = max_tokens_limit
        self.ctx = ctx
        self.created = int(time.time())

    def check_auth(self, request: Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise ApiError(
                401,
                "missing or invalid API key (send 'Authorization: Bearer KEY')",
                code="invalid_api_key",
                type_="authentication_error",
            )

    async def parse(self, request: Request, schema: type[BaseModel]) -> Any:
        from pydantic import ValidationError

        raw = await request.body()
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from e
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
        try:
            return schema.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            msgs = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5]
            )
            raise ApiError(422, f"invalid request: {msgs}", param=where, code="invalid_field") from e

    def check_common(self, req: ChatCompletionRequest | CompletionRequest) -> None:
        if req.model not in self.aliases:
            raise ApiError(
                404,
                f"model {req.model!r} is not served here (GET /v1/models lists {self.model_name!r})",
                param="model",
                code="model_not_found",
            )
        if req.n != 1:
            raise ApiError(400, "only n=1 is supported", param="n")
        if len(req.stop_list()) > 4:
            raise ApiError(400, "at most 4 stop strings", param="stop")
        if req.logprobs:
            raise ApiError(400, "logprobs are not supported by this server", param="logprobs")

    def budget(self, prompt_ids: list[int], requested: int | None) -> int:
        """max_tokens for the request, checked against the context and the server's limit."""
        room = self.ctx - len(prompt_ids)
        if requested is None:
            if room < 1:
                raise ApiError(
                    400,
                    f"the prompt has {len(prompt_ids)} tokens; the model's context is {self.ctx}",
                    param="messages",
                    code="context_length_exceeded",
                )
            return min(self.max_tokens_limit, room)
        if requested > self.max_tokens_limit:
            raise ApiError(
                400,
                f"max_tokens={requested} exceeds the server's limit of {self.max_tokens_limit}",
                param="max_tokens",
            )
        if len(prompt_ids) + requested > self.ctx:
            raise ApiError(
                400,
                f"prompt ({len(prompt_ids)} tokens) + max_tokens ({requested}) exceeds the model's context of {self.ctx} tokens",
                param="max_tokens",
                code="context_length_exceeded",
            )
        return requested

    def chat_prompt(self, req: ChatCompletionRequest) -> list[int]:
        msgs = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages
        ]
        if req.tools:
            raise ApiError(400, "tools are not supported by this server", param="tools")
        try:
            text = render_chat(self.tok, msgs, add_generation_prompt=True)
        except Exception as e:  # the template rejected the conversation (e.g. role order)
            raise ApiError(400, f"the chat template rejected the messages: {e}", param="messages") from e
        return list(self.tok(str(text), add_special_tokens=False)["input_ids"])

    def completion_prompt(self, req: CompletionRequest) -> list[int]:
        if req.echo or (req.best_of or 1) > 1 or req.suffix:
            raise ApiError(400, "echo, best_of > 1 and suffix are not supported", param="prompt")
        p = req.prompt
        if isinstance(p, list) and p and all(isinstance(x, int) for x in p):
            ids = [int(x) for x in p]  # type: ignore[arg-type]
            if max(ids) >= len(self.tok) or min(ids) < 0:
                raise ApiError(400, "prompt token id out of the vocabulary", param="prompt")
            return ids
        if isinstance(p, list):
            if len(p) != 1:
                raise ApiError(400, "send one prompt per request (a list of one string)", param="prompt")
            p = str(p[0])
        ids = list(self.tok(str(p), add_special_tokens=True)["input_ids"])
        if not ids:
            raise ApiError(400, "the prompt is empty", param="prompt")
        return ids

    async def events(
        self, prompt_ids: list[int], max_new: int, req: ChatCompletionRequest | CompletionRequest
    ) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Event] = asyncio.Queue()
        greq = GenerationRequest(
            prompt_ids=prompt_ids,
            max_new_tokens=max_new,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=tuple(req.stop_list()),
            seed=req.seed,
            on_event=lambda ev: (loop.call_soon_threadsafe(q.put_nowait, ev), None)[1],
        )
        self.engine.submit(greq)
        try:
            while True:
                ev = await q.get()
                yield ev
                if isinstance(ev, (Finished, Failed)):
                    return
        finally:
            greq.cancelled.set()  # no-op when finished; stops the row when the client left

    async def complete(self, prompt_ids: list[int], max_new: int, req: Any) -> tuple[str, Finished]:
        parts: list[str] = []
        async for ev in self.events(prompt_ids, max_new, req):
            if isinstance(ev, TextDelta):
                parts.append(ev.text)
            elif isinstance(ev, Failed):
                raise ApiError(500, ev.message, type_="server_error")
            else:
                return "".join(parts), ev
        raise ApiError(500, "generation ended without a result", type_="server_error")


def _usage(fin: Finished) -> dict[str, int]:
    return {
        "prompt_tokens": fin.prompt_tokens,
        "completion_tokens": fin.completion_tokens,
        "total_tokens": fin.prompt_tokens + fin.completion_tokens,
    }


def _sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def create_app(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    model_name: str = "tunelab",
    aliases: set[str] | None = None,
    api_key: str | None = None,
    max_body_bytes: int = 1_000_000,
    max_tokens_limit: int = 512,
    max_batch: int = 32,
    batch_wait_s: float = 0.005,
) -> FastAPI:
    """Build the OpenAI-compatible app around a loaded model.

    Args:
        model: a causal LM.
        tokenizer: its tokenizer with a chat template and a pad token (``tunelab.models.load_tokenizer``).
        model_name: the id ``/v1/models`` lists and requests must name.
        aliases: other names accepted in the ``model`` field (e.g. the path given on the command line).
        api_key: when set, every ``/v1`` request must send ``Authorization: Bearer <api_key>``.
        max_body_bytes: larger request bodies get 413.
        max_tokens_limit: largest ``max_tokens`` accepted (and the default when a request sends none).
        max_batch: most requests in one batched ``generate``.
        batch_wait_s: how long the idle engine waits to collect a batch.

    Returns:
        A FastAPI app; ``app.state.engine`` is the :class:`GenerationEngine` (started by the app's lifespan).
    """
    from fastapi.responses import JSONResponse, StreamingResponse

    engine = GenerationEngine(model, tokenizer, max_batch=max_batch, batch_wait_s=batch_wait_s)
    srv = _Server(
        engine, model_name, aliases or set(), api_key, max_tokens_limit, context_length(model, tokenizer)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:  # uvicorn runs this after in-flight requests finished
            await asyncio.to_thread(engine.stop)

    app = FastAPI(title="tunelab OpenAI-compatible server", lifespan=lifespan)
    app.state.engine = engine
    app.state.model_name = model_name
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        srv.check_auth(request)
        return {
            "object": "list",
            "data": [
                {"id": srv.model_name, "object": "model", "created": srv.created, "owned_by": "tunelab"}
            ],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        srv.check_auth(request)
        req: ChatCompletionRequest = await srv.parse(request, ChatCompletionRequest)
        srv.check_common(req)
        ids = srv.chat_prompt(req)
        max_new = srv.budget(ids, req.requested_max_tokens())
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        base = {"id": rid, "created": created, "model": srv.model_name}
        if not req.stream:
            text, fin = await srv.complete(ids, max_new, req)
            msg = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": msg, "finish_reason": fin.finish_reason, "logprobs": None}
            return {**base, "object": "chat.completion", "choices": [choice], "usage": _usage(fin)}
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        async def stream() -> AsyncIterator[str]:
            chunk = {**base, "object": "chat.completion.chunk"}
            yield _sse(
                {
                    **chunk,
                    "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                    ],
                }
            )
            async for ev in srv.events(ids, max_new, req):
                if isinstance(ev, TextDelta):
                    yield _sse(
                        {
                            **chunk,
                            "choices": [{"index": 0, "delta": {"content": ev.text}, "finish_reason": None}],
                        }
                    )
                elif isinstance(ev, Failed):
                    yield _sse(ApiError(500, ev.message, type_="server_error").body())
                else:
                    yield _sse(
                        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": ev.finish_reason}]}
                    )
                    if include_usage:
                        yield _sse({**chunk, "choices": [], "usage": _usage(ev)})
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        srv.check_auth(request)
        req: CompletionRequest = await srv.parse(request, CompletionRequest)
        srv.check_common(req)
        ids = srv.completion_prompt(req)
        max_new = srv.budget(ids, req.requested_max_tokens())
        base = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": srv.model_name,
        }
        if not req.stream:
            text, fin = await srv.complete(ids, max_new, req)
            choice = {"index": 0, "text": text, "finish_reason": fin.finish_reason, "logprobs": None}
            return {**base, "choices": [choice], "usage": _usage(fin)}
        include_usage = bool(req.stream_options and req.stream_options.include_usage)

        async def stream() -> AsyncIterator[str]:
            async for ev in srv.events(ids, max_new, req):
                if isinstance(ev, TextDelta):
                    yield _sse(
                        {
                            **base,
                            "choices": [
                                {"index": 0, "text": ev.text, "finish_reason": None, "logprobs": None}
                            ],
                        }
                    )
                elif isinstance(ev, Failed):
                    yield _sse(ApiError(500, ev.message, type_="server_error").body())
                else:
                    yield _sse(
                        {
                            **base,
                            "choices": [
                                {"index": 0, "text": "", "finish_reason": ev.finish_reason, "logprobs": None}
                            ],
                        }
                    )
                    if include_usage:
                        yield _sse({**base, "choices": [], "usage": _usage(ev)})
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app
