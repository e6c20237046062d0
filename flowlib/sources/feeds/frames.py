"""FrameFeed: in-process DataFrames by schema (tests, notebooks), queried by DuckDB.

The frames hold the physical column names (``Field(name=...)``); the data fingerprint is
a hash of each frame's content.

Example:
    >>> import pandas as pd
    >>> from flowlib.sources import Schema, Field
    >>> class Town(Schema):
    ...     name = Field(str)
    ...     people = Field(int)
    >>> feed = FrameFeed({Town: pd.DataFrame({"name": ["a", "b"], "people": [5, 50]})})
    >>> feed.read(Town.select(Town.name).where(Town.people > 10)).to_pydict()
    {'name': ['b']}
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import duckdb
import pandas as pd
import pyarrow as pa

from flowlib.sources.errors import FeedError
from flowlib.sources.feeds.base import Feed, check_columns, check_schema_map, digest
from flowlib.sources.feeds.duck import holds, run_query
from flowlib.sources.query import Query
from flowlib.sources.schema import Field

__all__ = ["FrameFeed"]


class FrameFeed(Feed):
    """DataFrames by schema: ``FrameFeed({Student: df}, priority=0)``."""

    kind = "frames"

    def __init__(self, frames: Mapping[type, pd.DataFrame], *, priority: int = 0) -> None:
        super().__init__(priority=priority)
        check_schema_map("FrameFeed", frames)
        for schema, frame in frames.items():
            if not isinstance(frame, pd.DataFrame):
                raise FeedError(f"FrameFeed: {schema.__name__} maps to {type(frame).__name__}, expected a DataFrame")
        self.frames = dict(frames)
        self.schemas = dict.fromkeys(self.frames).keys()

    def _arrow(self, schema: type) -> pa.Table:
        try:
            return pa.Table.from_pandas(self.frames[schema], preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise FeedError(f"FrameFeed: the frame for {schema.__name__} cannot be queried: {exc}") from exc

    def check(self, query: Query, tables: Mapping[type, pa.Table] | None = None) -> None:
        con = duckdb.connect()
        for schema in query.schemas:
            relation = con.from_arrow(tables[schema] if tables else self._arrow(schema))
            columns = {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}
            where = f"the FrameFeed frame for {schema.__name__}"
            check_columns(query, schema, columns, where, lambda field, found: holds(field.kind, found))

    def read(self, query: Query) -> pa.Table:
        arrow = {schema: self._arrow(schema) for schema in query.schemas}
        self.check(query, arrow)
        con = duckdb.connect()
        names = {}
        for i, schema in enumerate(query.schemas):
            names[schema] = f"frame_{i}"
            con.register(names[schema], arrow[schema])
        try:
            return run_query(con, query, names, self.describe())
        finally:
            con.close()

    def data_fingerprint(self, query: Query, ordinal: Field | None = None) -> str:
        return digest(_frame_hash(self.frames[schema]) for schema in query.schemas)


def _frame_hash(frame: pd.DataFrame) -> str:
    """A hash of a frame's columns, dtypes and values (row order included)."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    header = repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode("utf-8")
    return hashlib.sha256(header + rows).hexdigest()[:32]
