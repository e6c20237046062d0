"""The HTTP gateway: an ASGI app (starlette) that serves a registry's models, and ``serve`` to run it (uvicorn).

Routes:

- ``GET /health``: ``{"status": "ok", "registry": ROOT}``;
- ``GET /models``: ``[{"project", "release", "generation"}, ...]``;
- ``POST /models/{project}/predict`` (optional ``?release=`` and ``&generation=``): decodes the
  body by ``Content-Type`` (none: ``application/json``), applies the model, encodes by ``Accept``
  (none: ``application/json; format=pandas-records``) and names the model that answered in
  ``X-Flowlib-Model: project/release/generation``.

Errors are JSON ``{"error": "..."}``: 415 unsupported ``Content-Type``, 406 no encoder for ``Accept``,
400 undecodable body, missing feature columns or a malformed header or query, 404 unknown project,
release or generation, 413 body too large, 500 when the model raises (the traceback is logged, not sent).

Which generation is the latest is looked up again after ``refresh`` seconds (default 1), so a
generation pushed while the server runs is served without a restart.

Example:
    >>> from flowlib.serving import app
    >>> application = app("/tmp/flowlib-registry-doc")  # doctest: +SKIP
    >>> uvicorn.run(application, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flowlib.errors import FlowlibError
from flowlib.io import DecodeError, Decoder, Encoder, Encoding, EncodingError, get_decoder, get_encoder
from flowlib.models.registry import Model, ModelRef, Registry, RegistryError, UnknownModelError
from flowlib.models.task import FeatureError

__all__ = ["app", "serve", "ModelCache", "MODEL_HEADER"]

logger = logging.getLogger(__name__)

MODEL_HEADER = "X-Flowlib-Model"
_DEFAULT_CONTENT_TYPE = Encoding("application/json")


class ModelCache:
    """Resolved references (looked up again after ``refresh`` seconds) and the last ``size`` loaded models.

    Example:
        >>> cache = ModelCache(Registry("/tmp/flowlib-registry-doc"), refresh=1.0)
        >>> cache.refresh
        1.0
    """

    def __init__(self, registry: Registry, *, refresh: float = 1.0, size: int = 8) -> None:
        self.registry = registry
        self.refresh = refresh
        self.size = size
        self._refs: dict[tuple[str, str | None, int | None], tuple[float, ModelRef]] = {}
        self._models: collections.OrderedDict[ModelRef, Model] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[ModelRef, threading.Lock] = {}

    def resolve(self, project: str, release: str | None, generation: int | None) -> ModelRef:
        """The reference the query names now (cached for ``refresh`` seconds)."""
        key = (project, release, generation)
        now = time.monotonic()
        cached = self._refs.get(key)
        if cached is not None and now - cached[0] < self.refresh:
            return cached[1]
        ref = self.registry.ref(project, release, generation)
        self._refs[key] = (now, ref)
        return ref

    def model(self, ref: ModelRef) -> Model:
        """The loaded model of ``ref`` (loaded once, also when requests for it arrive together)."""
        found = self._models.get(ref)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(ref, threading.Lock())
        with loading:
            found = self._models.get(ref)
            if found is None:
                found = self.registry.load_ref(ref)
                logger.info("loaded %s from %s", ref, self.registry.root)
                with self._lock:
                    self._models[ref] = found
                    while len(self._models) > self.size:
                        self._models.popitem(last=False)
                    self._loading.pop(ref, None)
        return found


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status, headers=headers)


def _negotiate(request: Request) -> tuple[Decoder, Encoder] | JSONResponse:
    content_type = request.headers.get("content-type", "").strip()
    try:
        source = Encoding.parse(content_type) if content_type else [_DEFAULT_CONTENT_TYPE]
        if len(source) != 1:
            raise Encoding.Unsupported(f"a request body has one Content-Type, got {content_type!r}")
        decoder = get_decoder(source[0])
    except EncodingError as exc:
        return _error(415, f"unsupported Content-Type {content_type!r}: {exc}")
    accept = request.headers.get("accept", "")
    try:
        encoder = get_encoder(accept)  # a blank header is no preference; "x;q=0" alone accepts nothing
    except Encoding.Invalid as exc:
        return _error(400, f"malformed Accept header {accept!r}: {exc}")
    except EncodingError as exc:
        return _error(406, f"cannot answer with Accept {accept!r}: {exc}")
    return decoder, encoder


def _query(request: Request) -> tuple[str | None, int | None] | JSONResponse:
    release = request.query_params.get("release") or None
    text = request.query_params.get("generation")
    if text in (None, ""):
        return release, None
    if not text.isdigit():
        return _error(400, f"generation must be a whole number, got {text!r}")
    return release, int(text)


def app(registry: Registry | str | os.PathLike[str], *, refresh: float = 1.0, max_body: int = 32 * 2**20) -> Starlette:
    """The ASGI app serving ``registry`` (a :class:`~flowlib.models.Registry`, a folder or an fsspec URL).

    ``refresh``: seconds a resolved "latest" generation is trusted before the registry is read
    again. ``max_body``: the largest request body accepted, in bytes.

    Example:
        >>> application = app("/tmp/flowlib-registry-doc")
        >>> [route.path for route in application.routes]
        ['/health', '/models', '/models/{project}/predict']
    """
    models = registry if isinstance(registry, Registry) else Registry(registry)
    cache = ModelCache(models, refresh=refresh)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "registry": str(models.root)})

    async def listing(request: Request) -> Response:
        table = await run_in_threadpool(models.list)
        rows = table[["project", "release", "generation"]].to_dict(orient="records")
        return JSONResponse([{**row, "generation": int(row["generation"])} for row in rows])

    def answer(
        project: str, release: str | None, generation: int | None, body: bytes, decoder: Decoder, encoder: Encoder
    ) -> tuple[ModelRef, bytes]:
        ref = cache.resolve(project, release, generation)
        model = cache.model(ref)
        frame = decoder.loads(body)
        return ref, encoder.dumps(model.predict(frame))

    async def predict(request: Request) -> Response:
        project = request.path_params["project"]
        negotiated = _negotiate(request)
        if isinstance(negotiated, JSONResponse):
            return negotiated
        decoder, encoder = negotiated
        query = _query(request)
        if isinstance(query, JSONResponse):
            return query
        release, generation = query
        body = await request.body()
        if len(body) > max_body:
            return _error(413, f"the body has {len(body)} bytes; this server takes at most {max_body}")
        try:
            ref, payload = await run_in_threadpool(answer, project, release, generation, body, decoder, encoder)
        except UnknownModelError as exc:
            return _error(404, str(exc))
        except (DecodeError, FeatureError) as exc:
            return _error(400, str(exc))
        except RegistryError as exc:
            return _error(400, str(exc))
        except Exception as exc:  # the model's own failure: log the traceback, send one line
            logger.exception("model %s failed on a request", project)
            kind = "flowlib" if isinstance(exc, FlowlibError) else type(exc).__name__
            return _error(
                500, f"the model of project {project!r} failed ({kind} error); the server log has the details"
            )
        return Response(payload, media_type=encoder.encoding.header, headers={MODEL_HEADER: str(ref)})

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return _error(status, f"{detail}: {request.method} {request.url.path}")

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/models", listing, methods=["GET"]),
            Route("/models/{project}/predict", predict, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error},
    )


def serve(
    registry: Registry | str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Run the gateway on ``host``:``port`` with uvicorn until interrupted (``flowlib serve``).

    Example:
        >>> serve("models/", port=8000)  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(app(registry, **options), host=host, port=port, log_level=log_level)
