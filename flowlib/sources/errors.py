"""The errors of data by name, all in flowlib's one exception family.

Example:
    >>> from flowlib.errors import FlowlibError
    >>> issubclass(FeedError, FlowlibError) and issubclass(UnknownFieldError, AttributeError)
    True
"""

from __future__ import annotations

from flowlib.errors import FlowlibError

__all__ = ["QueryError", "UnknownFieldError", "QueryTypeError", "SchemaError", "FeedError"]


class QueryError(FlowlibError, ValueError):
    """A query (or a Source task's arguments) cannot be built as written."""


class UnknownFieldError(QueryError, AttributeError):
    """A query names a field its schema does not declare (``Student.nmae``)."""


class QueryTypeError(QueryError, TypeError):
    """An expression combines values of types that do not go together (``Student.name > 3``)."""


class SchemaError(FlowlibError, TypeError):
    """A schema is declared wrongly, or a file, table or frame does not hold what its schema says."""


class FeedError(FlowlibError, LookupError):
    """No configured feed (or sink) serves the schemas a query names, or a feed cannot be used."""
