"""Property tests: generated DataFrames either come back (up to each format's documented limits)
or raise a clear :class:`flowlib.TargetFormatError` -- never a silent change of data.

The limits checked here are the ones docs/targets.md lists; tests/test_targets.py pins each
of them down with examples.
"""

from __future__ import annotations

import itertools
import math
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowlib
from flowlib.storage import Storage, get_storage
from flowlib.targets.base import TARGETS, Target

# FLOWLIB_PROPERTY_EXAMPLES=2000 for a deeper search than CI's.
EXAMPLES = settings(
    max_examples=int(os.environ.get("FLOWLIB_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
KINDS = ["int", "float", "text", "bool", "datetime", "datetime_tz", "category", "Int64", "boolean", "string"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
_counter = itertools.count()


@pytest.fixture
def storage(tmp_path) -> Storage:
    return get_storage(str(tmp_path / "store"))


def new_target(fmt: str, storage: Storage) -> Target:
    cls = TARGETS[fmt]
    return cls(storage.output_path("Prop", f"Prop_{next(_counter)}", "data", cls.suffix), storage)


# -- strategies ----------------------------------------------------------------------------------------------------


def texts(safe: bool) -> st.SearchStrategy[str]:
    """Any unicode text; ``safe`` text starts with "x" (CSV cannot mistake it for a number, date or bool) or is ""."""
    text = st.text(max_size=8)
    return st.one_of(st.just(""), text.map(lambda t: "x" + t)) if safe else text


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values, values)  # missing about a third of the time


@st.composite
def columns(draw: st.DrawFn, kind: str, rows: int, safe: bool) -> pd.Series | pd.Categorical | Any:
    def values(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(strategy, min_size=rows, max_size=rows))

    instants = st.datetimes(
        min_value=pd.Timestamp("1900-01-01").to_pydatetime(), max_value=pd.Timestamp("2200-01-01").to_pydatetime()
    )
    if kind == "int":
        return pd.Series(values(st.integers(-(2**63), 2**63 - 1)), dtype="int64")
    if kind == "float":
        return pd.Series(values(st.floats(allow_nan=True, allow_infinity=True)), dtype="float64")
    if kind == "text":
        return pd.Series(values(maybe(texts(safe))), dtype="str")
    if kind == "bool":
        return pd.Series(values(st.booleans()), dtype="bool")
    if kind in ("datetime", "datetime_tz"):
        stamps = pd.Series(pd.to_datetime(values(maybe(instants))), dtype="datetime64[us]")
        return (
            stamps if kind == "datetime" else stamps.dt.tz_localize("UTC").dt.tz_convert(draw(st.sampled_from(ZONES)))
        )
    if kind == "category":  # a category with no categories at all is a documented limit, tested in test_targets
        pool = ["x", "xy", "x z", "xé"] if safe else ["a", "1", "", "é ✓"]
        categories = draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
        labels = values(maybe(st.sampled_from(categories)))
        return pd.Categorical(labels, categories=categories, ordered=draw(st.booleans()))
    if kind == "Int64":
        return pd.array(values(maybe(st.integers(-(2**53), 2**53))), dtype="Int64")
    if kind == "boolean":
        return pd.array(values(maybe(st.booleans())), dtype="boolean")
    return pd.array(values(maybe(texts(safe))), dtype="string")


@st.composite
def frames(draw: st.DrawFn, *, safe_text: bool = False, odd_names: bool = True, any_index: bool = True) -> pd.DataFrame:
    rows = draw(st.integers(0, 6))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    name = st.one_of(st.text(max_size=6), st.integers(-3, 3)) if odd_names else st.text(max_size=6)
    names = draw(st.lists(name, min_size=len(kinds), max_size=len(kinds)))
    data = {f"c{i}": draw(columns(kind, rows, safe_text)) for i, kind in enumerate(kinds)}
    frame = pd.DataFrame(data)
    frame.columns = pd.Index(names)
    if any_index and draw(st.booleans()):
        frame.index = pd.Index(
            draw(st.lists(st.sampled_from(["a", "b", "ç"]), min_size=rows, max_size=rows)), dtype="str"
        )
    return frame


# -- what each format promises -----------------------------------------------------------------------------------------


def json_refusal(frame: pd.DataFrame) -> bool:
    """Whether docs/targets.md says JSON refuses ``frame``."""
    names = list(frame.columns)
    if any(not isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return True
    if any("\x00" in str(n) for n in names):  # pandas' JSON reader cuts names at a NUL
        return True
    if str(frame.index.name or "index") in map(str, names):  # the index field would clash with a column
        return True
    floats = [frame.iloc[:, i] for i in range(frame.shape[1]) if frame.dtypes.iloc[i].kind == "f"]
    return any(np.isinf(column.to_numpy()).any() for column in floats)


def in_json(frame: pd.DataFrame) -> pd.DataFrame:
    """What JSON gives back: datetimes with nanosecond unit, everything else as it was."""
    out = frame.copy()
    for i in range(out.shape[1]):
        if out.dtypes.iloc[i].kind == "M":
            out.isetitem(i, out.iloc[:, i].dt.as_unit("ns"))
    return out


def in_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """What Parquet gives back: a frame without rows has no categories left to keep."""
    out = frame.copy()
    for i in range(out.shape[1]):
        dtype = out.dtypes.iloc[i]
        if len(out) == 0 and isinstance(dtype, pd.CategoricalDtype):
            out.isetitem(i, pd.Categorical([], categories=pd.Index([], dtype=object), ordered=dtype.ordered))
    return out


@pytest.mark.parametrize("fmt", ["parquet", "json", "pickle", "memory"])
@EXAMPLES
@given(frame=frames())
def test_frames_round_trip_or_raise_a_clear_error(fmt, frame, storage):
    target = new_target(fmt, storage)
    names = list(frame.columns)
    mixed = len({type(name) for name in names}) > 1  # Parquet keeps all-str or all-int names only
    refused = (fmt == "parquet" and (mixed or len(set(names)) != len(names))) or (fmt == "json" and json_refusal(frame))
    if refused:
        with pytest.raises(flowlib.TargetFormatError):
            target.save(frame)
        assert not target.exists()
        return
    target.save(frame)
    back = target.load()
    if fmt == "memory":
        assert back is frame
        return
    expected = in_json(frame) if fmt == "json" else in_parquet(frame) if fmt == "parquet" else frame
    pd.testing.assert_frame_equal(back, expected, check_exact=True, check_index_type=fmt != "json")
    if fmt == "json":  # an empty index may come back as another empty index, values never differ
        assert list(back.index) == list(expected.index)


def as_floats(values: Any) -> np.ndarray:
    return pd.Series(values).astype("float64").to_numpy()


def check_csv_column(original: pd.Series, back: pd.Series) -> None:
    """One column through CSV: the values come back; the dtype as docs/targets.md says."""
    missing = original.isna().to_numpy()
    if len(original) == 0 or missing.all():  # no text to infer a type from
        assert back.dtype == object and back.isna().all()
        return
    dtype = original.dtype
    if dtype.kind in "if" or str(dtype) == "Int64":
        whole = not missing.any() and all(math.isfinite(v) and float(v).is_integer() for v in original.astype(float))
        assert str(back.dtype) in (("int64", "float64") if whole else ("float64",)), back.dtype
        assert np.array_equal(as_floats(back), as_floats(original.astype("Float64").astype(float)), equal_nan=True)
    elif dtype.kind == "b" or str(dtype) == "boolean":
        if missing.any():
            assert back.dtype == object
            assert back.tolist() == [None if m else bool(v) for v, m in zip(original.tolist(), missing)]
        else:
            assert back.dtype == bool and back.tolist() == original.astype(bool).tolist()
    elif dtype.kind == "M":
        utc = original.dt.tz is not None
        assert str(back.dtype) == ("datetime64[ns, UTC]" if utc else "datetime64[ns]")
        pd.testing.assert_series_equal(
            back,
            original.dt.as_unit("ns").dt.tz_convert("UTC") if utc else original.dt.as_unit("ns"),
            check_names=False,
        )
    else:  # text, categories, "string": str, missing values missing, "" kept
        assert back.dtype == "str"
        assert back.isna().tolist() == missing.tolist()
        kept = [v for v, m in zip(back.tolist(), missing) if not m]
        assert kept == [str(v) for v, m in zip(original.tolist(), missing) if not m]


@EXAMPLES
@given(frame=frames(safe_text=True, odd_names=False, any_index=False))
def test_csv_keeps_every_value_and_changes_types_only_as_documented(frame, storage):
    target = new_target("csv", storage)
    names = list(frame.columns)
    if len(set(names)) != len(names):
        with pytest.raises(flowlib.TargetFormatError):
            target.save(frame)
        return
    target.save(frame)
    back = target.load()
    assert list(back.columns) == names and len(back) == len(frame)
    for i in range(frame.shape[1]):
        check_csv_column(frame.iloc[:, i], back.iloc[:, i])


@EXAMPLES
@given(frame=frames(safe_text=False, odd_names=True, any_index=True))
def test_csv_never_loses_rows_columns_or_text(frame, storage):
    """Whatever the text: every row and column comes back, and text read back as text is unchanged."""
    target = new_target("csv", storage)
    frame = frame.reset_index(drop=True)
    names = [str(n) for n in frame.columns]
    if len(set(names)) != len(names):
        with pytest.raises(flowlib.TargetFormatError):
            target.save(frame)
        return
    target.save(frame)
    back = target.load()
    assert list(back.columns) == names and len(back) == len(frame)
    for i in range(frame.shape[1]):
        original, loaded = frame.iloc[:, i], back.iloc[:, i]
        if loaded.dtype == "str" and original.dtype == "str":
            assert loaded.isna().tolist() == original.isna().tolist()
            assert loaded.dropna().tolist() == original.dropna().tolist()


plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)


@EXAMPLES
@given(value=st.one_of(st.lists(plain, max_size=4), st.dictionaries(st.text(max_size=6), plain, max_size=4)))
def test_json_dicts_and_lists_round_trip_exactly(value, storage):
    target = new_target("json", storage)
    target.save(value)
    back = target.load()
    assert back == value
    assert repr(back) == repr(value)  # -0.0 stays -0.0, ints stay ints


changed_by_json = st.one_of(
    st.tuples(st.integers()),  # would come back as a list
    st.dictionaries(st.integers(), st.integers(), min_size=1),  # keys would come back as strings
    st.sampled_from([math.nan, math.inf, -math.inf]),  # not JSON
    st.sets(st.integers(), min_size=1),
)


@EXAMPLES
@given(inside=plain, bad=changed_by_json, as_list=st.booleans())
def test_json_refuses_what_it_would_change_wherever_it_hides(inside, bad, as_list, storage):
    value = [inside, [bad]] if as_list else {"ok": inside, "deep": {"bad": bad}}
    target = new_target("json", storage)
    with pytest.raises(flowlib.TargetFormatError):
        target.save(value)
    assert not target.exists()


@pytest.mark.parametrize("fmt", ["pickle", "memory"])
@EXAMPLES
@given(value=plain)
def test_pickle_and_memory_keep_any_value(fmt, value, storage):
    target = new_target(fmt, storage)
    target.save(value)
    assert repr(target.load()) == repr(value)
