"""Canonical JSON: golden bytes pin the serialiser; NaN/Inf and non-JSON types are refused."""

import math
from collections import OrderedDict

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.canonical import CanonicalJSONError, canonical_json, content_id, crc32, sha256_hex

GOLDEN = [
    ({"b": 1, "a": [1, 2, {"z": None, "y": True}]}, b'{"a":[1,2,{"y":true,"z":null}],"b":1}'),
    (5.90562510252024e-05, b"0.0000590562510252024"),  # stdlib json would write 5.90562510252024e-05
    (1e-07, b"1e-7"),
    (1e16, b"1e+16"),
    (0.1, b"0.1"),
    (1.0, b"1.0"),
    (-0.0, b"-0.0"),
    (1.5e300, b"1.5e+300"),
    (2**63 - 1, b"9223372036854775807"),
    ({"é": "日本🎉"}, '{"é":"日本🎉"}'.encode()),  # non-ASCII written as is
    ('a"\\\n\t\x01', b'"a\\"\\\\\\n\\t\\u0001"'),
    ([], b"[]"),
    ({}, b"{}"),
    ((1, "x"), b'[1,"x"]'),
]


@pytest.mark.parametrize(("value", "expected"), GOLDEN)
def test_golden_bytes(value, expected):
    assert canonical_json(value) == expected


def test_key_order_does_not_matter():
    a = OrderedDict([("x", 1), ("a", {"k": 2, "b": 3})])
    b = {"a": {"b": 3, "k": 2}, "x": 1}
    assert canonical_json(a) == canonical_json(b) == b'{"a":{"b":3,"k":2},"x":1}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"a": [1, {"b": math.nan}]}, [None, math.inf]])
def test_non_finite_floats_are_rejected_with_their_path(bad):
    with pytest.raises(CanonicalJSONError, match="NaN/Infinity"):
        canonical_json(bad)


def test_nested_nan_error_names_the_path():
    with pytest.raises(CanonicalJSONError, match=r"\$\.a\[1\]\.b"):
        canonical_json({"a": [1, {"b": math.nan}]})


def test_none_alone_is_fine():
    assert canonical_json({"a": None}) == b'{"a":null}'


@pytest.mark.parametrize("bad", [{1: "int key"}, {"d": b"bytes"}, {"s": {1, 2}}, object(), 2**64])
def test_non_json_values_raise(bad):
    with pytest.raises(CanonicalJSONError):
        canonical_json(bad)


def test_hash_helpers():
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value
    assert crc32(b"\xff" * 4) > 2**31  # unsigned: half of all CRCs need more than Int32
    assert content_id({"b": 1, "a": 2}) == sha256_hex(b'{"a":2,"b":1}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


@given(json_values)
@example({": ": None, "a\nb": [" , ", "x"]})  # separators and newlines inside strings are content, not layout
def test_canonical_is_idempotent_and_roundtrips(value):
    import re

    import orjson

    once = canonical_json(value)
    assert canonical_json(orjson.loads(once)) == once
    # no whitespace between tokens: with every string literal emptied, none is left (a key ": " once failed a
    # check that looked for ": " in the whole text)
    skeleton = re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', once)
    assert not re.search(rb"\s", skeleton), skeleton


class _Float(float):
    pass


class _Dict(dict):
    pass


# JSON values with non-finite floats and subclasses of JSON types (a str enum's float twin, OrderedDict)
any_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.floats().map(_Float)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=3), children, max_size=4)
    | st.dictionaries(st.text(max_size=3), children, max_size=4).map(_Dict),
    max_leaves=20,
)


@given(any_values)
@example({"a": [math.nan]})
@example({"a": (1, {"b": math.inf})})
@example(_Dict(b=_Float("nan")))
@example([{"x": _Dict(y=-math.inf)}, None])
@example(OrderedDict(a=None, b=[_Float(1.5)]))
@settings(max_examples=300)
def test_a_non_finite_float_is_refused_wherever_it_is_and_only_then(value):
    """The fast walk that spares a payload with ``null`` the path search finds exactly what the path search finds."""
    from core.canonical import _find_non_finite

    if _find_non_finite(value) is None:
        assert canonical_json(orjson.loads(canonical_json(value))) == canonical_json(value)
    else:
        with pytest.raises(CanonicalJSONError, match="NaN/Infinity"):
            canonical_json(value)
