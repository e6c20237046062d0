"""Data by name: schemas, a query language, feeds that answer queries, sinks, records, source tasks.

Example:
    >>> from flowlib.sources import Schema, Field
    >>> class City(Schema):
    ...     name = Field(str)
    ...     people = Field(int)
    >>> City.select(City.name).where(City.people > 1000)
    City.select(City.name).where(City.people > 1000)
"""

from __future__ import annotations

from flowlib.sources.errors import FeedError, QueryError, QueryTypeError, SchemaError, UnknownFieldError
from flowlib.sources.expressions import Expr, Ordering, lit
from flowlib.sources.feeds import Feed, FileFeed, FrameFeed, SQLFeed, conform
from flowlib.sources.query import Query, from_canonical
from flowlib.sources.records import Record, records, to_frame
from flowlib.sources.registry import configured_feeds, plugins, select_feed, use
from flowlib.sources.schema import KINDS, Field, Schema, resolve_schema, schema_ref
from flowlib.sources.sinks import FileSink, Sink, SQLSink

__all__ = [
    "Schema",
    "Field",
    "KINDS",
    "Query",
    "Expr",
    "Ordering",
    "lit",
    "from_canonical",
    "schema_ref",
    "resolve_schema",
    "Feed",
    "FileFeed",
    "SQLFeed",
    "FrameFeed",
    "conform",
    "Sink",
    "FileSink",
    "SQLSink",
    "Record",
    "records",
    "to_frame",
    "use",
    "configured_feeds",
    "select_feed",
    "plugins",
    "QueryError",
    "UnknownFieldError",
    "QueryTypeError",
    "SchemaError",
    "FeedError",
]
