"""What every ``flowlib`` command group shares: finding tasks, parsing their parameters, errors, output.

A task is named ``MODULE:TASK``, where MODULE is a dotted module importable from the
current directory or a path to a ``.py`` file; its parameters follow as
``--name value`` (``--name=value``, ``--foo-bar`` or ``--foo_bar``; a bare ``--flag``
for a bool), parsed by luigi's parameter types.

Exit codes: ``EXIT_OK`` (0) on success, ``EXIT_FAILED`` (1) when a run fails or verify finds bad
outputs, ``EXIT_USAGE`` (2) for a usage error (:class:`UsageError`: unknown module, task or
parameter, bad value). Errors are one line on stderr (:func:`error`); reports go to stdout.

The command groups (``flowlib.cli.tasks``, ``flowlib.cli.models``, ...) import this module and the
library, never the package ``flowlib.cli``, which imports them to register their commands.

Example:
    >>> cls = load_task_class("flowlib.task:TaskPickle")
    >>> parse_task_params([cls], [])
    [{}]
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import luigi

from flowlib.errors import FlowlibError, ParameterError
from flowlib.paramcheck import accepted, command_line_example

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "UsageError",
    "ParameterUsageError",
    "load_task_class",
    "parse_task_params",
    "make_tasks",
    "error",
]

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
        name
        for name, value in vars(module).items()
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
            task=cls.get_task_family(),
            parameter=name,
            accepted=accepted(param),
        )
    try:
        return param.normalize(param.parse(text))
    except Exception as exc:  # luigi raises ValueError, KeyError, JSON errors...
        kind = type(param).__name__.removesuffix("Parameter") or "Parameter"
        raise ParameterUsageError(
            f"bad value for {flag} of {cls.__name__}: {text!r} is not a valid {kind} ({exc}); "
            f"it takes {accepted(param)}, e.g. {command_line_example(param, flag)}",
            task=cls.get_task_family(),
            parameter=name,
            value=text,
            accepted=accepted(param),
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
                task=names,
                parameter=name,
                value=text,
                accepted=", ".join(known),
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
                task=exc.task,
                parameter=exc.parameter,
                accepted=exc.accepted,
            ) from exc
        raise ParameterUsageError(
            f"cannot create {cls.__name__}: {exc}",
            task=exc.task,
            parameter=exc.parameter,
            value=exc.value,
            accepted=exc.accepted,
        ) from exc
    except luigi.parameter.MissingParameterException as exc:  # a plain luigi task
        found = re.search(r"requires the '(\w+)' parameter", str(exc))
        flag = f"--{found.group(1).replace('_', '-')}" if found else "more parameters"
        raise ParameterUsageError(f"{cls.__name__} needs {flag} (it has no default)") from exc
    except (FlowlibError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot create {cls.__name__}: {exc}") from exc


def make_tasks(targets: Sequence[str], tokens: Sequence[str]) -> list[luigi.Task]:
    """The tasks named by ``targets`` (``MODULE:TASK``), each with the ``--name value`` parameters it has.

    Example:
        >>> make_tasks(["flowlib.task:TaskPickle"], [])[0].get_task_family()
        'TaskPickle'
    """
    classes = [load_task_class(t) for t in targets]
    return [_make_task(cls, values) for cls, values in zip(classes, parse_task_params(classes, tokens))]


def error(message: str) -> None:
    """Print ``message`` as the command's one-line error on stderr (``flowlib: error: ...``).

    Example:
        >>> error("no such file: x.py")  # doctest: +SKIP
    """
    print(f"flowlib: error: {' '.join(message.split())}", file=sys.stderr)
