"""flowlib.io: media types, header parsing by RFC 9110, content negotiation, encoders and decoders."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlib.errors import FlowlibError
from flowlib.io import (
    ORIENTS,
    DecodeError,
    Encoding,
    EncodingError,
    get_decoder,
    get_encoder,
)


# -- Encoding -------------------------------------------------------------------------------
def test_header_kind_and_options():
    encoding = Encoding("application/json", charset="UTF-8")
    assert encoding.kind == "application/json"
    assert dict(encoding.options) == {"charset": "UTF-8"}
    assert encoding.header == "application/json; charset=UTF-8"
    assert Encoding("text/csv").header == "text/csv"


def test_kind_is_case_insensitive_and_bare_star_is_any():
    assert Encoding("Application/JSON").kind == "application/json"
    assert Encoding("*").kind == "*/*"
    assert Encoding("*").match(Encoding("text/csv"))


@pytest.mark.parametrize("kind", ["json", "application/", "/json", "*/json", "text/c sv", ""])
def test_malformed_kind_is_invalid(kind):
    with pytest.raises(Encoding.Invalid):
        Encoding(kind)


def test_values_that_are_not_tokens_are_quoted():
    assert Encoding("text/plain", note="a, b").header == 'text/plain; note="a, b"'
    assert Encoding("text/plain", note='say "hi"').header == 'text/plain; note="say \\"hi\\""'
    assert Encoding("text/plain", note="").header == 'text/plain; note=""'
    assert Encoding("text/plain", note="a\\b").header == 'text/plain; note="a\\\\b"'


def test_option_names_and_values_compare_case_insensitively():
    assert Encoding("application/json", Format="pandas-split") == Encoding("application/json", format="PANDAS-SPLIT")
    assert hash(Encoding("text/csv", charset="UTF-8")) == hash(Encoding("TEXT/CSV", Charset="utf-8"))
    assert Encoding("application/json", format="pandas-split").match(
        Encoding("application/json", FORMAT="Pandas-Split")
    )
    assert Encoding("text/csv") != Encoding("text/csv", charset="utf-8")


def test_errors_are_flowlib_errors_and_value_errors():
    assert issubclass(Encoding.Invalid, FlowlibError) and issubclass(Encoding.Invalid, ValueError)
    assert issubclass(Encoding.Unsupported, FlowlibError)
    assert issubclass(DecodeError, EncodingError)


# -- parse ----------------------------------------------------------------------------------
def test_parse_sorts_by_q_and_drops_q():
    parsed = Encoding.parse("image/GIF; q=0.6; a=x, text/html; q=1.0")
    assert parsed == [Encoding("text/html"), Encoding("image/gif", a="x")]
    assert all("q" not in encoding.options for encoding in parsed)
    assert repr(parsed[1]) == "Encoding(kind='image/gif', options={'a': 'x'})"


def test_parse_is_stable_for_equal_q():
    parsed = Encoding.parse("text/a;q=0.5, text/b, text/c;q=0.5, text/d")
    assert [encoding.kind for encoding in parsed] == ["text/b", "text/d", "text/a", "text/c"]


def test_parse_q_name_is_case_insensitive():
    assert Encoding.parse("text/a;Q=0.1, text/b") == [Encoding("text/b"), Encoding("text/a")]


def test_parse_respects_quoted_strings():
    (encoding,) = Encoding.parse('application/json; format="a,b"')
    assert encoding.options == {"format": "a,b"}
    (encoding,) = Encoding.parse('text/plain; note="x; y=z"; q=0.3')
    assert encoding.options == {"note": "x; y=z"}
    (encoding,) = Encoding.parse(r'text/plain; note="say \"hi\", ok"')
    assert encoding.options == {"note": 'say "hi", ok'}


def test_parse_drops_q_zero():
    assert Encoding.parse("text/csv;q=0, application/json") == [Encoding("application/json")]
    assert Encoding.parse("text/csv;q=0.000") == []
    assert Encoding.parse("text/csv;q=0.001") == [Encoding("text/csv")]


def test_parse_ignores_empty_elements():
    assert Encoding.parse("") == []
    assert Encoding.parse("   ") == []
    assert Encoding.parse(",, ,") == []
    assert Encoding.parse("text/csv, , application/json,") == [Encoding("text/csv"), Encoding("application/json")]
    assert Encoding.parse("text/csv;;charset=utf-8;") == [Encoding("text/csv", charset="utf-8")]


def test_parse_tolerates_whitespace():
    assert Encoding.parse(" text/csv ;  q=0.5 ,\tapplication/json ") == [
        Encoding("application/json"),
        Encoding("text/csv"),
    ]


@pytest.mark.parametrize("q", ["1.5", "2", "-1", "0.1234", "abc", "", "1.001", ".5", "0,5", "1e-1", '"0.5"'])
def test_malformed_q_value_is_invalid(q):
    with pytest.raises(Encoding.Invalid) as raised:
        Encoding.parse(f"text/csv;q={q}")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("q", ["0", "0.", "0.5", "0.123", "1", "1.", "1.0", "1.000"])
def test_well_formed_q_values(q):
    assert len(Encoding.parse(f"text/csv;q={q}")) == (0 if float(q) == 0 else 1)


@pytest.mark.parametrize(
    "header", ['text/plain; note="open', "text/plain; note", "text/plain; a b=c", "text/plain; n=a b"]
)
def test_malformed_parameters_are_invalid(header):
    with pytest.raises(Encoding.Invalid):
        Encoding.parse(header)


def test_header_round_trips_through_parse():
    encoding = Encoding("application/json", format="a,b", note='q="1"; x')
    assert Encoding.parse(encoding.header) == [encoding]


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-+.", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.tuples(_token, _token).map("/".join),
    options=st.dictionaries(
        _token.filter(lambda name: name != "q"),
        st.text(max_size=8).filter(lambda v: "\r" not in v and "\n" not in v),
        max_size=3,
    ),
)
def test_any_encoding_round_trips(kind, options):
    encoding = Encoding(kind, **options)
    assert Encoding.parse(encoding.header) == [encoding]
    assert Encoding.parse(f"{encoding.header}, {encoding.header};q=0.5") == [encoding, encoding]


# -- match ----------------------------------------------------------------------------------
def test_match_wildcards():
    json = Encoding("application/json", format="pandas-records")
    assert Encoding("*/*").match(json)
    assert Encoding("application/*").match(json)
    assert Encoding("application/json").match(json)
    assert not Encoding("text/*").match(json)
    assert not Encoding("application/xml").match(json)


def test_match_needs_our_options_in_theirs():
    assert Encoding("application/json", format="pandas-records").match(
        Encoding("application/json", format="pandas-records", charset="utf-8")
    )
    assert not Encoding("application/json", format="pandas-split").match(
        Encoding("application/json", format="pandas-records")
    )
    assert not Encoding("application/json", format="pandas-split").match(Encoding("application/json"))


def test_only_star_is_a_wildcard():
    assert not Encoding("application/js?n").match(Encoding("application/json"))
    assert not Encoding("application/[j]son").match(Encoding("application/json"))
    assert not Encoding("application/j*").match(Encoding("application/json"))
    assert Encoding("application/js?n").match(Encoding("application/js?n"))


# -- get_encoder ----------------------------------------------------------------------------
def test_encoder_default_is_pandas_records():
    assert get_encoder().encoding.header == "application/json; format=pandas-records"
    assert (
        get_encoder(Encoding("foo/bar"), Encoding("application/*")).encoding.header
        == "application/json; format=pandas-records"
    )
    assert get_encoder(Encoding("*/*")).encoding == Encoding("application/json", format="pandas-records")
    assert get_encoder("").encoding.header == "application/json; format=pandas-records"


def test_encoder_first_pattern_that_fits_wins():
    assert get_encoder(Encoding("text/csv"), Encoding("application/json")).encoding.header == "text/csv"
    assert get_encoder(*Encoding.parse("text/csv;q=0.5, application/json")).encoding.kind == "application/json"
    assert get_encoder("text/*").encoding.header == "text/csv"


@pytest.mark.parametrize("orient", ORIENTS)
def test_encoder_for_each_orient(orient):
    assert get_encoder(f"application/json; format=pandas-{orient}").encoding.options == {"format": f"pandas-{orient}"}
    assert (
        get_encoder(f"application/json; format=PANDAS-{orient.upper()}").encoding.options["format"]
        == f"pandas-{orient}"
    )


def test_json_charset_utf8_is_served():
    encoder = get_encoder("application/json; charset=utf-8")
    assert encoder.encoding.header == "application/json; format=pandas-records"
    assert (
        get_encoder("application/json; charset=UTF-8; format=pandas-split").encoding.options["format"] == "pandas-split"
    )
    assert get_encoder("text/csv; charset=utf-8").encoding.header == "text/csv"


def test_unsupported_encoder_names_what_exists():
    for asked in [
        "application/xml",
        "application/json; charset=latin-1",
        "application/json; format=pandas-nope",
        "application/json;q=0",
    ]:
        with pytest.raises(Encoding.Unsupported) as raised:
            get_encoder(asked)
        assert "available: application/json; format=pandas-records" in str(raised.value)
        assert "text/csv" in str(raised.value)


# -- encoders and decoders ------------------------------------------------------------------
_FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["1", "x", "é"], "c": [0.5, -1.25, 3.0]})


@pytest.mark.parametrize("orient", ORIENTS)
def test_each_orient_round_trips(orient):
    header = f"application/json; format=pandas-{orient}"
    data = get_encoder(header).dumps(_FRAME)
    back = get_decoder(header).loads(data)
    assert back.values.tolist() == _FRAME.values.tolist()
    if orient != "values":
        assert list(back.columns) == ["a", "b", "c"]
    assert back["b" if orient != "values" else 1].tolist()[0] == "1"  # strings stay strings


def test_each_orient_has_its_shape():
    frame = pd.DataFrame({"A": [1, 2], "B": ["a", "b"]})
    dumps = {orient: get_encoder(f"application/json; format=pandas-{orient}").dumps(frame) for orient in ORIENTS}
    assert dumps["records"] == b'[{"A":1,"B":"a"},{"A":2,"B":"b"}]'
    assert dumps["columns"] == b'{"A":{"0":1,"1":2},"B":{"0":"a","1":"b"}}'
    assert dumps["index"] == b'{"0":{"A":1,"B":"a"},"1":{"A":2,"B":"b"}}'
    assert dumps["split"] == b'{"columns":["A","B"],"index":[0,1],"data":[[1,"a"],[2,"b"]]}'
    assert dumps["values"] == b'[[1,"a"],[2,"b"]]'
    assert dumps["table"].startswith(b'{"schema":{"fields":')


def test_forml_columns_example():
    frame = get_decoder(Encoding("application/json", format="pandas-columns")).loads(
        b'{"A":{"0":1,"1":2},"B":{"0":"a","1":"b"}}'
    )
    assert frame.values.tolist() == [[1, "a"], [2, "b"]]


def test_csv_round_trip():
    data = get_encoder("text/csv").dumps(_FRAME)
    assert data.decode("utf-8").splitlines()[0] == "a,b,c"
    back = get_decoder("text/csv").loads(data)
    assert back["a"].tolist() == [1, 2, 3] and back["c"].tolist() == [0.5, -1.25, 3.0]
    assert get_decoder("text/csv; charset=UTF-8").loads(b"x\n1\n")["x"].tolist() == [1]


@pytest.mark.parametrize(
    "body",
    [
        b'[{"a": 1, "b": "1"}, {"a": 2, "b": "2"}]',
        b'{"instances": [{"a": 1, "b": "1"}, {"a": 2, "b": "2"}]}',
        b'{"inputs": {"a": [1, 2], "b": ["1", "2"]}}',
        b'{"inputs": [{"a": 1, "b": "1"}, {"a": 2, "b": "2"}]}',
        b'{"a": [1, 2], "b": ["1", "2"]}',
    ],
)
def test_plain_json_shapes(body):
    frame = get_decoder("application/json").loads(body)
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist() == ["1", "2"]  # strings stay strings


def test_plain_json_lists_of_lists_and_scalars():
    assert get_decoder("application/json").loads(b'{"instances": [[1, 2], [3, 4]]}').values.tolist() == [[1, 2], [3, 4]]
    assert get_decoder("application/json").loads(b'{"instances": [1, 2]}').values.tolist() == [[1], [2]]


@pytest.mark.parametrize(
    "header", ["application/json", "application/json; format=pandas-records", "application/json; format=pandas-values"]
)
def test_empty_list_is_an_empty_table(header):
    frame = get_decoder(header).loads(b"[]")
    assert isinstance(frame, pd.DataFrame) and frame.empty


def test_json_charset_utf8_decodes():
    assert get_decoder("application/json; charset=utf-8").loads('[{"a": "é"}]'.encode())["a"].tolist() == ["é"]
    assert get_decoder("application/json; charset=UTF-8; format=pandas-records").loads(b'[{"a": 1}]')["a"].tolist() == [
        1
    ]


@pytest.mark.parametrize(
    "header, body",
    [
        ("application/json", b"{not json"),
        ("application/json", b'"a string"'),
        ("application/json", b"3"),
        ("application/json", b'{"a": [1, 2], "b": [1]}'),
        ("application/json", b'{"a": 1}'),
        ("application/json", b'[{"a": 1}, 2]'),
        ("application/json", b"[[1, 2], [3]]"),
        ("application/json", b"\xff\xfe"),
        ("application/json; format=pandas-split", b'{"nope": 1}'),
        ("application/json; format=pandas-records", b"{bad"),
        ("text/csv", b""),
        ("text/csv", b'a,b\n"1,2\n'),
    ],
)
def test_undecodable_bodies_raise_decode_error(header, body):
    with pytest.raises(DecodeError):
        get_decoder(header).loads(body)


@pytest.mark.parametrize(
    "header",
    [
        "application/xml",
        "application/json; charset=latin-1",
        "application/json; format=pandas-nope",
        "text/*",
        "text/csv, application/json",
    ],
)
def test_unsupported_decoder_names_what_exists(header):
    with pytest.raises(Encoding.Unsupported) as raised:
        get_decoder(header)
    assert "application/json" in str(raised.value) or "one content type" in str(raised.value)


def test_never_imports_cgi():
    code = "import sys, flowlib.io, pandas; flowlib.io.get_decoder('text/csv'); print('cgi' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_options_are_read_only():
    encoding = Encoding("text/csv", charset="utf-8")
    with pytest.raises(TypeError):
        encoding.options["charset"] = "latin-1"  # type: ignore[index]


def test_refused_entries_are_never_chosen():
    assert Encoding.refused("text/*, text/csv;q=0, application/json;q=0.000") == [
        Encoding("text/csv"),
        Encoding("application/json"),
    ]
    assert Encoding.refused("text/csv") == []
    with pytest.raises(Encoding.Unsupported):
        get_encoder("text/*, text/csv;q=0")
    assert get_encoder("*/*, text/csv;q=0").encoding.header == "application/json; format=pandas-records"
    assert get_encoder("text/csv, */*;q=0.1, application/json;q=0").encoding.header == "text/csv"
    refused_split = "application/json; format=pandas-split; q=0, application/json; format=pandas-split"
    with pytest.raises(Encoding.Unsupported):
        get_encoder(refused_split)
    with pytest.raises(Encoding.Unsupported):
        get_encoder(Encoding("text/*"), exclude=[Encoding("text/csv")])
