"""Partition content hash: one sha256 that says whether two partitions hold the same rows.

Rows are sorted by the table's key (then by every other hashable column, so ties
cannot reorder), volatile columns are dropped, and each column is serialised with
the canonical serialiser. Column-wise serialisation carries the same information as
row-wise canonical rows but costs one serialiser call per column instead of per row.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Sequence

import polars as pl

from core.canonical import canonical_json

_UNSORTABLE = (pl.List, pl.Struct, pl.Array, pl.Object)
HASH_CHUNK_ROWS = 65_536


class NonFiniteValueError(ValueError):
    """A float column holds NaN or Infinity, which has no canonical form."""


def _check_finite(series: pl.Series) -> bool:
    """True when the column's floats are all finite (checked in polars); False if it cannot tell."""
    dtype = series.dtype
    if dtype.is_float():
        if (series.is_nan() | series.is_infinite()).any():
            raise NonFiniteValueError(f"column '{series.name}' holds NaN or Infinity")
        return True
    return _no_float_inside(dtype)


def _no_float_inside(dtype: pl.DataType) -> bool:
    """A type that cannot hold a float at any depth (a list of strings, a struct of ints)."""
    if isinstance(dtype, (pl.List, pl.Array)):
        return _no_float_inside(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return all(_no_float_inside(field.dtype) for field in dtype.fields)
    return not dtype.is_float() and dtype != pl.Object


def to_jsonable(series: pl.Series) -> list:
    """Column values as JSON-ready Python objects (dates as ISO text, bytes as hex)."""
    dtype = series.dtype
    if dtype.is_temporal():
        return series.dt.to_string("iso").to_list() if dtype != pl.Time else series.cast(pl.Utf8).to_list()
    if dtype == pl.Binary:
        return series.bin.encode("hex").to_list()
    if dtype.is_decimal():
        return series.cast(pl.Utf8).to_list()
    if isinstance(dtype, pl.List) and dtype.inner.is_temporal() and dtype.inner != pl.Time:
        return series.list.eval(pl.element().dt.to_string("iso")).to_list()
    return series.to_list()


def hash_order(df: pl.DataFrame, key: Sequence[str], volatile: Iterable[str] = ()) -> tuple[pl.DataFrame,
                                                                                          pl.Series | None]:
    """The hashed columns (volatile dropped, ordered by name) and the row order they are read in (None: as is).

    Rows go by key, then by every other sortable column, so ties cannot reorder. When no two rows
    share a key (an evidence id, a posting's term and document) the other columns never decide, and
    the order is computed on the key alone: row-encoding every column of a wide partition (evidence
    payloads) for a sort cost more than hashing it. The order is an index, not a sorted copy of the
    partition: the hash gathers a piece of one column at a time.
    """
    drop = [c for c in volatile if c in df.columns]
    kept = df.drop(drop)
    kept = kept.select(sorted(kept.columns))
    keys = list(dict.fromkeys(c for c in key if c in kept.columns))  # a column named twice orders once
    # types from the schema: taking a stamped pl.lit column as a Series expands it to a value per row (5M: +215 MiB)
    tie_breakers = [c for c in kept.columns if c not in key and not isinstance(kept.schema[c], _UNSORTABLE)]
    order = keys + tie_breakers
    if not order or kept.height < 2 or strictly_ordered(kept, keys):
        return kept, None
    if keys and not any(isinstance(kept.schema[c], _UNSORTABLE) for c in keys) and not kept.select(
            pl.struct(keys).is_duplicated().any()).item():
        order = keys
    return kept, kept.select(pl.arg_sort_by(order, nulls_last=True, maintain_order=True)).to_series()


def sorted_for_hash(df: pl.DataFrame, key: Sequence[str], volatile: Iterable[str] = ()) -> pl.DataFrame:
    """The rows ``content_hash`` reads, as one frame: volatile columns dropped, in ``hash_order``."""
    kept, order = hash_order(df, key, volatile)
    return kept if order is None else kept[order]


def same_rows(left: pl.DataFrame, right: pl.DataFrame, key: Sequence[str], volatile: Iterable[str] = ()) -> bool:
    """Whether ``content_hash`` of the two frames agrees, compared in polars instead of serialised.

    The same rows in ``hash_order`` with the same columns and types. Columns holding floats are left
    to the hashes themselves: ``==`` calls -0.0 and 0.0 equal, canonical JSON does not.
    """
    volatile = tuple(volatile)
    a, b = sorted_for_hash(left, key, volatile), sorted_for_hash(right, key, volatile)
    if a.schema != b.schema:
        return False
    if not all(_no_float_inside(dtype) for dtype in a.schema.values()):
        return content_hash(left, key, volatile) == content_hash(right, key, volatile)
    return a.equals(b)


def _plainly_ordered(dtype: pl.DataType) -> bool:
    """Types whose ``>`` is the order ``sort`` uses (not floats: -0.0 and NaN; not categoricals)."""
    return dtype.is_integer() or dtype.is_temporal() or dtype in (pl.Utf8, pl.Boolean)


def strictly_ordered(df: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether the rows already stand in strictly increasing order of ``columns`` (no nulls, no ties).

    Then sorting by those columns and any tie-breakers is the identity, and the sorted copy of a
    table (the largest allocation of hashing an index's postings) is skipped. Builders that write
    in key order (postings by term then evidence id) get this for one comparison pass.
    """
    if not columns or any(not _plainly_ordered(df.schema[c]) for c in columns) or df.select(
            pl.any_horizontal(pl.col(c).null_count() > 0 for c in columns)).item():
        return False
    increasing = pl.lit(False)
    for name in reversed(columns):  # lexicographic: a later column decides only where the earlier ones tie
        col = pl.col(name)
        increasing = (col > col.shift(1)) | ((col == col.shift(1)) & increasing)
    return bool(df.select(increasing.slice(1).all()).item())


def _constant_items(frame: pl.DataFrame) -> dict[str, bytes]:
    """The canonical bytes of the one value of each column that holds a single value (e.g. ``source``,
    ``day``, ``schema_name``: a third of the hashing time of a postings table).

    One pass of expressions, never a column as a Series: polars keeps a stamped ``pl.lit`` column as
    one broadcast value, and taking it as a Series expands it to a value per row (the four stamped
    columns of 4.95M postings: +220 MiB); and one ``select`` for all columns, as a select per column
    made small partitions' hashes a third slower.
    """
    candidates = [name for name, dtype in frame.schema.items() if not dtype.is_nested() and dtype != pl.Object]
    if frame.height < 2 or not candidates:
        return {}
    same = frame.select([((pl.col(c).null_count() == 0) & (pl.col(c) == pl.col(c).first()).all()).alias(c)
                         for c in candidates]).row(0, named=True)
    constant = [c for c in candidates if same[c]]
    firsts = frame.select([pl.col(c).head(1) for c in constant]) if constant else None
    return {c: canonical_json(to_jsonable(firsts[c]), known_finite=_check_finite(firsts[c]))[1:-1] for c in constant}


# Digests of frames hashed in this process, by frame identity: a step that hashes its output (the index
# manifest) and the writer that stores it hash the same object once. An entry holds a weak reference to
# its frame, checked on every hit, and leaves when the frame dies, so a reused id never matches.
_memo: dict[int, tuple[weakref.ref, tuple, str]] = {}


def content_hash(df: pl.DataFrame, key: Sequence[str], volatile: Iterable[str] = ()) -> str:
    """sha256 hex over the canonical form of ``df`` (see module docstring); once per frame object.

    The memo is keyed by the frame object and checked against the key, volatile columns, height
    and schema, so any frame our code builds anew (polars operations return new frames) is hashed.
    """
    volatile = tuple(volatile)
    signature = _signature(df, key, volatile)
    entry = _memo.get(id(df))
    if entry is not None and entry[0]() is df and entry[1] == signature:
        return entry[2]
    digest = _content_hash(df, key, volatile)
    _remember(df, signature, digest)
    return digest


def remember(df: pl.DataFrame, key: Sequence[str], volatile: Iterable[str], digest: str) -> None:
    """Record ``digest`` as the content hash of ``df``, for a caller that knows it without hashing: rows
    just read from data files our writer hashed as it wrote them (core.lake.read_partitions)."""
    _remember(df, _signature(df, key, tuple(volatile)), digest)


def _signature(df: pl.DataFrame, key: Sequence[str], volatile: tuple) -> tuple:
    return (tuple(key), volatile, df.height, tuple(df.schema.items()))


def _remember(df: pl.DataFrame, signature: tuple, digest: str) -> None:
    ident = id(df)

    def forget(ref: weakref.ref) -> None:
        if _memo.get(ident, (None,))[0] is ref:
            del _memo[ident]

    _memo[ident] = (weakref.ref(df, forget), signature, digest)


def _content_hash(df: pl.DataFrame, key: Sequence[str], volatile: Iterable[str]) -> str:
    frame, order = hash_order(df, key, volatile)
    digest = hashlib.sha256()
    header = {"columns": frame.columns, "dtypes": [str(t) for t in frame.dtypes], "rows": frame.height}
    digest.update(canonical_json(header))
    constants = _constant_items(frame)  # neither they nor finite depend on the row order
    for name in frame.columns:
        digest.update(b"\x1e")
        one = constants.get(name)
        if one is not None:  # canonical_json's bytes of each fixed-size chunk, without a value per row
            _update_constant(digest, one, frame.height)
            continue
        column = frame[name]
        finite = _check_finite(column)
        # fixed-size chunks bound memory; the chunk size is part of the hash definition
        for start in range(0, max(column.len(), 1), HASH_CHUNK_ROWS):
            piece = column.slice(start, HASH_CHUNK_ROWS) if order is None else column.gather(
                order.slice(start, HASH_CHUNK_ROWS))
            digest.update(canonical_json(to_jsonable(piece), known_finite=finite))
    return digest.hexdigest()


def _constant_chunk(one: bytes, rows: int) -> bytes:
    """canonical_json of a list of ``rows`` (at least one) values whose canonical bytes are ``one``."""
    return b"[" + (one + b",") * (rows - 1) + one + b"]"


def _update_constant(digest, one: bytes, height: int) -> None:
    """Feed ``digest`` the chunks of a column holding ``one`` in each of ``height`` rows.

    Every full chunk has the same bytes, so they are made once and fed again (by repetition, not a join of
    a list per chunk: the four stamped columns were half the hashing time of a postings table).
    """
    full_chunks, tail = divmod(height, HASH_CHUNK_ROWS)
    if full_chunks:
        full = _constant_chunk(one, HASH_CHUNK_ROWS)
        for _ in range(full_chunks):
            digest.update(full)
    if tail:
        digest.update(_constant_chunk(one, tail))


def first_difference(
    left: pl.DataFrame, right: pl.DataFrame, key: Sequence[str], volatile: Iterable[str] = ()
) -> str | None:
    """Describe the first row where two partitions differ, or None if they are equal."""
    a = sorted_for_hash(left, key, volatile)
    b = sorted_for_hash(right, key, volatile)
    if a.columns != b.columns:
        return f"columns differ: {a.columns} vs {b.columns}"
    for i in range(min(a.height, b.height)):
        ra, rb = a.row(i, named=True), b.row(i, named=True)
        if ra != rb:
            cols = [c for c in a.columns if ra[c] != rb[c]]
            ident = {k: ra.get(k) for k in key}
            return f"row {i} {ident}: columns {cols} differ ({[ra[c] for c in cols]!r} vs {[rb[c] for c in cols]!r})"
    if a.height != b.height:
        return f"row counts differ: {a.height} vs {b.height}"
    return None
