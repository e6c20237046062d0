"""Payload encodings: media types with options, parsed from HTTP headers as RFC 9110 says.

An :class:`Encoding` is a media type (``kind``) and its options, e.g. the ``Content-Type``
``application/json; format=pandas-split``. :meth:`Encoding.parse` reads a header (``Accept``
or ``Content-Type``) into encodings ordered by preference; :meth:`Encoding.match` tells whether
a pattern (wildcards allowed) covers a concrete encoding.

Where ForML's ``io.layout.Encoding`` departs from RFC 9110, this module follows the RFC:
commas and semicolons inside quoted strings do not split; entries with ``q=0`` are not
acceptable and are dropped; empty list elements are ignored; media types, option names and
option values compare case-insensitively; the only wildcards are ``*/*``, ``type/*`` and a
bare ``*`` (read as ``*/*``); a malformed q-value raises :class:`Encoding.Invalid`.

Example:
    >>> Encoding("application/json", charset="UTF-8").header
    'application/json; charset=UTF-8'
    >>> [e.header for e in Encoding.parse('image/GIF; q=0.6; a=x, text/html; q=1.0')]
    ['text/html', 'image/gif; a=x']
    >>> Encoding("application/*").match(Encoding("application/json"))
    True
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Iterator, Mapping

from flowlib.errors import FlowlibError

__all__ = ["Encoding", "EncodingError", "InvalidEncodingError", "UnsupportedEncodingError"]

# RFC 9110, 5.6.2: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110, 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
_OWS = " \t"
# Media type names: lenient beyond tchar (``?`` and ``[`` are ordinary characters, never wildcards).
_NAME = re.compile(r'[^\s/,;="\\()<>@:{}]+')


class EncodingError(FlowlibError, ValueError):
    """A payload cannot be encoded or decoded as asked (base of the encoding errors)."""


class InvalidEncodingError(EncodingError):
    """A header or media type does not follow RFC 9110 (e.g. a malformed q-value). Also ``Encoding.Invalid``."""


class UnsupportedEncodingError(EncodingError):
    """No encoder or decoder handles the requested encoding. Also ``Encoding.Unsupported``."""


def _split(text: str, separator: str) -> Iterator[str]:
    """Split ``text`` at ``separator`` outside quoted strings (a backslash escapes inside quotes)."""
    start, quoted, escaped = 0, False, False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            yield text[start:position]
            start = position + 1
    if quoted:
        raise InvalidEncodingError(f"unterminated quoted string in {text!r}; close it with '\"'")
    yield text[start:]


def _unquote(value: str, where: str) -> str:
    if not value.startswith('"'):
        if not _TOKEN.fullmatch(value):
            raise InvalidEncodingError(f"{where}: {value!r} is neither a token nor a quoted string; quote it")
        return value
    if len(value) < 2 or not value.endswith('"'):
        raise InvalidEncodingError(f"{where}: {value!r} has text after its closing quote")
    return re.sub(r"\\(.)", r"\1", value[1:-1])


def _quote(value: str) -> str:
    if _TOKEN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _normal_kind(kind: str) -> str:
    kind = kind.strip(_OWS).lower()
    if kind == "*":
        return "*/*"  # a bare "*" (sent by some clients) means any media type
    main, slash, sub = kind.partition("/")
    if not slash or not _NAME.fullmatch(main) or not _NAME.fullmatch(sub) or (main == "*" and sub != "*"):
        raise InvalidEncodingError(f"{kind!r} is not a media type; write type/subtype, e.g. 'application/json'")
    return kind


class Encoding:
    """A media type (``kind``) with options: a payload's ``Content-Type`` or one entry of ``Accept``.

    ``kind`` is lower-cased; option names are lower-cased, option values keep their spelling for
    :attr:`header` but compare case-insensitively.

    Example:
        >>> Encoding("text/CSV", Charset="utf-8")
        Encoding(kind='text/csv', options={'charset': 'utf-8'})
        >>> Encoding("application/json", format="pandas-split") == Encoding("application/json", format="PANDAS-SPLIT")
        True
    """

    Invalid = InvalidEncodingError
    Unsupported = UnsupportedEncodingError

    __slots__ = ("kind", "options", "_key")

    def __init__(self, kind: str, /, **options: str) -> None:
        self.kind: str = _normal_kind(kind)
        normal: dict[str, str] = {}
        for name, value in options.items():
            if not _TOKEN.fullmatch(name):
                raise InvalidEncodingError(f"option name {name!r} of {self.kind} is not a token")
            normal[name.lower()] = str(value)
        self.options: Mapping[str, str] = types.MappingProxyType(normal)  # read-only: encodings are hashable
        self._key = (self.kind, frozenset((name, value.casefold()) for name, value in normal.items()))

    @property
    def header(self) -> str:
        """The header form: ``kind; name=value; ...`` (values that are not tokens quoted).

        Example:
            >>> Encoding("text/plain", note="a, b").header
            'text/plain; note="a, b"'
        """
        return "".join([self.kind, *(f"; {name}={_quote(value)}" for name, value in self.options.items())])

    def match(self, other: Encoding) -> bool:
        """Whether ``other`` (a concrete encoding) fits this pattern: its kind, then our options as a subset.

        Example:
            >>> Encoding("*/*").match(Encoding("text/csv"))
            True
            >>> Encoding("application/json", format="pandas-split").match(Encoding("application/json"))
            False
        """
        if self.kind != "*/*":
            main, _, sub = self.kind.partition("/")
            other_main, _, other_sub = other.kind.partition("/")
            if main != other_main or (sub != "*" and sub != other_sub):
                return False
        theirs = {name: value.casefold() for name, value in other.options.items()}
        return all(theirs.get(name) == value.casefold() for name, value in self.options.items())

    @classmethod
    def parse(cls, header: str) -> list[Encoding]:
        """Read a header's comma-separated media types, most preferred first (by q, stable for equal q).

        The q parameter is consumed: entries with ``q=0`` (not acceptable) are dropped, the others
        lose it. Empty elements are ignored, so ``parse("") == []``. A q-value that is not
        ``0``..``1`` with at most three decimals raises :class:`Encoding.Invalid`.

        Example:
            >>> [e.header for e in Encoding.parse('text/csv;q=0.5, application/json, image/png;q=0')]
            ['application/json', 'text/csv']
        """
        return list(_parse(header)[0])

    @classmethod
    def refused(cls, header: str) -> list[Encoding]:
        """The entries of a header with ``q=0``: what the client says it does not accept.

        Example:
            >>> Encoding.refused("text/*, text/csv;q=0")
            [Encoding(kind='text/csv', options={})]
        """
        return list(_parse(header)[1])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Encoding) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Encoding(kind={self.kind!r}, options={dict(self.options)!r})"

    def __str__(self) -> str:
        return self.header


@functools.lru_cache(maxsize=256)
def _parse(header: str) -> tuple[tuple[Encoding, ...], tuple[Encoding, ...]]:
    """(accepted by preference, refused with q=0)."""
    ranked: list[tuple[float, int, Encoding]] = []
    refused: list[Encoding] = []
    for position, element in enumerate(_split(header, ",")):
        if not element.strip(_OWS):
            continue  # RFC 9110, 5.6.1: empty list elements do not count
        kind, *parameters = (part.strip(_OWS) for part in _split(element, ";"))
        quality = 1.0
        options: dict[str, str] = {}
        for parameter in parameters:
            if not parameter:
                continue
            name, equals, value = (piece.strip(_OWS) for piece in parameter.partition("="))
            if not equals or not _TOKEN.fullmatch(name):
                raise InvalidEncodingError(f"parameter {parameter!r} of {kind!r} is not name=value")
            if name.lower() == "q":
                if not _QVALUE.fullmatch(value):
                    raise InvalidEncodingError(
                        f"q-value {value!r} of {kind!r} is malformed: write a number from 0 to 1 "
                        "with at most three decimals, e.g. q=0.5"
                    )
                quality = float(value)
                continue
            options[name] = _unquote(value, f"parameter {name!r} of {kind!r}")
        if quality == 0:
            refused.append(Encoding(kind, **options))  # "not acceptable"
            continue
        ranked.append((-quality, position, Encoding(kind, **options)))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return tuple(encoding for _, _, encoding in ranked), tuple(refused)
