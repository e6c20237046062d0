"""Encoders and decoders between DataFrames and payload bytes, chosen by :class:`~flowlib.io.Encoding`.

Supported encodings (``docs/models.md`` has the table):

- ``application/json; format=pandas-<orient>`` for the pandas orients ``records``, ``columns``,
  ``index``, ``split``, ``table`` and ``values`` (pandas' ``to_json`` / ``read_json``);
- ``application/json`` without a format (decoding only): a list of row objects, TF Serving's
  ``{"instances": ...}`` or ``{"inputs": ...}``, or an object of column lists;
- ``text/csv`` (pandas' ``to_csv`` / ``read_csv``).

JSON is UTF-8 (RFC 8259), so ``charset=utf-8`` is accepted on JSON and CSV, any other charset is not.
Decoders keep JSON strings as strings (``"1"`` stays ``"1"``); ``[]`` decodes to an empty table.

Example:
    >>> import pandas as pd
    >>> encoder = get_encoder(Encoding("foo/bar"), Encoding("application/*"))
    >>> encoder.encoding.header
    'application/json; format=pandas-records'
    >>> encoder.dumps(pd.DataFrame({"a": [1, 2]}))
    b'[{"a":1},{"a":2}]'
    >>> get_decoder(Encoding("application/json")).loads(b'{"inputs": {"a": [1, 2]}}')["a"].tolist()
    [1, 2]
"""

from __future__ import annotations

import abc
import io
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from flowlib.io.encodings import Encoding, EncodingError, UnsupportedEncodingError

__all__ = [
    "Encoder",
    "Decoder",
    "DecodeError",
    "get_encoder",
    "get_decoder",
    "encodings",
    "DEFAULT_ENCODING",
    "ORIENTS",
]

ORIENTS = ("records", "columns", "index", "split", "table", "values")
#: What an encoder produces when nothing more specific is asked.
DEFAULT_ENCODING = Encoding("application/json", format="pandas-records")
_UTF8 = {"utf-8", "utf8"}


class DecodeError(EncodingError):
    """The payload bytes are not valid for their declared encoding."""


def _charset_ok(encoding: Encoding) -> bool:
    charset = encoding.options.get("charset")
    return charset is None or charset.casefold() in _UTF8


def _text(data: bytes, encoding: Encoding) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"the {encoding.header} payload is not UTF-8 ({exc})") from exc


class Encoder(abc.ABC):
    """Turns a DataFrame into bytes of one :attr:`encoding`."""

    @property
    @abc.abstractmethod
    def encoding(self) -> Encoding:
        """The encoding this encoder produces (the response's ``Content-Type``)."""

    @abc.abstractmethod
    def dumps(self, frame: pd.DataFrame) -> bytes:
        """Encode ``frame``."""

    def produces(self, pattern: Encoding) -> bool:
        """Whether this encoder's output satisfies ``pattern`` (``charset=utf-8`` is what it writes)."""
        options = {name: value for name, value in pattern.options.items() if name != "charset"}
        return _charset_ok(pattern) and Encoding(pattern.kind, **options).match(self.encoding)


class Decoder(abc.ABC):
    """Turns bytes of an encoding into a DataFrame."""

    @abc.abstractmethod
    def accepts(self, encoding: Encoding) -> bool:
        """Whether this decoder reads ``encoding`` (a concrete one, no wildcards)."""

    @abc.abstractmethod
    def loads(self, data: bytes) -> pd.DataFrame:
        """Decode ``data``; raises :class:`DecodeError` when it is not valid."""


class PandasJSONEncoder(Encoder):
    """``application/json; format=pandas-<orient>`` through ``DataFrame.to_json`` (15 significant digits)."""

    def __init__(self, orient: str) -> None:
        self.orient = orient
        self._encoding = Encoding("application/json", format=f"pandas-{orient}")

    @property
    def encoding(self) -> Encoding:
        return self._encoding

    def dumps(self, frame: pd.DataFrame) -> bytes:
        try:
            text = frame.to_json(orient=self.orient, double_precision=15, date_format="iso")  # type: ignore[call-overload]
        except ValueError as exc:  # e.g. a duplicate index for orient="index"
            raise EncodingError(f"cannot encode the table as {self._encoding.header}: {exc}") from exc
        return text.encode("utf-8")


class PandasJSONDecoder(Decoder):
    """``application/json; format=pandas-<orient>`` through ``pandas.read_json`` (no type guessing)."""

    def __init__(self, orient: str) -> None:
        self.orient = orient
        self.encoding = Encoding("application/json", format=f"pandas-{orient}")

    def accepts(self, encoding: Encoding) -> bool:
        options = {name: value for name, value in encoding.options.items() if name != "charset"}
        return _charset_ok(encoding) and Encoding(encoding.kind, **options) == self.encoding

    def loads(self, data: bytes) -> pd.DataFrame:
        text = _text(data, self.encoding)
        if self.orient in ("records", "values") and text.strip() == "[]":
            return pd.DataFrame()
        try:
            frame = pd.read_json(io.StringIO(text), orient=self.orient, dtype=False, precise_float=True)  # type: ignore[call-overload]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DecodeError(f"the payload is not valid {self.encoding.header}: {exc}") from exc
        if not isinstance(frame, pd.DataFrame):  # pragma: no cover - read_json returns frames for these orients
            raise DecodeError(f"the payload is not a table in {self.encoding.header}")
        return frame


def _rows(value: list[Any], where: str) -> pd.DataFrame:
    if not value:
        return pd.DataFrame()
    if all(isinstance(row, dict) for row in value):
        return pd.DataFrame.from_records(value)
    if all(isinstance(row, list) for row in value):
        widths = {len(row) for row in value}
        if len(widths) != 1:
            raise DecodeError(f"{where}: the rows have different lengths {sorted(widths)}")
        return pd.DataFrame(value)
    if not any(isinstance(row, (dict, list)) for row in value):
        return pd.DataFrame({0: value})
    raise DecodeError(f"{where}: mixes objects, lists and plain values; send one kind of row")


def _columns(value: dict[str, Any], where: str) -> pd.DataFrame:
    if not all(isinstance(column, list) for column in value.values()):
        raise DecodeError(f"{where}: an object of columns maps each name to a list of values")
    lengths = {len(column) for column in value.values()}
    if len(lengths) > 1:
        raise DecodeError(f"{where}: the columns have different lengths {sorted(lengths)}")
    return pd.DataFrame(value)


class GenericJSONDecoder(Decoder):
    """Plain ``application/json``: row objects, TF Serving ``instances`` / ``inputs``, or column lists."""

    encoding = Encoding("application/json")
    shapes = (
        'a list of row objects [{"a": 1}, ...], {"instances": [...]}, {"inputs": {...} or [...]}, '
        'or an object of column lists {"a": [1, 2]}'
    )

    def accepts(self, encoding: Encoding) -> bool:
        return encoding.kind == "application/json" and _charset_ok(encoding) and set(encoding.options) <= {"charset"}

    def loads(self, data: bytes) -> pd.DataFrame:
        try:
            value = json.loads(_text(data, self.encoding))
        except ValueError as exc:
            raise DecodeError(f"the payload is not JSON: {exc}") from exc
        if isinstance(value, list):
            return _rows(value, "the JSON list")
        if isinstance(value, dict):
            if set(value) == {"instances"} and isinstance(value["instances"], list):
                return _rows(value["instances"], '"instances"')
            if set(value) == {"inputs"}:
                inputs = value["inputs"]
                if isinstance(inputs, dict):
                    return _columns(inputs, '"inputs"')
                if isinstance(inputs, list):
                    return _rows(inputs, '"inputs"')
            return _columns(value, "the JSON object")
        raise DecodeError(f"a JSON {type(value).__name__} is not a table; send {self.shapes}")


class CSVEncoder(Encoder):
    """``text/csv`` with a header row and no index, UTF-8."""

    _encoding = Encoding("text/csv")

    @property
    def encoding(self) -> Encoding:
        return self._encoding

    def dumps(self, frame: pd.DataFrame) -> bytes:
        return frame.to_csv(index=False).encode("utf-8")


class CSVDecoder(Decoder):
    """``text/csv`` with a header row (``pandas.read_csv``: CSV has no types, numbers are inferred)."""

    encoding = Encoding("text/csv")

    def accepts(self, encoding: Encoding) -> bool:
        return encoding.kind == "text/csv" and _charset_ok(encoding) and set(encoding.options) <= {"charset", "header"}

    def loads(self, data: bytes) -> pd.DataFrame:
        text = _text(data, self.encoding)
        if not text.strip():
            raise DecodeError("the text/csv payload is empty; send a header row, then one row per record")
        try:
            return pd.read_csv(io.StringIO(text))
        except (ValueError, pd.errors.ParserError) as exc:
            raise DecodeError(f"the payload is not valid text/csv: {exc}") from exc


_ENCODERS: list[Encoder] = [*(PandasJSONEncoder(orient) for orient in ORIENTS), CSVEncoder()]
_DECODERS: list[Decoder] = [*(PandasJSONDecoder(orient) for orient in ORIENTS), GenericJSONDecoder(), CSVDecoder()]


def encodings() -> dict[str, list[str]]:
    """The headers each side supports: ``{"encoders": [...], "decoders": [...]}``.

    Example:
        >>> encodings()["encoders"][0]
        'application/json; format=pandas-records'
    """
    decoders = [getattr(decoder, "encoding", None) for decoder in _DECODERS]
    return {
        "encoders": [encoder.encoding.header for encoder in _ENCODERS],
        "decoders": [encoding.header for encoding in decoders if isinstance(encoding, Encoding)],
    }


def _as_encodings(values: Sequence[Encoding | str]) -> list[Encoding]:
    found: list[Encoding] = []
    for value in values:
        found.extend(Encoding.parse(value) if isinstance(value, str) else [value])
    return found


def get_encoder(*patterns: Encoding | str, exclude: Sequence[Encoding] = ()) -> Encoder:
    """The encoder for the first pattern an encoder can produce (none given: pandas-records JSON).

    Patterns are tried in the order given (``Encoding.parse`` sorts an ``Accept`` header by q);
    strings are parsed as header values, and their ``q=0`` entries excluded. An encoder whose
    encoding an ``exclude`` pattern matches is never chosen (``Accept: text/*, text/csv;q=0``).
    Raises :class:`Encoding.Unsupported` when none fits.

    Example:
        >>> get_encoder("text/csv;q=0.5, application/json").encoding.header
        'application/json; format=pandas-records'
    """
    given = [pattern for pattern in patterns if not (isinstance(pattern, str) and not pattern.strip(" \t,"))]
    refused = [*exclude, *(e for pattern in given if isinstance(pattern, str) for e in Encoding.refused(pattern))]
    allowed = [encoder for encoder in _ENCODERS if not any(encoder.produces(pattern) for pattern in refused)]
    if not given:
        return _ENCODERS[0]  # no preference
    wanted = _as_encodings(given)
    for pattern in wanted:
        for encoder in allowed:
            if encoder.produces(pattern):
                return encoder
    asked = ", ".join(pattern.header for pattern in wanted) or "nothing acceptable"
    raise UnsupportedEncodingError(f"no encoder produces {asked}; available: {', '.join(encodings()['encoders'])}")


def get_decoder(encoding: Encoding | str) -> Decoder:
    """The decoder for a concrete ``encoding`` (a ``Content-Type``); raises :class:`Encoding.Unsupported`.

    Example:
        >>> frame = get_decoder("application/json; format=pandas-columns").loads(b'{"A":{"0":1,"1":2}}')
        >>> frame["A"].tolist()
        [1, 2]
    """
    if isinstance(encoding, str):
        parsed = Encoding.parse(encoding)
        if len(parsed) != 1:
            raise UnsupportedEncodingError(f"a payload has one content type, got {encoding!r}")
        encoding = parsed[0]
    for decoder in _DECODERS:
        if decoder.accepts(encoding):
            return decoder
    raise UnsupportedEncodingError(
        f"no decoder reads {encoding.header}; available: {', '.join(encodings()['decoders'])}"
    )
