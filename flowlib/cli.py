"""The ``flowlib`` command: run, preview, show, graph, verify and invalidate tasks from a terminal.

A task is named ``MODULE:TASK``, where MODULE is a dotted module importable from the
current directory or a path to a ``.py`` file; its parameters follow as
``--name value`` (``--name=value``, ``--foo-bar`` or ``--foo_bar``; a bare ``--flag``
for a bool), parsed by luigi's parameter types.

Exit codes: 0 on success, 1 when a run fails or verify finds bad outputs, 2 for a
usage error (unknown module, task or parameter, bad value). Errors are one line on
stderr; reports go to stdout.

Example:
    $ flowlib run examples.ml_workflow:Train --scale 2 --workers 2
    $ flowlib preview examples/ml_workflow.py:Evaluate --C 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import luigi
import luigi.configuration

import flowlib
from flowlib.errors import FlowlibError, ParameterError, StorageError
from flowlib.invalidate import invalidate_tasks
from flowlib.paramcheck import accepted, command_line_example
from flowlib.plan import build_plan
from flowlib.storage import human_size
from flowlib.task import Task

__all__ = ["main", "load_task_class", "parse_task_params", "UsageError", "ParameterUsageError"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(FlowlibError):
    """The command line names something that does not exist or gives a bad value (exit code 2)."""


class ParameterUsageError(UsageError, ParameterError):
    """A task parameter on the command line is unknown, missing or has a bad value (exit code 2)."""


# -- finding tasks ---------------------------------------------------------------------
def _import_module(spec: str) -> ModuleType:
    looks_like_path = spec.endswith(".py") or "/" in spec or os.sep in spec
    if looks_like_path:
        path = Path(spec).resolve()
        if not path.is_file():
            raise UsageError(f"no such file: {spec}")
        sys.path.insert(0, str(path.parent))  # so the file can import its neighbours
        name = path.stem
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"cannot import {spec}: not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise UsageError(f"importing {spec} failed: {type(exc).__name__}: {exc}") from exc
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and (spec == exc.name or spec.startswith(exc.name + ".")):
            raise UsageError(
                f"no module named {spec!r} (run flowlib from the directory that contains it, "
                "or pass a path to a .py file)"
            ) from exc
        raise UsageError(f"importing {spec!r} failed: {exc}") from exc
    except Exception as exc:
        raise UsageError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from exc


def _tasks_in(module: ModuleType) -> list[str]:
    return sorted(
        name for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, luigi.Task) and value.__module__ == module.__name__
    )


def load_task_class(target: str) -> type[luigi.Task]:
    """``"module:Task"`` or ``"path/to/file.py:Task"`` -> the task class.

    Example:
        >>> load_task_class("flowlib.task:TaskPickle").__name__
        'TaskPickle'
    """
    module_name, sep, task_name = target.rpartition(":")
    if not sep or not module_name or not task_name:
        raise UsageError(f"name a task as MODULE:TASK, e.g. examples.ml_workflow:Train (got {target!r})")
    module = _import_module(module_name)
    value = getattr(module, task_name, None)
    if not (isinstance(value, type) and issubclass(value, luigi.Task)):
        known = ", ".join(_tasks_in(module)) or "none"
        raise UsageError(f"module {module_name!r} has no task {task_name!r}; its tasks: {known}")
    return value


# -- task parameters --------------------------------------------------------------------
def _split(tokens: Sequence[str]) -> list[tuple[str, str | None]]:
    """``["--a", "1", "--flag", "--b=2"]`` -> ``[("a", "1"), ("flag", None), ("b", "2")]``."""
    pairs: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"unexpected argument {token!r}; give task parameters as --name value")
        name, eq, value = token[2:].partition("=")
        if eq:
            pairs.append((name, value))
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            pairs.append((name, tokens[i + 1]))
            i += 2
        else:
            pairs.append((name, None))
            i += 1
    return pairs


def _parse_value(cls: type[luigi.Task], name: str, param: luigi.Parameter, text: str | None) -> Any:
    flag = f"--{name.replace('_', '-')}"
    if text is None:
        if isinstance(param, luigi.BoolParameter):
            return True
        raise ParameterUsageError(
            f"{flag} needs a value ({accepted(param)}), e.g. {command_line_example(param, flag)}",
            task=cls.get_task_family(), parameter=name, accepted=accepted(param),
        )
    try:
        return param.normalize(param.parse(text))
    except Exception as exc:  # luigi raises ValueError, KeyError, JSON errors...
        kind = type(param).__name__.removesuffix("Parameter") or "Parameter"
        raise ParameterUsageError(
            f"bad value for {flag} of {cls.__name__}: {text!r} is not a valid {kind} ({exc}); "
            f"it takes {accepted(param)}, e.g. {command_line_example(param, flag)}",
            task=cls.get_task_family(), parameter=name, value=text, accepted=accepted(param),
        ) from exc


def parse_task_params(classes: Sequence[type[luigi.Task]], tokens: Sequence[str]) -> list[dict[str, Any]]:
    """Parse ``--name value`` pairs for each class (each takes the parameters it has).

    A name no class has is an error listing the parameters they have.

    Example:
        >>> import flowlib
        >>> class CliDocTask(flowlib.TaskPickle):
        ...     max_depth = flowlib.IntParameter(default=3)
        >>> parse_task_params([CliDocTask], ["--max-depth", "5"])
        [{'max_depth': 5}]
    """
    params = [dict(cls.get_params()) for cls in classes]
    values: list[dict[str, Any]] = [{} for _ in classes]
    for raw_name, text in _split(tokens):
        name = raw_name.replace("-", "_")
        owners = [i for i, p in enumerate(params) if name in p]
        if not owners:
            known = sorted({f"--{n.replace('_', '-')}" for p in params for n in p})
            names = " / ".join(cls.__name__ for cls in classes)
            raise ParameterUsageError(
                f"{names} has no parameter --{raw_name}; its parameters: {', '.join(known) or 'none'}",
                task=names, parameter=name, value=text, accepted=", ".join(known),
            )
        for i in owners:
            values[i][name] = _parse_value(classes[i], name, params[i][name], text)
    return values


def _make_task(cls: type[luigi.Task], values: dict[str, Any]) -> luigi.Task:
    try:
        return cls(**values)
    except ParameterError as exc:
        if exc.parameter and exc.parameter not in values:  # a required parameter that was not given
            param = dict(cls.get_params())[exc.parameter]
            flag = f"--{exc.parameter.replace('_', '-')}"
            raise ParameterUsageError(
                f"{cls.__name__} needs {flag} ({accepted(param)}; it has no default), "
                f"e.g. {command_line_example(param, flag)}",
                task=exc.task, parameter=exc.parameter, accepted=exc.accepted,
            ) from exc
        raise ParameterUsageError(
            f"cannot create {cls.__name__}: {exc}", task=exc.task, parameter=exc.parameter, value=exc.value,
            accepted=exc.accepted,
        ) from exc
    except luigi.parameter.MissingParameterException as exc:  # a plain luigi task
        found = re.search(r"requires the '(\w+)' parameter", str(exc))
        flag = f"--{found.group(1).replace('_', '-')}" if found else "more parameters"
        raise ParameterUsageError(f"{cls.__name__} needs {flag} (it has no default)") from exc
    except (FlowlibError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot create {cls.__name__}: {exc}") from exc


def _tasks(targets: Sequence[str], tokens: Sequence[str]) -> list[luigi.Task]:
    classes = [load_task_class(t) for t in targets]
    return [_make_task(cls, values) for cls, values in zip(classes, parse_task_params(classes, tokens))]


# -- commands ------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = _tasks([args.target], extra)
    result = flowlib.run(
        task, workers=args.workers, scheduler=args.scheduler, forced_all=args.forced_all,
        forced_all_upstream=args.forced_all_upstream, confirm=args.confirm, abort=False,
        progress=False if args.no_progress else None, execution_summary=False,
    )
    print(result)
    if result.cancelled:
        _error("cancelled: nothing ran")
        return EXIT_FAILED
    if not result:
        for outcome in result.outcomes:
            if outcome.error:
                print(f"\n--- {outcome.task} failed ---\n{outcome.error.rstrip()}")
        first = result.failed[0] if result.failed else result.not_run[0]
        last = result.outcome(first).error.strip().splitlines()[-1:] or [str(result.outcome(first).outcome)]
        hint = "; choose a writable root with --dir PATH" if "StorageError" in last[0] else ""
        _error(f"run failed: {first}: {last[0]}{hint}")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_preview(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = _tasks([args.target], extra)
    print(flowlib.preview(task, show=False).text)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, extra: Sequence[str]) -> int:
    (task,) = _tasks([args.target], extra)
    plan = build_plan([task])
    node = plan.roots[0]
    reason = f"  ({node.reason})" if node.reason and not node.complete else ""
    lines = [f"{task}  {node.status.value}{reason}", f"  task_id   {task.task_id}"]
    if isinstance(task, Task):
        storage = task.storage()
        lines.append(f"  root      {storage.url}")
        lines.append(f"  format    {task.target_class.name or task.target_class.__name__}")
        lines.append("  outputs")
        record = task.metadata()
        for key, target in task.output().items():
            exists = target.exists()
            size = f", {human_size(storage.size(target.path))}" if exists and task.target_class.is_file else ""
            info = record.outputs.get(key) if record is not None and exists else None
            rows = info.rows if info is not None else None
            size += f", {rows} rows" if rows is not None else ""
            lines.append(f"    {key:<10} {target.path}  ({'exists' if exists else 'missing'}{size})")
        if record is not None:
            lines.append(f"  ran       {record.started or '?'} in {record.duration:.2f}s")
            if record.metadata:
                lines.append(f"  metadata  {record.metadata}")
    else:
        lines.append("  (a plain luigi task: flowlib persists nothing for it)")
    if node.deps:
        lines.append("  requires")
        lines.extend(f"    {dep.task}  {dep.status.value}" for dep in node.deps)
    print("\n".join(lines))
    return EXIT_OK


def _cmd_invalidate(args: argparse.Namespace, extra: Sequence[str]) -> int:
    targets = [args.target] + ([args.downstream_to] if args.downstream_to else [])
    tasks = _tasks(targets, extra)
    task = tasks[0]
    if args.downstream_to:
        plan = build_plan([tasks[1]], rerun_stale=False)
        start = plan.node(task)
        between = {n.task_id for n in plan.downstream_of([start])} & {n.task_id for n in plan.upstream_of(plan.roots)}
        chosen = [n.task for n in plan.nodes if n.task_id in between]
    elif args.upstream:
        chosen = [n.task for n in build_plan([task], rerun_stale=False).nodes]
    else:
        chosen = [task]
    chosen = [t for t in chosen if isinstance(t, Task)]
    if not chosen:
        raise UsageError(f"{task} is not a flowlib task; flowlib removes only outputs it persists")
    ask = not args.yes and sys.stdin.isatty()
    if not invalidate_tasks(chosen, confirm=ask):
        print("nothing removed")
        return EXIT_FAILED
    print(f"invalidated {len(chosen)} task(s):")
    print("\n".join(f"  {t}" for t in chosen))
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace, extra: Sequence[str]) -> int:
    try:
        from flowlib.verify import verify
    except ImportError as exc:  # pragma: no cover - flowlib.verify ships with flowlib
        raise UsageError(f"flowlib verify is not available in this installation ({exc})") from exc

    (task,) = _tasks([args.target], extra)
    report = verify(task, fingerprints=not args.no_fingerprints, deep=args.deep)
    print(report)
    if report:
        if args.invalidate:
            removed = report.invalidate()
            print(f"removed the outputs of {len(removed)} damaged task(s); the next run redoes them")
        _error(f"{len(report)} bad output(s), first: {report[0]}")
        return EXIT_FAILED
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from flowlib.pictures import graph

    (task,) = _tasks([args.target], extra)
    picture = graph(task)
    if args.output:
        print(f"wrote {picture.save(args.output)}")
        return EXIT_OK
    text = {"mermaid": picture.to_mermaid, "dot": picture.to_dot, "svg": picture.to_svg}[args.format]()
    sys.stdout.write(text)
    return EXIT_OK


# -- the parser --------------------------------------------------------------------------------
def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("target", metavar="MODULE:TASK",
                        help="the task: a module importable from here, or a .py file, then ':' and the task class")
    common.add_argument("--dir", metavar="ROOT", help="where outputs live (a path or fsspec URL); default: "
                        "FLOWLIB_DIR, else [flowlib] dir in luigi's config, else ./data")
    common.add_argument("--log-level", default=None, metavar="LEVEL",
                        help="show flowlib's and luigi's log messages on stderr from this level (e.g. info)")
    return common


_EPILOG = "task parameters follow the task as --name value (e.g. --scale 2 --max-depth 3)"


def build_parser() -> argparse.ArgumentParser:
    """The ``flowlib`` argument parser (task parameters are parsed separately)."""
    parser = argparse.ArgumentParser(
        prog="flowlib", allow_abbrev=False,
        description="Run, preview, show, draw, verify and invalidate flowlib tasks.",
    )
    parser.add_argument("--version", action="version", version=f"flowlib {flowlib.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_common()]

    run = commands.add_parser("run", parents=common, allow_abbrev=False, epilog=_EPILOG,
                              help="run a task and everything it needs that is not complete",
                              description="Run a task and everything it requires that is not complete.")
    run.add_argument("--workers", type=int, default=1, help="how many tasks run at once (default 1)")
    run.add_argument("--scheduler", metavar="URL", default=None,
                     help="run on the luigid at URL (default: FLOWLIB_SCHEDULER, else [flowlib] scheduler, else local)")
    run.add_argument("--forced-all", action="store_true", help="rerun the task even if it is complete")
    run.add_argument("--forced-all-upstream", action="store_true", help="rerun every task of the flow")
    run.add_argument("--confirm", action="store_true", help="show the plan and ask before running")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    preview = commands.add_parser("preview", parents=common, allow_abbrev=False, epilog=_EPILOG,
                                  help="print the task's dependency tree with each task's status",
                                  description="Print the dependency tree with each task's status.")
    preview.set_defaults(handler=_cmd_preview)

    show = commands.add_parser("show", parents=common, allow_abbrev=False, epilog=_EPILOG,
                               help="show a task's status, outputs, paths and record",
                               description="Show one task: status, outputs and their paths, its record.")
    show.set_defaults(handler=_cmd_show)

    invalidate = commands.add_parser("invalidate", parents=common, allow_abbrev=False, epilog=_EPILOG,
                                     help="remove a task's outputs (and upstream / down to another task)",
                                     description="Remove outputs so tasks run again. Asks first in a terminal.")
    which = invalidate.add_mutually_exclusive_group()
    which.add_argument("--upstream", action="store_true", help="also everything the task requires, recursively")
    which.add_argument("--downstream-to", metavar="MODULE:TASK",
                       help="also this downstream task and every task on a path between the two")
    invalidate.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    invalidate.set_defaults(handler=_cmd_invalidate)

    verify = commands.add_parser("verify", parents=common, allow_abbrev=False, epilog=_EPILOG,
                                 help="check every output of the flow on disk against its record",
                                 description="Check every output of the flow: present, readable, as recorded.")
    verify.add_argument("--no-fingerprints", action="store_true", help="skip hashing the files (faster)")
    verify.add_argument("--deep", action="store_true", help="load every output fully (unpickles: trusted roots only)")
    verify.add_argument("--invalidate", action="store_true", help="remove the outputs of damaged tasks")
    verify.set_defaults(handler=_cmd_verify)

    picture = commands.add_parser("graph", parents=common, allow_abbrev=False, epilog=_EPILOG,
                                  help="print the flow's DAG as Mermaid, Graphviz DOT or SVG",
                                  description="Print the flow's DAG, each task coloured by status.")
    picture.add_argument("--format", choices=["mermaid", "dot", "svg"], default="mermaid",
                         help="mermaid (default), dot, or svg (needs Graphviz)")
    picture.add_argument("--output", "-o", metavar="FILE", help="write to FILE (.mmd, .dot or .svg) instead")
    picture.set_defaults(handler=_cmd_graph)

    from flowlib.cli_d6tflow import add_adopt_command  # its own module: the d6tflow migration command

    add_adopt_command(commands)

    from flowlib.cli_models import add_model_commands  # serve, models list / show / push / predict

    add_model_commands(commands)

    from flowlib.cli_bundle import add_bundle_commands  # bundle export / import / show

    add_bundle_commands(commands)
    return parser


def _error(message: str) -> None:
    print(f"flowlib: error: {' '.join(message.split())}", file=sys.stderr)


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
        _error(str(exc))
        return EXIT_USAGE
    except StorageError as exc:
        message = str(exc).strip().splitlines()[0].replace("flowlib.set_dir(...) or FLOWLIB_DIR", "--dir PATH")
        if "--dir" not in message:
            message += "; choose a writable root with --dir PATH"
        _error(message)
        return EXIT_FAILED
    except FlowlibError as exc:
        _error(str(exc).strip().splitlines()[0])
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
