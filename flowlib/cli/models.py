"""The ``flowlib serve`` and ``flowlib models ...`` commands: serve, list, show, push and apply registry models.

Each takes ``--registry PATH_OR_URL``; without it, the ``FLOWLIB_REGISTRY`` environment variable,
then ``registry`` in the ``[flowlib]`` section of luigi's config file.

Example:
    $ flowlib models push examples/serve_model.py:IrisForest --project iris --release 1.0 --n-estimators 50
    $ flowlib models list
    $ flowlib models predict iris rows.csv --accept "application/json; format=pandas-split"
    $ flowlib serve --registry ./models --port 8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import luigi
import luigi.configuration

from flowlib.cli.common import UsageError, load_task_class, parse_task_params

__all__ = ["add_commands", "registry_location"]

_CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json"}


def registry_location(given: str | None) -> str:
    """``--registry``, else ``FLOWLIB_REGISTRY``, else ``[flowlib] registry`` in luigi's config.

    Example:
        >>> registry_location("/srv/models")
        '/srv/models'
    """
    value = (
        given or os.environ.get("FLOWLIB_REGISTRY") or luigi.configuration.get_config().get("flowlib", "registry", None)
    )
    if not value:
        raise UsageError(
            "no registry: give --registry PATH_OR_URL, set FLOWLIB_REGISTRY, "
            "or set registry in [flowlib] of luigi's config"
        )
    return str(value)


def _registry(args: argparse.Namespace) -> Any:
    from flowlib.models import Registry

    return Registry(registry_location(args.registry))


def _no_extra(extra: Sequence[str]) -> None:
    if extra:
        raise UsageError(f"unexpected argument {extra[0]!r}")


def _generation(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise UsageError(f"--generation takes a whole number, got {text!r}")
    return int(text)


def _cmd_serve(args: argparse.Namespace, extra: Sequence[str]) -> int:
    _no_extra(extra)
    try:
        from flowlib.serving import serve
    except ImportError as exc:
        raise UsageError(f"flowlib serve needs the serve extra: pip install 'flowlib[serve]' ({exc})") from exc
    location = registry_location(args.registry)
    print(f"serving {location} on http://{args.host}:{args.port}", flush=True)
    serve(location, host=args.host, port=args.port, refresh=args.refresh, log_level=args.log_level or "info")
    return 0


def _cmd_list(args: argparse.Namespace, extra: Sequence[str]) -> int:
    _no_extra(extra)
    registry = _registry(args)
    table = registry.list(args.project)
    if table.empty:
        print(f"no models in {registry.root}")
        return 0
    metrics = [column for column in table.columns if column.startswith("metrics.")]
    shown = table[["project", "release", "generation", "created", "family", *metrics]].copy()
    shown["created"] = shown["created"].dt.strftime("%Y-%m-%d %H:%M:%S")
    shown.columns = [column.removeprefix("metrics.") for column in shown.columns]
    print(shown.to_string(index=False, na_rep="-"))
    return 0


def _cmd_show(args: argparse.Namespace, extra: Sequence[str]) -> int:
    _no_extra(extra)
    registry = _registry(args)
    ref = registry.ref(args.project, args.release, _generation(args.generation))
    print(ref)
    print(json.dumps(registry.tag(ref), indent=2, default=str))
    return 0


def _tags(pairs: Sequence[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise UsageError(f"--tag takes name=value, got {pair!r}")
        tags[name] = value
    return tags


def _cmd_push(args: argparse.Namespace, extra: Sequence[str]) -> int:
    import flowlib

    cls = load_task_class(args.target)
    (values,) = parse_task_params([cls], extra)
    try:
        task = cls(**values)
    except luigi.parameter.MissingParameterException as exc:
        raise UsageError(f"{cls.__name__}: {exc}") from exc
    registry = _registry(args)
    if not task.complete():
        result = flowlib.run(task, abort=False, progress=False)
        if not result:
            first = result.failed[0] if result.failed else result.not_run[0]
            lines = (result.outcome(first).error or "").strip().splitlines()
            raise flowlib.FlowlibError(f"training failed: {first}: {lines[-1] if lines else 'did not run'}")
    ref = registry.push(task, args.project, args.release, tags=_tags(args.tag))
    print(ref)
    return 0


def _cmd_predict(args: argparse.Namespace, extra: Sequence[str]) -> int:
    _no_extra(extra)
    from flowlib.io import Encoding, get_decoder, get_encoder

    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"no such file: {args.file}")
        data = path.read_bytes()
    content_type = args.content_type or _CONTENT_TYPES.get(Path(args.file).suffix.lower())
    if content_type is None:
        raise UsageError(f"cannot tell the encoding of {args.file}; give --content-type (e.g. text/csv)")
    try:
        decoder = get_decoder(content_type)
        encoder = get_encoder(args.accept) if args.accept else get_encoder()
    except Encoding.Invalid as exc:
        raise UsageError(str(exc)) from exc
    registry = _registry(args)
    model = registry.load(args.project, args.release, _generation(args.generation))
    payload = encoder.dumps(model.predict(decoder.loads(data)))
    sys.stdout.buffer.write(payload)
    if not payload.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
    return 0


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument(
        "--registry",
        metavar="PATH_OR_URL",
        default=None,
        help="the model registry (default: FLOWLIB_REGISTRY, else [flowlib] registry in luigi's config)",
    )
    common.add_argument("--log-level", default=None, metavar="LEVEL", help="show log messages from this level")
    common.set_defaults(dir=None)
    return common


def add_commands(commands: Any) -> None:
    """Add ``serve`` and ``models`` to the ``flowlib`` command's subparsers."""
    common = [_common()]
    serve = commands.add_parser(
        "serve",
        parents=common,
        allow_abbrev=False,
        help="serve a registry's models over HTTP",
        description="Serve the registry's models over HTTP (needs the serve extra).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--refresh", type=float, default=1.0, help="seconds before the latest generation is looked up again (default 1)"
    )
    serve.set_defaults(handler=_cmd_serve)

    models = commands.add_parser(
        "models",
        allow_abbrev=False,
        help="list, show, push and apply registry models",
        description="List, show, push and apply the models of a registry.",
    )
    verbs = models.add_subparsers(dest="verb", metavar="VERB", required=True)

    listing = verbs.add_parser("list", parents=common, allow_abbrev=False, help="one line per generation")
    listing.add_argument("project", nargs="?", default=None, metavar="PROJECT")
    listing.set_defaults(handler=_cmd_list)

    show = verbs.add_parser("show", parents=common, allow_abbrev=False, help="a generation's tag: metrics, provenance")
    show.add_argument("project", metavar="PROJECT")
    show.add_argument("--release", default=None, help="default: the latest (PEP 440 order)")
    show.add_argument("--generation", default=None, help="default: the latest")
    show.set_defaults(handler=_cmd_show)

    push = verbs.add_parser(
        "push",
        parents=common,
        allow_abbrev=False,
        help="train a task if needed, then push its model",
        epilog="task parameters follow as --name value (e.g. --n-estimators 50)",
    )
    push.add_argument("target", metavar="MODULE:TASK")
    push.add_argument("--project", required=True)
    push.add_argument("--release", required=True, help="a PEP 440 version, e.g. 1.0")
    push.add_argument("--tag", action="append", default=[], metavar="NAME=VALUE", help="a tag (repeatable)")
    push.add_argument("--dir", metavar="ROOT", help="where the task's outputs live (default: FLOWLIB_DIR ...)")
    push.set_defaults(handler=_cmd_push)

    predict = verbs.add_parser(
        "predict", parents=common, allow_abbrev=False, help="apply a model to a file, encoded predictions to stdout"
    )
    predict.add_argument("project", metavar="PROJECT")
    predict.add_argument("file", metavar="FILE", help="the input rows ('-' for stdin)")
    predict.add_argument("--content-type", default=None, help="the file's encoding (default: by its extension)")
    predict.add_argument("--accept", default=None, help="the output encoding (default pandas-records JSON)")
    predict.add_argument("--release", default=None)
    predict.add_argument("--generation", default=None)
    predict.set_defaults(handler=_cmd_predict)
