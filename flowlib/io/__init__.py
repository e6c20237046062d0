"""Payload encodings for serving: media types, content negotiation, DataFrame encoders and decoders.

Example:
    >>> from flowlib.io import Encoding, get_encoder
    >>> get_encoder(*Encoding.parse("text/csv, */*;q=0.1")).encoding.header
    'text/csv'
"""

from flowlib.io.coders import (
    DEFAULT_ENCODING,
    ORIENTS,
    DecodeError,
    Decoder,
    Encoder,
    encodings,
    get_decoder,
    get_encoder,
)
from flowlib.io.encodings import Encoding, EncodingError, InvalidEncodingError, UnsupportedEncodingError

__all__ = [
    "Encoding",
    "Encoder",
    "Decoder",
    "get_encoder",
    "get_decoder",
    "encodings",
    "DEFAULT_ENCODING",
    "ORIENTS",
    "EncodingError",
    "InvalidEncodingError",
    "UnsupportedEncodingError",
    "DecodeError",
]
