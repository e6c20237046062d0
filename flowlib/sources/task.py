"""Source and Publish: the flowlib tasks that read data by name and write results through a sink.

``Source(query)`` asks the configured feeds for the query's result and saves it as Parquet;
its data fingerprint (what the feed reports about the data the query reads) makes it STALE
("source data changed") when the data under it changed. ``Publish(task, schema=..., sink=...)``
writes another task's output through a sink.

Example:
    >>> import flowlib
    >>> from flowlib.sources import Schema, Field
    >>> class Reading(Schema):
    ...     seq = Field(int)
    ...     value = Field(float)
    >>> task = flowlib.Source(Reading.select(), ordinal=Reading.seq, lower=3, upper=5)
    >>> task.effective_query()
    Reading.select().where((Reading.seq >= 3) & (Reading.seq < 5))
"""

from __future__ import annotations

import time
from typing import Any

import luigi

from flowlib.errors import ParameterError
from flowlib.sources.errors import QueryError
from flowlib.sources.feeds.base import conform
from flowlib.sources.params import (
    BoundParameter,
    FieldParameter,
    FieldRef,
    LabelsParameter,
    QueryParameter,
    SchemaParameter,
)
from flowlib.sources.query import Query
from flowlib.sources.registry import select_feed
from flowlib.sources.schema import Field
from flowlib.sources.sinks import Sink
from flowlib.task import Task, TaskJSON, TaskParquet

__all__ = ["Source", "Publish", "ONCE"]

#: ``once`` semantics of incremental loading (ForML's): which bounds a range includes.
ONCE = {"exactly": (True, False), "atleast": (True, True), "atmost": (False, True)}


class Source(TaskParquet):
    """A task that reads ``query`` through the configured feeds.

    ``labels``: result columns saved apart (outputs ``features`` and ``labels`` instead of ``data``).
    ``ordinal``: a field ordering the records; ``lower`` / ``upper`` bound it, ``once`` says which
    bounds count: ``"exactly"`` (default) ``lower <= x < upper``, ``"atleast"`` ``lower <= x <= upper``,
    ``"atmost"`` ``lower < x <= upper``. A missing bound leaves that side open.
    """

    query: Any = QueryParameter()
    labels: Any = LabelsParameter(default=())  # type: ignore[arg-type]
    ordinal: Any = FieldParameter(default=None)  # type: ignore[arg-type]
    once: Any = luigi.OptionalParameter(default=None)
    lower: Any = BoundParameter(default=None)  # type: ignore[arg-type]
    upper: Any = BoundParameter(default=None)  # type: ignore[arg-type]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_arguments()
        if self.labels:
            self.persist = ["features", "labels"]  # type: ignore[misc]  # per task: labels name the outputs

    def _check_arguments(self) -> None:
        if self.ordinal is None:
            for name in ("once", "lower", "upper"):
                if getattr(self, name) is not None:
                    raise QueryError(
                        f"Source({name}={getattr(self, name)!r}) needs ordinal=<a field>, e.g. ordinal=Event.seq"
                    )
        elif self.once is not None and self.once not in ONCE:
            raise QueryError(f"Source(once={self.once!r}) is not supported; use one of {sorted(ONCE)}")
        if self.ordinal is not None:
            field = self.ordinal_field
            if field.schema not in self.query.schemas:
                raise QueryError(f"Source(ordinal={field!r}) is not a field of the query's schemas")
            for name in ("lower", "upper"):
                bound = getattr(self, name)
                if bound is not None:
                    try:
                        field >= bound  # noqa: B015 - type-checks the bound against the field
                    except QueryError as exc:
                        raise QueryError(f"Source({name}={bound!r}) does not fit ordinal={field!r}: {exc}") from None
        outputs = [name for name, _ in self.query.outputs()]
        unknown = [name for name in self.labels if name not in outputs]
        if unknown:
            raise QueryError(
                f"Source(labels={list(self.labels)}): {unknown} are not result columns of the query ({outputs})"
            )
        if self.labels and len(self.labels) == len(outputs):
            raise QueryError("Source(labels=...) takes some of the result columns; leave at least one feature")

    @property
    def ordinal_field(self) -> Field:
        """The ordinal field (:class:`QueryError` when there is none)."""
        if self.ordinal is None:
            raise QueryError(f"{self!r} has no ordinal")
        ref: FieldRef = self.ordinal
        return ref.field

    def effective_query(self) -> Query:
        """The query with the ordinal bounds applied."""
        query = self.query
        if self.ordinal is None:
            return query
        field = self.ordinal_field
        with_lower, with_upper = ONCE[self.once or "exactly"]
        conditions = []
        if self.lower is not None:
            conditions.append(field >= self.lower if with_lower else field > self.lower)
        if self.upper is not None:
            conditions.append(field <= self.upper if with_upper else field < self.upper)
        if not conditions:
            return query
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = combined & condition
        return query.where(combined)

    def data_fingerprint(self) -> str | None:
        """What the feed reports about the data this query reads now (a stat per file, a query per table)."""
        query = self.effective_query()
        feed = select_feed(query)
        ordinal = self.ordinal_field if self.ordinal is not None else None
        return f"{type(feed).__name__}:{feed.data_fingerprint(query, ordinal)}"

    def run(self) -> None:
        query = self.effective_query()
        frame = conform(select_feed(query).read(query), query)
        if self.labels:
            labels = list(self.labels)
            self.save({"features": frame.drop(columns=labels), "labels": frame[labels]})
        else:
            self.save(frame)

    def __repr__(self) -> str:
        parts = [repr(self.query)]
        for name in ("labels", "ordinal", "once", "lower", "upper"):
            value = getattr(self, name)
            if value not in (None, ()):
                parts.append(f"{name}={list(value) if name == 'labels' else value!r}")
        return f"Source({', '.join(parts)})"


class TaskObjectParameter(luigi.Parameter):  # type: ignore[misc]
    """A flowlib task object (not a class); serialized as its task id."""

    def normalize(self, x: Any) -> Any:
        if not isinstance(x, Task):
            raise ParameterError(f"expected a flowlib task object, e.g. Predict(); got {x!r}")
        return x

    def serialize(self, x: Any) -> str:
        return f"{x.get_task_family()}:{x.task_id}"


class SinkParameter(luigi.Parameter):  # type: ignore[misc]
    """A sink, serialized as its description."""

    def normalize(self, x: Any) -> Any:
        if not isinstance(x, Sink):
            raise ParameterError(f"expected a flowlib.sources sink (FileSink, SQLSink), got {x!r}")
        return x

    def serialize(self, x: Any) -> str:
        return str(x.describe())


class Publish(TaskJSON):
    """Write ``task``'s output (``key``: which one, default its only output) through ``sink`` as ``schema``.

    Complete once written; it writes again when the task's output changes.
    """

    task: Any = TaskObjectParameter()
    schema: Any = SchemaParameter()
    sink: Any = SinkParameter()
    mode: Any = luigi.ChoiceParameter(choices=["replace", "append"], default="replace")
    key: Any = luigi.OptionalParameter(default=None)
    persist = ["receipt"]

    def requires(self) -> Task:
        return self.task

    def run(self) -> None:
        frame = self.input_load(keys=self.key) if self.key is not None else self.input_load()
        started = time.time()
        rows = self.sink.write(self.schema, frame, mode=self.mode)
        self.save(
            {
                "rows": rows,
                "schema": self.schema.__name__,
                "sink": self.sink.describe(),
                "mode": self.mode,
                "seconds": round(time.time() - started, 6),
            }
        )

    def __repr__(self) -> str:
        return f"Publish({self.task!r}, schema={self.schema.__name__}, sink={self.sink.describe()}, mode={self.mode!r})"
