"""Strict parameters: an unknown, missing or unacceptable parameter is a :class:`ParameterError`.

luigi only warns when, say, a ``FloatParameter`` gets ``"abc"``, raises its own exceptions
for unknown or missing parameters, and lets a ``DateParameter`` given a string fail deep
inside ``normalize``. flowlib parses strings the way luigi's command line does, rejects what
cannot be parsed, and says which task and parameter, what was given and what is accepted.

Example:
    >>> import luigi
    >>> check_value("Train", "day", luigi.DateParameter(), "2024-01-31")
    datetime.date(2024, 1, 31)
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import luigi
import luigi.parameter

from flowlib.errors import ParameterError

__all__ = ["check_value", "given_values", "missing_parameter", "refused_value", "accepted", "command_line_example"]

# Most specific first: DateHourParameter etc. derive from other date parameters.
# (parameter type, Python types it takes, what it takes, a Python example, a command-line example)
_EXPECTED: list[tuple[type, tuple[type, ...], str, str, str]] = [
    (luigi.BoolParameter, (bool,), "a bool", "True", "true"),
    (luigi.IntParameter, (int,), "an int", "3", "3"),
    (luigi.FloatParameter, (int, float), "a float", "1.0", "1.0"),
    (
        luigi.DateHourParameter,
        (datetime.datetime,),
        "a datetime",
        "datetime.datetime(2024, 1, 31, 12)",
        "2024-01-31T12",
    ),
    (
        luigi.DateMinuteParameter,
        (datetime.datetime,),
        "a datetime",
        "datetime.datetime(2024, 1, 31, 12, 30)",
        "2024-01-31T1230",
    ),
    (
        luigi.DateSecondParameter,
        (datetime.datetime,),
        "a datetime",
        "datetime.datetime(2024, 1, 31, 12, 30, 5)",
        "2024-01-31T123005",
    ),
    (luigi.MonthParameter, (datetime.date,), "a date (its month counts)", "datetime.date(2024, 1, 1)", "2024-01"),
    (luigi.YearParameter, (datetime.date,), "a date (its year counts)", "datetime.date(2024, 1, 1)", "2024"),
    (luigi.DateParameter, (datetime.date,), "a date", "datetime.date(2024, 1, 31)", "2024-01-31"),
    (luigi.DictParameter, (Mapping,), "a dict", "{'a': 1}", "'{\"a\": 1}'"),
    (luigi.TupleParameter, (tuple, list), "a tuple", "(1, 2)", "'[1, 2]'"),
    (luigi.ListParameter, (tuple, list), "a list", "[1, 2]", "'[1, 2]'"),
    (luigi.PathParameter, (str, Path), "a path", "'data/file.csv'", "data/file.csv"),
]

_lookup: dict[type, tuple[tuple[type, ...], str, str, str] | None] = {}


def _expected(param: luigi.Parameter) -> tuple[tuple[type, ...], str, str, str] | None:
    kind = type(param)
    if kind not in _lookup:
        _lookup[kind] = next(
            ((types, what, py, cli) for base, types, what, py, cli in _EXPECTED if isinstance(param, base)), None
        )
    return _lookup[kind]


def _choices(param: luigi.Parameter) -> list[Any] | None:
    if isinstance(param, (luigi.EnumParameter, luigi.EnumListParameter)):
        enum_type = getattr(param, "_enum", None)
        if isinstance(enum_type, type) and issubclass(enum_type, enum.Enum):
            return [member.name for member in enum_type]
    choices = getattr(param, "_choices", None)
    return sorted(choices, key=str) if choices is not None else None


def accepted(param: luigi.Parameter) -> str:
    """What ``param`` accepts, in words: ``"a date"``, ``"one of ['a', 'b']"``..."""
    choices = _choices(param)
    if choices is not None:
        many = isinstance(param, (luigi.ChoiceListParameter, luigi.EnumListParameter))
        return f"{'a list of values from' if many else 'one of'} {choices}"
    expected = _expected(param)
    if expected is not None:
        return expected[1]
    if type(param) in (luigi.Parameter, luigi.StrParameter, luigi.OptionalParameter, luigi.OptionalStrParameter):
        return "a string"
    return f"a value for a {type(param).__name__}"


def command_line_example(param: luigi.Parameter, flag: str) -> str:
    """How to give ``param`` on a command line, e.g. ``--items '[1, 2]'``."""
    choices = _choices(param)
    if choices is not None:
        if isinstance(param, (luigi.ChoiceListParameter, luigi.EnumListParameter)):
            return f"{flag} {','.join(map(str, choices[:2]))}"
        return f"{flag} {choices[0]}"
    expected = _expected(param)
    if expected is None:
        return f"{flag} VALUE"
    if isinstance(param, luigi.BoolParameter):
        return f"{flag} (or {flag} false)"
    return f"{flag} {expected[3]}"


def check_value(task_family: str, name: str, param: luigi.Parameter, value: Any) -> Any:
    """Return ``value`` (parsed from a string if need be) or raise :class:`ParameterError`."""
    expected = _expected(param)
    if expected is None or value is None and isinstance(param, luigi.parameter.OptionalParameterMixin):
        return value
    types, what, example, cli = expected
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        if float in types and isinstance(value, int):
            return float(value)  # FloatParameter: 2 and 2.0 name the same task
        return value
    if isinstance(value, str):
        try:
            return param.normalize(param.parse(value))
        except (ValueError, TypeError, AttributeError, LookupError):
            pass
    text = cli.strip("'")
    raise ParameterError(
        f"{task_family}: parameter {name!r} expects {what}, got {value!r} ({type(value).__name__}); "
        f"pass e.g. {name}={example}" + (f" or a string as on luigi's command line, e.g. {text!r}" if text else ""),
        task=task_family,
        parameter=name,
        value=value,
        accepted=what,
    )


def _names(params: Sequence[tuple[str, luigi.Parameter]]) -> str:
    return ", ".join(name for name, _ in params) or "none"


def given_values(
    task_family: str, params: Sequence[tuple[str, luigi.Parameter]], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The values given to a task's constructor by parameter name, each checked with :func:`check_value`.

    Raises :class:`ParameterError` for an unknown name, too many positional arguments, or a
    parameter given twice.
    """
    lookup = dict(params)
    given: dict[str, Any] = {}
    positional = [(n, p) for n, p in params if p.positional]
    if len(args) > len(positional):
        raise ParameterError(
            f"{task_family} takes at most {len(positional)} positional parameters, got {len(args)} ({list(args)!r}); "
            f"name them instead, e.g. {task_family}({', '.join(f'{n}=...' for n, _ in params[:2])})",
            task=task_family,
            value=tuple(args),
            accepted=f"the parameters {_names(params)}",
        )
    for (name, param), value in zip(positional, args):
        given[name] = check_value(task_family, name, param, value)
    for name, value in kwargs.items():
        if name in given:
            raise ParameterError(
                f"{task_family}: parameter {name!r} is given twice (by position and by name)",
                task=task_family,
                parameter=name,
                value=value,
            )
        if name not in lookup:
            raise ParameterError(
                f"{task_family} has no parameter {name!r} (given {value!r}); its parameters: {_names(params)}",
                task=task_family,
                parameter=name,
                value=value,
                accepted=f"the parameters {_names(params)}",
            )
        given[name] = check_value(task_family, name, lookup[name], value)
    return given


def missing_parameter(
    task_family: str, params: Sequence[tuple[str, luigi.Parameter]], given: Mapping[str, Any]
) -> ParameterError:
    """The error for a required parameter that was not given (luigi's ``MissingParameterException``)."""
    for name, param in params:
        if name in given:
            continue
        try:
            has_value = param.has_task_value(task_family, name)
        except Exception:  # noqa: BLE001 - a default that cannot be parsed counts as missing
            has_value = False
        if not has_value:
            return ParameterError(
                f"{task_family} needs the parameter {name!r} ({accepted(param)}; it has no default); "
                f"pass it, e.g. {task_family}({name}=...)",
                task=task_family,
                parameter=name,
                accepted=accepted(param),
            )
    return ParameterError(f"{task_family}: a required parameter is missing", task=task_family)


def refused_value(
    task_family: str, params: Sequence[tuple[str, luigi.Parameter]], given: Mapping[str, Any], exc: BaseException
) -> ParameterError:
    """The error for a value luigi's ``normalize`` refused (e.g. a ``ChoiceParameter`` given another value)."""
    lookup = dict(params)
    for name, value in given.items():
        param = lookup[name]
        try:
            param.normalize(value)
        except Exception as refused:  # noqa: BLE001 - this is the value luigi refused
            return ParameterError(
                f"{task_family}: parameter {name!r} got {value!r}, which it does not accept ({refused}); "
                f"it accepts {accepted(param)}",
                task=task_family,
                parameter=name,
                value=value,
                accepted=accepted(param),
            )
    return ParameterError(f"{task_family}: bad parameters: {exc}", task=task_family)
