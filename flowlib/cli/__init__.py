"""The ``flowlib`` command: run, preview, show, graph, verify and invalidate tasks, adopt d6tflow outputs,
serve and manage models, from a terminal.

A task is named ``MODULE:TASK``, where MODULE is a dotted module importable from the
current directory or a path to a ``.py`` file; its parameters follow as
``--name value`` (``--name=value``, ``--foo-bar`` or ``--foo_bar``; a bare ``--flag``
for a bool), parsed by luigi's parameter types.

Exit codes: 0 on success, 1 when a run fails or verify finds bad outputs, 2 for a
usage error (unknown module, task or parameter, bad value). Errors are one line on
stderr; reports go to stdout.

The package: this module holds :func:`main`, the parser and the list of command groups,
:data:`GROUPS`; ``flowlib.cli.common`` what the groups share (task loading, parameter parsing,
errors, output); one module per group: ``tasks`` (run, preview, show, invalidate, verify, graph),
``d6tflow`` (adopt-d6tflow), ``models`` (serve, models list / show / push / predict). A group module
imports ``flowlib.cli.common`` and the library, never this package, and has
``add_commands(commands)``, which adds its subcommands to the ``flowlib`` subparsers, each with
``set_defaults(handler=...)``; a handler takes ``(args, extra)`` and returns the exit code.

Registering a new group ``flowlib/cli/NAME.py`` is one change here: name it in the import of the
groups (``from flowlib.cli import bundle, d6tflow, models, tasks``) and in :data:`GROUPS`, whose order is
the order of ``flowlib --help``.

Example:
    $ flowlib run examples.ml_workflow:Train --scale 2 --workers 2
    $ flowlib preview examples/ml_workflow.py:Evaluate --C 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

import luigi.configuration

import flowlib
from flowlib.cli import bundle, d6tflow, models, tasks
from flowlib.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    ParameterUsageError,
    UsageError,
    error,
    load_task_class,
    parse_task_params,
)
from flowlib.errors import FlowlibError, StorageError

__all__ = [
    "main",
    "build_parser",
    "load_task_class",
    "parse_task_params",
    "UsageError",
    "ParameterUsageError",
    "GROUPS",
]

#: The command groups, in the order ``flowlib --help`` lists their commands.
GROUPS: tuple[ModuleType, ...] = (tasks, bundle, d6tflow, models)


def build_parser() -> argparse.ArgumentParser:
    """The ``flowlib`` argument parser (task parameters are parsed separately).

    Example:
        >>> build_parser().parse_known_args(["preview", "flows.py:Train", "--scale", "2"])[1]
        ['--scale', '2']
    """
    parser = argparse.ArgumentParser(
        prog="flowlib", allow_abbrev=False, description="Run, preview, show, draw, verify and invalidate flowlib tasks."
    )
    parser.add_argument("--version", action="version", version=f"flowlib {flowlib.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_commands(commands)
    return parser


@contextlib.contextmanager
def _logging(level: str | None) -> Iterator[None]:
    """Logs only when asked (``--log-level``): otherwise stderr keeps to the one-line error."""
    handler: logging.Handler = logging.NullHandler()
    root = logging.getLogger()
    old_level = root.level
    if level is not None:
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            raise UsageError(f"--log-level {level!r} is not a level; use debug, info, warning or error")
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(numeric)
    config = luigi.configuration.get_config()
    if not config.has_section("core"):
        config.add_section("core")
    old_option = config.get("core", "no_configure_logging", None)
    config.set("core", "no_configure_logging", "true")  # this command owns logging, not luigi.build
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        if old_option is None:
            config.remove_option("core", "no_configure_logging")
        else:
            config.set("core", "no_configure_logging", old_option)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowlib`` console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        with _logging(args.log_level):
            if args.dir:
                flowlib.set_dir(args.dir)
            code: int = args.handler(args, extra)
            return code
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except StorageError as exc:
        message = str(exc).strip().splitlines()[0].replace("flowlib.set_dir(...) or FLOWLIB_DIR", "--dir PATH")
        if "--dir" not in message:
            message += "; choose a writable root with --dir PATH"
        error(message)
        return EXIT_FAILED
    except FlowlibError as exc:
        error(str(exc).strip().splitlines()[0])
        return EXIT_FAILED
    except KeyboardInterrupt:
        error("interrupted")
        return 130
