"""Feeds: the providers that answer queries by schema (files, SQL databases, DataFrames).

Example:
    >>> from flowlib.sources.feeds import Feed, FileFeed, SQLFeed, FrameFeed
    >>> issubclass(FileFeed, Feed)
    True
"""

from __future__ import annotations

from flowlib.sources.feeds.base import Feed, conform
from flowlib.sources.feeds.files import FileFeed
from flowlib.sources.feeds.frames import FrameFeed
from flowlib.sources.feeds.sql import SQLFeed

__all__ = ["Feed", "FileFeed", "SQLFeed", "FrameFeed", "conform"]
