"""Serving: the HTTP gateway over a model registry (the ``serve`` extra: starlette and uvicorn).

Example:
    >>> from flowlib.serving import app  # doctest: +SKIP
"""

from flowlib.serving.app import MODEL_HEADER, ModelCache, app, serve

__all__ = ["app", "serve", "ModelCache", "MODEL_HEADER"]
