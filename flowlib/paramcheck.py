"""Strict parameter types: a value of the wrong type is an error, not a warning.

luigi only warns when, say, a ``FloatParameter`` gets ``"abc"``; flowlib parses
strings the way luigi's command line does and rejects what cannot be parsed.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import luigi

from flowlib.errors import ParameterError

__all__ = ["check_value"]

# Most specific first: DateHourParameter etc. derive from other date parameters.
_EXPECTED: list[tuple[type, tuple[type, ...], str]] = [
    (luigi.BoolParameter, (bool,), "a bool|True"),
    (luigi.IntParameter, (int,), "an int|3"),
    (luigi.FloatParameter, (int, float), "a float|1.0"),
    (luigi.DateHourParameter, (datetime.datetime,), "a datetime|datetime.datetime(2024, 1, 31, 12)"),
    (luigi.DateMinuteParameter, (datetime.datetime,), "a datetime|datetime.datetime(2024, 1, 31, 12, 30)"),
    (luigi.DateSecondParameter, (datetime.datetime,), "a datetime|datetime.datetime(2024, 1, 31, 12, 30, 5)"),
    (luigi.DateParameter, (datetime.date,), "a date|datetime.date(2024, 1, 31)"),
    (luigi.MonthParameter, (datetime.date,), "a date|datetime.date(2024, 1, 1)"),
    (luigi.YearParameter, (datetime.date,), "a date|datetime.date(2024, 1, 1)"),
    (luigi.DictParameter, (Mapping,), "a dict|{'a': 1}"),
    (luigi.TupleParameter, (tuple, list), "a tuple|(1, 2)"),
    (luigi.ListParameter, (tuple, list), "a list|[1, 2]"),
    (luigi.PathParameter, (str, Path), "a path|'data/file.csv'"),
]

_lookup: dict[type, tuple[tuple[type, ...], str] | None] = {}


def _expected(param: luigi.Parameter) -> tuple[tuple[type, ...], str] | None:
    kind = type(param)
    if kind not in _lookup:
        _lookup[kind] = next(((types, hint) for base, types, hint in _EXPECTED if isinstance(param, base)), None)
    return _lookup[kind]


def check_value(task_family: str, name: str, param: luigi.Parameter, value: Any) -> Any:
    """Return ``value`` (parsed from a string if need be) or raise :class:`ParameterError`."""
    expected = _expected(param)
    if expected is None or value is None and isinstance(param, luigi.parameter.OptionalParameterMixin):
        return value
    types, hint = expected
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        if float in types and isinstance(value, int):
            return float(value)  # FloatParameter: 2 and 2.0 name the same task
        return value
    if isinstance(value, str):
        try:
            return param.normalize(param.parse(value))
        except (ValueError, TypeError, AttributeError):
            pass
    kind, example = hint.split("|", 1)
    raise ParameterError(
        f"{task_family}: parameter {name!r} expects {kind}, got {value!r} ({type(value).__name__}); "
        f"pass e.g. {name}={example}"
    )
