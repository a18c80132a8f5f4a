"""The ``tunelab ui`` FastAPI application: the page, its static files and the JSON API it calls.

Access: every request carries the server's random token, as ``?token=`` (the URL printed at start), the
``X-Tunelab-Token`` header (what the page's scripts send), or the cookie the page receives when opened with
the token; otherwise 401. A state-changing request (POST) must carry the token in the header, which another
site's form cannot set, and an ``Origin``, when sent, must be this server's own; otherwise 403. Run names are
plain names under the runs folder (400 otherwise). Request bodies are bounded (413).

Status codes: 400 bad input (the message names the field), 401 no or wrong token, 403 wrong origin, 404 no
such run, 409 a conflict (a comparison is running, the config changed since it was shown), 413 body too large.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # runtime import: FastAPI resolves route annotations
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse

from tunelab.errors import InputError, TunelabError
from tunelab.ui import _judge, _runs
from tunelab.ui._chat import ChatModels
from tunelab.ui._jobs import JobManager, build_config, presets, resolved_yaml
from tunelab.ui._report import ReportRefresher

__all__ = ["create_ui_app", "TOKEN_HEADER", "COOKIE"]

TOKEN_HEADER = "x-tunelab-token"
COOKIE = "tunelab_ui_token"
STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"app.js", "results.js", "style.css"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# scripts only from this server (no inline script anywhere); the report's inline styles and data: images
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; "
    "form-action 'none'; base-uri 'none'"
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _token_ok(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def create_ui_app(runs_dir: Path, token: str, origins: set[str], max_body_bytes: int = 65_536) -> Any:
    """Build the app.

    Args:
        runs_dir: the folder whose run directories are listed and where launched runs go.
        token: the access token every request must carry.
        origins: the ``Origin`` values accepted on state-changing requests (``http://HOST:PORT``).
        max_body_bytes: larger request bodies get 413.

    Returns:
        The FastAPI app; ``.state`` holds the job manager, the chat models and the report refresher.
    """
    runs_dir.mkdir(parents=True, exist_ok=True)
    jobs = JobManager(runs_dir)
    chat = ChatModels()
    reports = ReportRefresher()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(jobs.shutdown)
        await asyncio.to_thread(chat.close)

    app = FastAPI(title="tunelab ui", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.jobs, app.state.chat, app.state.reports = jobs, chat, reports
    app.state.max_body_bytes = max_body_bytes
    _guard(app, token, origins)
    _run_routes(app, runs_dir, jobs)
    _review_routes(app, runs_dir, reports, chat)
    return app


def _guard(app: FastAPI, token: str, origins: set[str]) -> None:
    """The token and origin checks on every request, and the error responses."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        header = request.headers.get(TOKEN_HEADER)
        if request.method not in SAFE_METHODS:
            if not _token_ok(header, token):
                return _error(401, "state-changing requests need the X-Tunelab-Token header")
            origin = request.headers.get("origin")
            if origin is not None and origin not in origins:
                return _error(403, f"origin {origin!r} is not this server's")
        else:
            given = header or request.query_params.get("token") or request.cookies.get(COOKIE)
            if not _token_ok(given, token):
                return _error(401, "open the URL printed by `tunelab ui` (it carries the access token)")
        resp = await call_next(request)
        if request.query_params.get("token") and _token_ok(request.query_params.get("token"), token):
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Security-Policy"] = CSP
        return resp

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Response:
        return _error(e.status, e.message, e.field)

    @app.exception_handler(InputError)
    async def input_error(request: Request, e: InputError) -> Response:
        p = e.problems[0] if e.problems else None
        return _error(400, e.render(), p.field if p else None)

    @app.exception_handler(TunelabError)
    async def job_error(request: Request, e: TunelabError) -> Response:
        return _error(409, str(e))


def _run_dir(runs_dir: Path, name: str) -> Path:
    d = _runs.run_path(runs_dir, name)
    if not d.is_dir():
        raise ApiError(404, f"no run named {name!r}", "run")
    return d


def _run_routes(app: FastAPI, runs_dir: Path, jobs: JobManager) -> None:
    """The page, its files, the runs list, launching and cancelling, live progress, results."""

    @app.get("/")
    async def index() -> Response:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC_FILES:
            raise ApiError(404, "no such file")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(STATIC / name, media_type=kind)

    @app.get("/api/runs")
    async def runs() -> Any:
        return {"runs": await asyncio.to_thread(_runs.list_runs, runs_dir), "running": jobs.running()}

    @app.get("/api/presets")
    async def get_presets() -> Any:
        return {"presets": await asyncio.to_thread(presets), "methods": ["full", "lora"]}

    @app.post("/api/launch/preview")
    async def preview(request: Request) -> Any:
        form = await _body(request)
        cfg = await asyncio.to_thread(build_config, runs_dir, form)
        text, digest = resolved_yaml(cfg)
        return {"yaml": text, "digest": digest, "name": cfg.run_name}

    @app.post("/api/launch")
    async def launch(request: Request) -> Any:
        body = await _body(request)
        cfg = await asyncio.to_thread(build_config, runs_dir, body.get("form") or {})
        text, digest = resolved_yaml(cfg)
        if body.get("digest") != digest:
            raise ApiError(409, "the config differs from the one shown; preview it again", "digest")
        job = await asyncio.to_thread(jobs.launch, cfg, text)
        return {"name": job.name, "pid": job.proc.pid}

    @app.post("/api/runs/{name}/cancel")
    async def cancel(name: str) -> Any:
        d = _run_dir(runs_dir, name)
        await asyncio.to_thread(jobs.cancel, d.name)
        return _runs.run_state(d)

    @app.get("/api/runs/{name}/progress")
    async def progress(name: str) -> Any:
        return await asyncio.to_thread(_runs.run_progress, _run_dir(runs_dir, name))

    @app.get("/api/runs/{name}/results")
    async def results(name: str) -> Any:
        return await asyncio.to_thread(_runs.run_results, _run_dir(runs_dir, name))

    @app.get("/api/runs/{name}/flips")
    async def flips(name: str, a: str, b: str, slice: str = "", task: str = "", mode: str = "strict") -> Any:
        d = _run_dir(runs_dir, name)
        return await asyncio.to_thread(_runs.flipped, d, a, b, slice or None, task or None, mode)

    @app.get("/api/runs/{name}/report.html")
    async def report_html(name: str) -> Response:
        p = _run_dir(runs_dir, name) / "report.html"
        if not p.is_file():
            raise ApiError(404, "no report yet")
        return FileResponse(p, media_type="text/html")


def _review_routes(app: FastAPI, runs_dir: Path, reports: ReportRefresher, chat: ChatModels) -> None:
    """Blind judging (votes, summary, report refresh) and side-by-side chat."""

    @app.get("/api/runs/{name}/judge")
    async def judge_summary(name: str) -> Any:
        d = _run_dir(runs_dir, name)
        out = await asyncio.to_thread(_judge.judging_summary, d)
        return {**out, "report": reports.status(d)}

    @app.post("/api/runs/{name}/judge/start")
    async def judge_start(name: str, request: Request) -> Any:
        body = await _body(request)
        return await asyncio.to_thread(
            _judge.start_judging, _run_dir(runs_dir, name), str(body.get("a")), str(body.get("b"))
        )

    @app.get("/api/runs/{name}/judge/next")
    async def judge_next(name: str, rater: str) -> Any:
        return await asyncio.to_thread(_judge.next_item, _run_dir(runs_dir, name), rater)

    @app.post("/api/runs/{name}/judge/vote")
    async def judge_vote(name: str, request: Request) -> Any:
        d = _run_dir(runs_dir, name)
        b = await _body(request)
        out = await asyncio.to_thread(
            _judge.cast_vote, d, str(b.get("item")), str(b.get("preference")), str(b.get("rater")),
            str(b.get("comment") or ""),
        )  # fmt: skip
        reports.refresh(d)
        return out

    @app.post("/api/runs/{name}/chat")
    async def chat_route(name: str, request: Request) -> Response:
        d = _run_dir(runs_dir, name)
        b = await _body(request)
        models = b.get("models")
        if not isinstance(models, list):
            raise ApiError(400, "models is a list of two model names", "models")
        n_new = b.get("max_new_tokens", 64)
        if not isinstance(n_new, int):
            raise ApiError(400, "max_new_tokens is a whole number", "max_new_tokens")
        events = chat.stream(d, [str(m) for m in models], str(b.get("message") or ""), n_new)
        first = await anext(events)  # raises bad input before the response starts

        async def sse() -> AsyncIterator[str]:
            yield f"data: {json.dumps(first)}\n\n"
            async for ev in events:
                yield f"data: {json.dumps(ev)}\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")


def _error(status: int, message: str, field: str | None = None) -> Response:
    return JSONResponse({"error": {"message": message, "field": field}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a request body, read up to the app's limit (413 beyond it)."""
    limit = int(request.app.state.max_body_bytes)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body is larger than {limit} bytes")
    raw = bytearray()
    async for chunk in request.stream():  # a chunked body or a lying header stops at the limit too
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
    try:
        data = json.loads(bytes(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the request body is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data
