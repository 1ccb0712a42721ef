"""The HTTP face of :class:`~sec_assets.serve.service.Service` (FastAPI on uvicorn).

- ``POST /v1/classify`` — a clip as a multipart upload (field ``file``) or as the raw body
  (``Content-Type`` ``audio/wav``, ``audio/flac``, … or ``application/octet-stream``; the file name
  may come in ``?filename=``): labels per window and per clip, the models, timings, a request id.
- ``POST /v1/feedback`` — ``{"request_id", "label"}`` or ``{"request_id", "none_of_these": true}``.
- ``GET /v1/models`` — what is served; ``GET /health`` (alive), ``GET /ready`` (a model is served),
  ``GET /metrics`` (Prometheus), ``GET /`` (the page).
Bad input is a 4xx with the reason in ``detail``, never a 500. With a token, every ``/v1`` call
needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, model_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from sec_assets.core.serving.clips import ClipRefused
from sec_assets.core.serving.keep import Correction
from sec_assets.serve.service import Service

TOKEN_ENV = "SEC_SERVE_TOKEN"


class FeedbackBody(BaseModel):
    request_id: str = Field(min_length=1, max_length=64, description="the id a classify answer carried")
    label: str | None = Field(None, min_length=1, max_length=200, description="the right class")
    none_of_these: bool = Field(False, description="no class of the model is right")
    octave: int | None = Field(None, description="the octave whose answer was wrong (optional)")
    window_index: int | None = Field(None, ge=0, description="the window that was wrong (optional)")
    note: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _one(self) -> FeedbackBody:
        if (self.label is None) == (not self.none_of_these):
            raise ValueError("give either a label or none_of_these: true")
        return self


def create_app(service: Service, token: str | None = None, start: bool = True) -> FastAPI:
    """The app around ``service``; ``start``: the app's lifespan starts and stops the service."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start:
            await run_in_threadpool(service.start)
        try:
            yield
        finally:
            if start:
                await run_in_threadpool(service.stop)

    app = FastAPI(
        title="sec-assets serve",
        description="Labels for sound clips from each octave's champion",
        lifespan=lifespan,
    )
    metrics = service.metrics

    def authorized(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer <token>)")

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.path != "/metrics":
            metrics.requests.labels(request.url.path, str(response.status_code)).inc()
        return response

    @app.exception_handler(ClipRefused)
    async def refused(_: Request, exc: ClipRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        ok, state = service.ready()
        return JSONResponse(state, status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    def models() -> JSONResponse:
        ok, state = service.ready()
        return JSONResponse(state, status_code=200 if ok else 503)

    @app.post("/v1/classify", dependencies=[Depends(authorized)])
    async def classify(
        request: Request,
        filename: str | None = Query(None, max_length=255, description="the clip's file name (raw body)"),
        top_k: int | None = Query(None, ge=1, le=1000, description="labels per window and clip"),
    ) -> dict[str, Any]:
        limit = service.limits.max_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + 65536:
            raise ClipRefused(
                413, f"clip of {declared} bytes is larger than {limit} (setting serve_max_upload_mb)"
            )
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=1, max_fields=8, max_part_size=limit + 1)
            except Exception as exc:  # starlette's parser: malformed or over-limit multipart
                raise ClipRefused(400, f"unreadable multipart body: {exc}") from None
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ClipRefused(400, "multipart body without a file field named 'file'")
            data = await upload.read(limit + 1)
            name, kind = upload.filename, upload.content_type or ""
        else:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ClipRefused(413, f"clip larger than {limit} bytes (setting serve_max_upload_mb)")
                chunks.append(chunk)
            data, name = b"".join(chunks), filename
        return await run_in_threadpool(service.classify, data, name, kind, top_k)

    @app.post("/v1/feedback", dependencies=[Depends(authorized)])
    async def feedback(body: FeedbackBody) -> JSONResponse:
        correction = Correction(
            body.request_id,
            None if body.none_of_these else body.label,
            body.octave,
            body.window_index,
            body.note,
        )
        try:
            kept = await run_in_threadpool(service.feedback, correction)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from None
        except ValueError as exc:  # a label no folder can be named
            raise HTTPException(422, str(exc)) from None
        state = {
            "request_id": body.request_id,
            "into_training": kept.into_training,
            "class": kept.class_name,
            "path": str(kept.path),
            "provenance": str(kept.provenance),
            "reason": kept.reason,
        }
        refused = body.label is not None and not kept.into_training and service.settings.dataset_table is None
        return JSONResponse(state, status_code=409 if refused else 200)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("sec_assets.serve").joinpath("static/index.html").read_text()

    return app
