"""Partition content hash and the objects store."""

import datetime as dt
import hashlib
import os

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.content_hash import content_hash, first_difference
from core.objects import ObjectCorruptError, ObjectMissingError, ObjectStore


def _frame(order):
    rows = {
        "k": ["a", "b", "c"],
        "v": [1, 2, 3],
        "day": [dt.date(2026, 1, 1)] * 3,
        "t": [dt.datetime(2026, 1, 1, i, tzinfo=dt.UTC) for i in range(3)],
        "lst": [[1], [], None],
    }
    df = pl.DataFrame(rows)
    return df[order]


def test_hash_ignores_row_order_and_volatile_columns():
    a = _frame([0, 1, 2])
    b = _frame([2, 0, 1]).with_columns(pl.col("t").dt.offset_by("1h"))
    assert content_hash(a, ["k"], ["t"]) == content_hash(b, ["k"], ["t"])
    assert content_hash(a, ["k"]) != content_hash(b, ["k"])  # t counts unless volatile


def test_hash_sees_every_non_volatile_change():
    base = _frame([0, 1, 2])
    h = content_hash(base, ["k"], ["t"])
    assert content_hash(base.with_columns(pl.lit(9).alias("v")), ["k"], ["t"]) != h
    assert content_hash(base.head(2), ["k"], ["t"]) != h
    changed_list = base.with_columns(pl.Series("lst", [[1], [2], None]))
    assert content_hash(changed_list, ["k"], ["t"]) != h


def test_hash_of_empty_frame_is_stable_and_differs_from_nonempty():
    empty = _frame([0, 1, 2]).clear()
    assert content_hash(empty, ["k"]) == content_hash(empty.clone(), ["k"])
    assert content_hash(empty, ["k"]) != content_hash(_frame([0]), ["k"])


def test_first_difference_names_row_and_column():
    a = _frame([0, 1, 2])
    b = a.with_columns(pl.when(pl.col("k") == "b").then(99).otherwise(pl.col("v")).alias("v"))
    msg = first_difference(a, b, ["k"], ["t"])
    assert "{'k': 'b'}" in msg and "['v']" in msg and "99" in msg
    assert first_difference(a, a, ["k"], ["t"]) is None


def test_objects_store_dedups_and_verifies(tmp_path):
    store = ObjectStore(str(tmp_path))
    first = store.put(b"hello")
    again = store.put(b"hello")
    assert first.written and not again.written
    assert first.object == hashlib.sha256(b"hello").hexdigest()
    path = store.path_for(first.object)
    assert path.startswith(str(tmp_path / "objects" / "sha256" / first.object[:2] / first.object[2:4]))
    assert store.get(first.object) == b"hello"
    with open(path, "r+b") as handle:  # flip one byte
        handle.write(b"j")
    with pytest.raises(ObjectCorruptError, match=first.object):
        store.get(first.object)
    store.heal(b"hello", first.object)
    assert store.get(first.object) == b"hello"
    with pytest.raises(ObjectMissingError):
        store.get("0" * 64)
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".tmp-")]


def test_objects_store_refuses_bad_ids(tmp_path):
    with pytest.raises(ValueError):
        ObjectStore(str(tmp_path)).path_for("../../etc/passwd")


def test_nan_in_a_float_column_is_refused_not_hashed():
    from core.content_hash import NonFiniteValueError

    df = pl.DataFrame({"k": ["a", "b"], "x": [1.0, float("nan")]})
    with pytest.raises(NonFiniteValueError, match="column 'x'"):
        content_hash(df, ["k"])
    assert content_hash(df.with_columns(pl.Series("x", [1.0, None])), ["k"]) != content_hash(
        df.with_columns(pl.Series("x", [1.0, 2.0])), ["k"])

    from core.canonical import CanonicalJSONError

    nested = [pl.Series("x", [[1.0], [2.0, float("inf")]]), pl.Series("x", [{"a": [1.0]}, {"a": [float("nan")]}])]
    for column in nested:  # a float deep inside a list or struct is still found
        with pytest.raises(CanonicalJSONError, match="NaN/Infinity"):
            content_hash(df.with_columns(column), ["k"])
    strings = df.with_columns(pl.Series("x", [["null"], [None, "b"]]))  # no float inside: nothing to scan for
    assert content_hash(strings, ["k"]) != content_hash(strings.with_columns(pl.Series("x", [["null"], ["b"]])), ["k"])


def test_paused_gc_restores_the_collector():
    import gc

    from core.perf import paused_gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_lists_of_dates_hash_as_iso_text_and_a_changed_date_changes_the_hash():
    import datetime as _dt

    import polars as _pl

    from core.content_hash import content_hash as _hash

    day = _dt.date(2026, 11, 16)
    frame = _pl.DataFrame({"k": ["a"], "days": [[day, day + _dt.timedelta(days=1)]]})
    moved = _pl.DataFrame({"k": ["a"], "days": [[day, day + _dt.timedelta(days=2)]]})
    assert _hash(frame, ["k"]) == _hash(frame.clone(), ["k"]) != _hash(moved, ["k"])


def test_constant_columns_hash_as_the_row_by_row_serialisation_does(monkeypatch):
    """The shortcut for a one-valued column (source, day, schema_name) gives the same bytes as orjson per row."""
    import datetime as dt

    import polars as pl

    import core.content_hash as ch

    n = ch.HASH_CHUNK_ROWS * 2 + 5  # three chunks, the last one short
    frame = pl.DataFrame({
        "id": [f"{i:08d}" for i in range(n)],
        "source": ["caf\u00e9 \"q\" \\ \n\u0001"] * n,
        "day": [dt.date(2026, 12, 1)] * n,
        "version": [3] * n,
        "flag": [True] * n,
        "ratio": [0.1 + 0.2] * n,
        "moment": [dt.datetime(2026, 12, 1, 4, 5, 6, tzinfo=dt.UTC)] * n,
        "almost": ["a"] * (n - 1) + ["b"],  # one value differs only at the very end
        "holey": ["x"] * (n - 1) + [None],
    })
    fast = ch.content_hash(frame, ["id"])
    monkeypatch.setattr(ch, "_constant_items", lambda frame: {})
    assert fast == ch.content_hash(frame, ["id"])
    assert fast != ch.content_hash(frame.with_columns(pl.lit(4).alias("version")), ["id"])


def test_a_frame_object_is_hashed_once_and_any_change_of_it_is_hashed_again(monkeypatch):
    """The index manifest and the writer hash the same output frame: the second time costs nothing."""
    import gc

    import core.content_hash as ch

    calls = []
    real = ch._content_hash
    monkeypatch.setattr(ch, "_content_hash", lambda *a: calls.append(1) or real(*a))
    df = pl.DataFrame({"k": [2, 1, 3], "v": ["b", "a", "c"], "t": [9, 9, 9]})
    first = content_hash(df, ["k"], ["t"])
    assert content_hash(df, ("k",), iter(["t"])) == first and len(calls) == 1  # same key, volatile as any iterable
    twin = pl.DataFrame({"k": [1, 2, 3], "v": ["a", "b", "c"], "t": [0, 0, 0]})
    assert content_hash(twin, ["k"], ["t"]) == first and len(calls) == 2  # equal rows, another object: hashed
    assert content_hash(df, ["k"]) != first and len(calls) == 3  # other volatile columns: hashed again
    df.columns = ["k", "w", "t"]  # an in-place rename changes the schema the memo checks
    assert content_hash(df, ["k"], ["t"]) != first and len(calls) == 4
    ident = id(df)
    del df
    gc.collect()
    assert ident not in ch._memo  # a dead frame's entry goes: a new frame at the same address is hashed


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=3)), st.one_of(st.none(), st.integers(-3, 3)),
                          st.integers(0, 2)), max_size=12), st.booleans())
def test_a_frame_already_in_key_order_hashes_as_a_sorted_one(rows, presort):
    """The sort is skipped only for rows in strictly increasing key order: the hash never depends on it."""
    import core.content_hash as ch

    frame = pl.DataFrame(rows, schema={"k": pl.Utf8, "n": pl.Int64, "v": pl.Int64}, orient="row")
    if presort:
        frame = frame.sort("k", "n", "v", nulls_last=True)
    expected = frame.select("k", "n", "v").sort("k", "n", "v", nulls_last=True, maintain_order=True)
    assert ch.sorted_for_hash(frame, ["k", "n"]).equals(expected)
    assert ch.content_hash(frame, ["k", "n"]) == ch.content_hash(frame.reverse(), ["k", "n"])
    keys = list(zip(frame["k"].to_list(), frame["n"].to_list(), strict=True))
    increasing = all(None not in a + b and a < b for a, b in zip(keys, keys[1:], strict=False))
    assert ch.strictly_ordered(frame, ["k", "n"]) == (increasing and None not in sum(keys, ()))


def _golden_frame() -> pl.DataFrame:
    import datetime as dt

    from core.content_hash import HASH_CHUNK_ROWS

    n = HASH_CHUNK_ROWS + 7  # two pieces per column
    return pl.DataFrame({
        "id": [f"{(i * 7919) % n:06d}" for i in range(n)],  # unique, not in order
        "v": [None if i % 11 == 0 else i % 5 for i in range(n)],
        "s": ["caf\u00e9 \"q\"" if i % 3 else None for i in range(n)],
        "day": [dt.date(2026, 12, 1)] * n,
        "tags": [["a", str(i % 4)] for i in range(n)],
        "t": list(range(n)),
    })


def test_golden_content_hashes_pin_the_definition():
    """Stored partitions carry these digests: a change to sorting, serialising or chunking that alters
    them would make every stored partition look tampered with. Unique keys, and repeated keys that
    the other columns order."""
    frame = _golden_frame()
    assert content_hash(frame, ["id"], ["t"]) == "ea889be7a7c0ff32e66a84ec01adec4f37ffb1043f6641732682a8afd8b0fc00"
    repeated = frame.with_columns(pl.col("id").str.slice(0, 4))
    assert content_hash(repeated, ["id"], ["t"]) == (
        "0354809c5d701e0c82a61a67177972815a37e1b37cf78a209b864631ce47536d")


def test_a_key_that_names_a_column_twice_orders_by_it_once():
    """The sampled index check hashes under its contract's key plus evidence_id, which some keys hold already."""
    frame = _golden_frame().head(500).reverse()
    assert content_hash(frame, ["id", "v", "id"], ["t"]) == content_hash(frame.sample(fraction=1.0, seed=1),
                                                                          ["id", "v"], ["t"])
    assert content_hash(frame, ["s", "id", "s"]) == content_hash(frame, ["s", "id"])


STAMPED_PROBE = """
import datetime as dt, sys
import core.allocator
import polars as pl
from core.content_hash import content_hash
from core.contracts import INDEX_TERMS
n = 4_000_000
ids = pl.int_range(0, n, eager=True)
postings = pl.DataFrame({"term": pl.repeat("t", n, eager=True), "evidence_id": ids.cast(pl.Utf8).str.zfill(8),
                         "tf": ids})  # in key order: no sort
frame = INDEX_TERMS.stamp(postings, "a-source-name", dt.date(2026, 11, 20))  # four pl.lit columns
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith(field))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from here
before = status("VmRSS")
if sys.argv[1] == "hash":
    content_hash(frame, INDEX_TERMS.key)
else:
    held = [frame[c] for c in ("schema_name", "schema_version", "source", "day")]  # as Series: a value per row
print(status("VmHWM") - before)
"""


def test_hashing_a_stamped_frame_never_expands_its_constant_columns():
    """schema_name, schema_version, source and day are one broadcast value until something takes them as a
    Series; the hash reads them through expressions (4.95M postings: the hash peaked +229 MiB, now +80)."""
    import subprocess
    import sys
    from pathlib import Path

    def grown(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", STAMPED_PROBE, mode], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[2], timeout=120)
        return int(out.stdout.split()[-1])

    expanded = grown("series")
    assert expanded > 120  # the probe sees the four columns expand (4M values each)
    assert grown("hash") < expanded / 2  # what is left is the order check on the key


def _same_rows_cases() -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    base = pl.DataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3], "tags": [["x"], [], None], "at": [7, 8, 9]})
    return {
        "reordered rows": (base, base.reverse()),
        "reordered columns": (base, base.select(reversed(base.columns))),
        "only a volatile column differs": (base, base.with_columns(pl.col("at") + 1)),
        "a value differs": (base, base.with_columns(pl.when(pl.col("id") == "b").then(5).otherwise(pl.col("n"))
                                                    .alias("n"))),
        "a null for a value": (base, base.with_columns(pl.when(pl.col("id") == "a").then(None)
                                                       .otherwise(pl.col("tags")).alias("tags"))),
        "a narrower type": (base, base.with_columns(pl.col("n").cast(pl.Int32))),
        "a row more": (base, pl.concat([base, base.tail(1).with_columns(pl.lit("d").alias("id"))])),
        "a column more": (base, base.with_columns(pl.lit(1).alias("extra"))),
        "-0.0 against 0.0": (base.with_columns(pl.lit(0.0).alias("f")), base.with_columns(pl.lit(-0.0).alias("f"))),
        "equal floats": (base.with_columns(pl.lit(0.5).alias("f")), base.with_columns(pl.lit(0.5).alias("f"))),
    }


@pytest.mark.parametrize("case", list(_same_rows_cases()))
def test_same_rows_agrees_with_the_content_hash(case):
    from core.content_hash import same_rows

    left, right = _same_rows_cases()[case]
    by_hash = content_hash(left, ["id"], ["at"]) == content_hash(right, ["id"], ["at"])
    assert same_rows(left, right, ["id"], ["at"]) == by_hash
    expected = case in ("reordered rows", "reordered columns", "only a volatile column differs", "equal floats")
    assert by_hash == expected
