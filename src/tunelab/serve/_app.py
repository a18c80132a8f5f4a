"""The OpenAI-compatible FastAPI application: ``/v1/models``, ``/v1/chat/completions``,
``/v1/completions`` (streaming by server-sent events, and non-streaming), ``/health``, ``/metrics``.

Every error is answered in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``:
400 bad JSON, a body nested too deeply, unknown or unimplemented parameters, prompt + max_tokens
beyond the context; 401 missing/wrong API key; 404 unknown model or path; 405 wrong method;
408 a body that does not arrive in time; 413 body too large; 422 fields that fail the schema (the
message names the field); 429 the waiting queue is full (with ``Retry-After``); 500 generation
failure; 503 shutting down; 504 the request timed out.
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
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunelab.data import render_chat
from tunelab.serve._engine import (
    Event,
    Failed,
    Finished,
    GenerationEngine,
    GenerationRequest,
    QueueFull,
    TextDelta,
)
from tunelab.serve._limits import BodySizeLimit, json_depth
from tunelab.serve._metrics import CONTENT_TYPE, MetricsMiddleware, ServerMetrics
from tunelab.serve._responses import chat_logprobs, chat_stream, completion_logprobs, completion_stream, usage
from tunelab.serve._schemas import ApiError, ChatCompletionRequest, CompletionRequest, check_parameters

if TYPE_CHECKING:
    from pydantic import BaseModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from tunelab.serve._engine import TokenLogprob

__all__ = ["create_app", "context_length"]

#: seconds a client told "queue full" is asked to wait (``Retry-After``)
RETRY_AFTER_S = 1


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
        request_timeout_s: float | None,
        max_json_depth: int,
    ) -> None:
        self.engine = engine
        self.tok = engine.tokenizer
        self.model_name = model_name
        self.aliases = aliases | {model_name}
        self.api_key = api_key
        self.max_tokens_limit = max_tokens_limit
        self.ctx = ctx
        self.request_timeout_s = request_timeout_s
        self.max_json_depth = max_json_depth
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

    async def parse(self, request: Request, schema: type[BaseModel], endpoint: str) -> Any:
        from pydantic import ValidationError

        raw = await request.body()
        too_deep = f"the request body is nested more than {self.max_json_depth} levels deep"
        try:
            data = json.loads(raw)
        except RecursionError as e:  # deeper than Python's parser goes
            raise ApiError(400, too_deep, code="too_deep") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"the request body is not valid JSON: {e}", code="invalid_json") from e
        if json_depth(data) > self.max_json_depth:
            raise ApiError(400, too_deep, code="too_deep")
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
        check_parameters(data, schema, endpoint)
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
        if len(req.stop_list()) > 4:
            raise ApiError(400, "at most 4 stop strings", param="stop")

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
        try:
            text = render_chat(self.tok, msgs, add_generation_prompt=True)
        except Exception as e:  # the template rejected the conversation (e.g. role order)
            raise ApiError(400, f"the chat template rejected the messages: {e}", param="messages") from e
        return list(self.tok(str(text), add_special_tokens=False)["input_ids"])

    def completion_prompt(self, req: CompletionRequest) -> list[int]:
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

    def submit(
        self, prompt_ids: list[int], max_new: int, req: ChatCompletionRequest | CompletionRequest
    ) -> AsyncIterator[Event]:
        """Queue the request now (so a full queue is a 429 before any byte is sent); its events follow.

        Raises:
            ApiError: 429 when the waiting queue is full, 503 while shutting down.
        """
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[Event] = asyncio.Queue()
        greq = GenerationRequest(
            prompt_ids=prompt_ids,
            max_new_tokens=max_new,
            temperature=req.temperature,
            top_p=req.top_p,
            stop=tuple(req.stop_list()),
            seed=req.seed,
            logprobs=req.n_logprobs(),
            timeout_s=self.request_timeout_s,
            on_event=lambda ev: (loop.call_soon_threadsafe(q.put_nowait, ev), None)[1],
        )
        try:
            self.engine.submit(greq)
        except QueueFull as e:
            raise ApiError(
                429,
                f"the server is busy ({e}); retry after {RETRY_AFTER_S} s",
                code="queue_full",
                type_="rate_limit_error",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from e
        except RuntimeError as e:
            raise ApiError(503, "the server is shutting down", type_="server_error") from e
        return _events(greq, q)

    async def complete(self, events: AsyncIterator[Event]) -> tuple[str, list[TokenLogprob], Finished]:
        parts: list[str] = []
        lps: list[TokenLogprob] = []
        async for ev in events:
            if isinstance(ev, TextDelta):
                parts.append(ev.text)
                lps.extend(ev.logprobs)
            elif isinstance(ev, Failed):
                raise ApiError(ev.status, ev.message, code=ev.code, type_="server_error")
            else:
                return "".join(parts), lps, ev
        raise ApiError(500, "generation ended without a result", type_="server_error")


async def _events(greq: GenerationRequest, q: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    try:
        while True:
            ev = await q.get()
            yield ev
            if isinstance(ev, (Finished, Failed)):
                return
    finally:
        greq.cancelled.set()  # no-op when finished; stops the row when the client left


def _add_error_handlers(app: FastAPI) -> None:
    """Every error in OpenAI's shape, including the framework's own 404, 405 and 422."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        what = {
            404: f"no such endpoint: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }
        err = ApiError(exc.status_code, what.get(exc.status_code, str(exc.detail)), code=str(exc.status_code))
        return JSONResponse(err.body(), status_code=exc.status_code, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = ApiError(422, f"invalid request: {exc.errors()[:3]}", code="invalid_field")
        return JSONResponse(err.body(), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        err = ApiError(500, f"internal error: {type(exc).__name__}", type_="server_error")
        return JSONResponse(err.body(), status_code=500)


def create_app(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    model_name: str = "tunelab",
    aliases: set[str] | None = None,
    api_key: str | None = None,
    max_body_bytes: int = 1_000_000,
    max_tokens_limit: int = 512,
    max_batch: int = 32,
    max_queue: int = 64,
    request_timeout_s: float | None = 600.0,
    body_timeout_s: float | None = 10.0,
    max_json_depth: int = 32,
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
        max_batch: most requests decoded together (continuous batching: requests join between steps).
        max_queue: most requests waiting for a place in the batch; more get 429 with ``Retry-After``.
        request_timeout_s: a request not finished this long after it arrived gets 504 (``None``: no limit).
        body_timeout_s: a request body not received within this many seconds gets 408.
        max_json_depth: a request body nested deeper gets 400.

    Returns:
        A FastAPI app; ``app.state.engine`` is the :class:`GenerationEngine` (started by the app's lifespan),
        ``app.state.metrics`` the :class:`~tunelab.serve._metrics.ServerMetrics` behind ``/metrics``.
    """
    engine = GenerationEngine(model, tokenizer, max_batch=max_batch, max_queue=max_queue)
    ctx = context_length(model, tokenizer)
    srv = _Server(
        engine,
        model_name,
        aliases or set(),
        api_key,
        max_tokens_limit,
        ctx,
        request_timeout_s,
        max_json_depth,
    )
    metrics = ServerMetrics(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine.start()
        try:
            yield
        finally:  # uvicorn runs this after in-flight requests finished
            await asyncio.to_thread(engine.stop)

    app = FastAPI(title="tunelab OpenAI-compatible server", lifespan=lifespan)
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.model_name = model_name
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes, read_timeout_s=body_timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _add_error_handlers(app)
    _add_routes(app, srv, metrics)
    return app


def _add_routes(app: FastAPI, srv: _Server, metrics: ServerMetrics) -> None:
    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        srv.check_auth(request)
        card = {"id": srv.model_name, "object": "model", "created": srv.created, "owned_by": "tunelab"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> Any:
        srv.check_auth(request)
        req: ChatCompletionRequest = await srv.parse(request, ChatCompletionRequest, "chat")
        srv.check_common(req)
        ids = srv.chat_prompt(req)
        events = srv.submit(ids, srv.budget(ids, req.requested_max_tokens()), req)
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": srv.model_name}
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            body = chat_stream(events, base, include_usage, req.logprobs)
            return StreamingResponse(body, media_type="text/event-stream")
        text, lps, fin = await srv.complete(events)
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": fin.finish_reason,
            "logprobs": chat_logprobs(lps) if req.logprobs else None,
        }
        return {**base, "object": "chat.completion", "choices": [choice], "usage": usage(fin)}

    @app.post("/v1/completions", response_model=None)
    async def completions(request: Request) -> Any:
        srv.check_auth(request)
        req: CompletionRequest = await srv.parse(request, CompletionRequest, "completions")
        srv.check_common(req)
        ids = srv.completion_prompt(req)
        events = srv.submit(ids, srv.budget(ids, req.requested_max_tokens()), req)
        base = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": srv.model_name,
        }
        want_lp = req.logprobs is not None
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            body = completion_stream(events, base, include_usage, want_lp)
            return StreamingResponse(body, media_type="text/event-stream")
        text, lps, fin = await srv.complete(events)
        lp = completion_logprobs(lps) if want_lp else None
        choice = {"index": 0, "text": text, "finish_reason": fin.finish_reason, "logprobs": lp}
        return {**base, "choices": [choice], "usage": usage(fin)}
