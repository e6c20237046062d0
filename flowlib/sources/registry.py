"""Which feeds this process uses, how a query finds its feed, and feed and sink plugins.

``use(feed, ...)`` sets the feeds (or luigi's config: ``[flowlib] feeds = package.module:FEEDS``,
an attribute holding a feed or a list of feeds). A query goes to the highest-priority feed that
serves every schema it names; ties go to the feed configured first.

Example:
    >>> import pandas as pd
    >>> from flowlib.sources import Schema, Field, FrameFeed
    >>> class Lake(Schema):
    ...     depth = Field(float)
    >>> with use(FrameFeed({Lake: pd.DataFrame({"depth": [1.5]})})):
    ...     select_feed(Lake.select()).describe()
    'FrameFeed(Lake; priority=0)'
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from typing import Any

import luigi.configuration

from flowlib.sources.errors import FeedError
from flowlib.sources.feeds.base import Feed
from flowlib.sources.query import Query

__all__ = ["use", "configured_feeds", "select_feed", "plugins", "load_object", "FEED_GROUP", "SINK_GROUP"]

FEED_GROUP = "flowlib.feeds"
SINK_GROUP = "flowlib.sinks"


class _Feeds:
    """The feeds of this process: set by ``use``, else read once from luigi's config."""

    def __init__(self) -> None:
        self.feeds: list[Feed] | None = None
        self.lock = threading.Lock()


_state = _Feeds()


def load_object(spec: str) -> Any:
    """The object named by ``package.module:attribute``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise FeedError(f"{spec!r} is not 'package.module:ATTRIBUTE'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise FeedError(f"cannot load {spec!r}: {exc}") from exc
    return target


def _as_feeds(value: Any, origin: str) -> list[Feed]:
    feeds = [value] if isinstance(value, Feed) else list(value) if isinstance(value, (list, tuple)) else None
    if feeds is None or not all(isinstance(f, Feed) for f in feeds):
        raise FeedError(f"{origin} gives {value!r}; expected flowlib.sources feeds (FileFeed, SQLFeed, FrameFeed, ...)")
    return feeds


class _Use:
    """What ``use`` returns: also a context manager that restores the previous feeds on exit."""

    def __init__(self, previous: list[Feed] | None) -> None:
        self.previous = previous

    def __enter__(self) -> _Use:
        return self

    def __exit__(self, *exc: object) -> None:
        with _state.lock:
            _state.feeds = self.previous


def use(*feeds: Feed) -> _Use:
    """Set the feeds of this process, in order (ties of priority go to the earlier one).

    ``use()`` with no feeds clears them (luigi's config is then read again). As a context
    manager (``with use(feed): ...``) the previous feeds come back at the end.
    """
    chosen = _as_feeds(list(feeds), "use(...)") if feeds else None
    with _state.lock:
        previous, _state.feeds = _state.feeds, chosen
    return _Use(previous)


def configured_feeds() -> list[Feed]:
    """The feeds of this process (from ``use``, else from ``[flowlib] feeds`` in luigi's config)."""
    with _state.lock:
        if _state.feeds is not None:
            return list(_state.feeds)
    spec = luigi.configuration.get_config().get("flowlib", "feeds", None)
    if not spec:
        return []
    return _as_feeds(load_object(str(spec)), f"[flowlib] feeds = {spec}")


def select_feed(query: Query, feeds: list[Feed] | None = None) -> Feed:
    """The feed that answers ``query``: the highest priority among those serving all its schemas."""
    candidates = configured_feeds() if feeds is None else feeds
    best: Feed | None = None
    for feed in candidates:
        if feed.serves(query) and (best is None or feed.priority > best.priority):
            best = feed
    if best is None:
        names = ", ".join(s.__name__ for s in query.schemas)
        if not candidates:
            raise FeedError(
                f"no feed is configured for {query!r} (it reads {names}); call flowlib.sources.use(FileFeed(...)) "
                "or set [flowlib] feeds = package.module:FEEDS in luigi's config"
            )
        lines = "; ".join(
            f"{feed.describe()} lacks {', '.join(s.__name__ for s in feed.missing(query))}" for feed in candidates
        )
        raise FeedError(f"no configured feed serves every schema of {query!r} ({names}): {lines}")
    return best


def plugins(group: str = FEED_GROUP) -> dict[str, Any]:
    """Feeds (``"flowlib.feeds"``) or sinks (``"flowlib.sinks"``) that installed packages offer, by name.

    A package offers one with an entry point, e.g. in its setup.cfg::

        [options.entry_points]
        flowlib.feeds =
            warehouse = mypackage.feeds:WarehouseFeed
    """
    if group not in (FEED_GROUP, SINK_GROUP):
        raise FeedError(f"plugins() lists the groups {FEED_GROUP!r} and {SINK_GROUP!r}, not {group!r}")
    found: dict[str, Any] = {}
    for entry in importlib.metadata.entry_points(group=group):
        try:
            found[entry.name] = entry.load()
        except Exception as exc:  # a broken plugin must not hide the others
            raise FeedError(f"the {group} plugin {entry.name!r} ({entry.value}) cannot be loaded: {exc}") from exc
    return found
