"""Our own partition files (core.delta_files): what delta-rs's writer gave, minus its memory and its reordering.

Every read below goes through real Delta tables in tmp_path, with polars' ``scan_delta`` (which prunes
files by the add actions' statistics), deltalake and DuckDB.
"""

import datetime as dt
import json
import os
import random
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake

from core.content_hash import strictly_ordered
from core.contracts import INDEX_TERMS, Col, TableContract
from core.delta_files import STATS_STRING_CHARS, _string_bound, file_stats
from core.lake import LakeWriteError, read_partitions, table_uri, write_partitions

DAY = dt.date(2026, 11, 20)
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
LONG = "ж" * (STATS_STRING_CHARS + 5)  # a value whose statistics are cut

MIXED = TableContract(
    layer="test", name="mixed", schema_name="evidence_lake.test_mixed", schema_version=1,
    columns=(Col("schema_name", pl.Utf8), Col("schema_version", pl.Int64), Col("source", pl.Utf8),
             Col("day", pl.Date), Col("k", pl.Int64), Col("s", pl.Utf8, nullable=True),
             Col("f", pl.Float64, nullable=True), Col("b", pl.Boolean, nullable=True),
             Col("d", pl.Date, nullable=True), Col("t", pl.Datetime("us", "UTC"), nullable=True),
             Col("none", pl.Utf8, nullable=True), Col("tags", pl.List(pl.Utf8), nullable=True)),
    key=("k",))


def _mixed(n: int, seed: int, top: bool = False) -> pl.DataFrame:
    """Rows in no particular order, with nulls, long strings past the statistics' cut, and microseconds;
    ``top``: the greatest string is one whose cut prefix cannot be raised (its whole value is the bound)."""
    rng = random.Random(seed)
    strings = ["", "a", "b", "zz", LONG, LONG + "a", LONG[:-1] + "я", "é"] + (["\U0010ffff" * 70] if top else [])
    keys = list(range(n))
    rng.shuffle(keys)
    return MIXED.frame({
        "k": keys,
        "s": [rng.choice(strings + [None]) for _ in range(n)],
        "f": [rng.choice([None, -1.5, 0.0, 2.25, rng.random()]) for _ in range(n)],
        "b": [rng.choice([None, True, False]) for _ in range(n)],
        "d": [rng.choice([None, DAY, DAY - dt.timedelta(days=400)]) for _ in range(n)],
        "t": [rng.choice([None, T0 + dt.timedelta(microseconds=rng.randrange(10**9))]) for _ in range(n)],
        "none": [None] * n,
        "tags": [rng.choice([None, [], ["x", "y"]]) for _ in range(n)],
    }, "src", DAY)


def _probes(frame: pl.DataFrame) -> list[pl.Expr]:
    """Filters on every column at its extremes and beyond: what file pruning by statistics can get wrong."""
    probes = []
    for name in ("k", "s", "f", "b", "d", "t"):
        values = frame[name].drop_nulls()
        for value in {values.min(), values.max(), values[len(values) // 2]}:
            probes += [pl.col(name) == value, pl.col(name) >= value, pl.col(name) < value]
    return probes + [pl.col("s") == LONG + "a", pl.col("s") > LONG, pl.col("none").is_null(),
                     pl.col("none") == "x", pl.col("t") > T0 + dt.timedelta(seconds=2000)]


@pytest.mark.parametrize("top", [False, True])
def test_filters_on_every_column_find_what_the_frame_holds(tmp_path, top):
    frame = _mixed(3_000, seed=7, top=top)
    write_partitions(str(tmp_path), MIXED, frame, [("src", DAY)])
    uri = table_uri(str(tmp_path), MIXED)
    for probe in _probes(frame):
        expected = frame.filter(probe).sort("k")  # empty answers are compared too
        got = pl.scan_delta(uri).filter(probe).collect().select(frame.columns).sort("k")
        assert got.equals(expected), f"{probe}: {got.height} rows read, {expected.height} held"
    assert frame.filter(pl.col("s") == LONG + "a").height  # the long-string probes do select rows
    assert frame.filter(pl.col("t") == frame["t"].max()).height


def test_statistics_say_what_delta_rs_says_where_no_bound_is_cut(tmp_path):
    """Same rows through delta-rs's writer and ours: the same counts and the same extremes, except where ours
    are bounds by design (strings past the cut, timestamps to milliseconds)."""
    frame = _mixed(500, seed=3).drop("schema_name", "schema_version", "source", "day")
    write_deltalake(str(tmp_path / "theirs"), frame.to_arrow())
    with open(tmp_path / "theirs" / "_delta_log" / f"{0:020d}.json") as log:
        theirs = next(json.loads(json.loads(line)["add"]["stats"]) for line in log if '"add"' in line)
    ours = json.loads(file_stats(frame))
    assert ours["numRecords"] == theirs["numRecords"] == 500
    assert ours["nullCount"] == theirs["nullCount"]  # list columns have none, as in delta-rs
    for name in ("k", "f", "b", "d"):
        assert ours["minValues"][name] == theirs["minValues"][name]
        assert ours["maxValues"][name] == theirs["maxValues"][name]
    assert "none" not in ours["minValues"] and "none" not in theirs["minValues"]
    low, high = frame["t"].min(), frame["t"].max()
    assert dt.datetime.fromisoformat(ours["minValues"]["t"]) <= low
    assert dt.datetime.fromisoformat(ours["maxValues"]["t"]) >= high
    assert dt.datetime.fromisoformat(ours["maxValues"]["t"]) - high < dt.timedelta(milliseconds=1)
    assert frame["s"].max() == LONG[:-1] + "я"  # cut: its bound is shorter and above it
    assert ours["maxValues"]["s"] > frame["s"].max() and len(ours["maxValues"]["s"]) == STATS_STRING_CHARS
    assert ours["minValues"]["s"] == theirs["minValues"]["s"] == ""


def test_a_cut_maximum_stays_above_every_value_it_stands_for():
    assert _string_bound("abc", up=True) == "abc"
    cut = _string_bound("x" * 100, up=True)
    assert cut == "x" * (STATS_STRING_CHARS - 1) + "y" and cut > "x" * 100
    assert _string_bound("x" * 100, up=False) == "x" * STATS_STRING_CHARS
    # a last character that cannot be raised gives way to the one before; a surrogate is skipped
    top = "a" + "\U0010ffff" * 80
    assert _string_bound(top, up=True) == "b" and top < "b"
    assert _string_bound("\ud7ff" * 80, up=True) == "\ud7ff" * (STATS_STRING_CHARS - 1) + "\ue000"
    assert _string_bound("\U0010ffff" * 80, up=True) == "\U0010ffff" * 80  # nothing to raise: the whole value


def test_rows_read_back_in_the_order_written_and_postings_need_no_sort_to_hash(tmp_path):
    frame = _mixed(2_000, seed=11)
    write_partitions(str(tmp_path), MIXED, frame, [("src", DAY)])
    assert read_partitions(str(tmp_path), MIXED, [("src", DAY)], verify=False).equals(frame)  # not sorted by k
    rng = random.Random(5)
    terms = sorted({(f"t{rng.randrange(300):03d}", f"{rng.randrange(10**6):064d}") for _ in range(5_000)})
    postings = INDEX_TERMS.frame({"term": [t for t, _ in terms], "evidence_id": [e for _, e in terms],
                                  "tf": [1] * len(terms)}, "src", DAY)
    write_partitions(str(tmp_path), INDEX_TERMS, postings, [("src", DAY)])
    back = read_partitions(str(tmp_path), INDEX_TERMS, [("src", DAY)], verify=False)
    assert back.equals(postings) and strictly_ordered(back, INDEX_TERMS.key)
    con = duckdb.connect()  # DuckDB over the table's pyarrow dataset, as notebooks read it
    con.register("postings", DeltaTable(table_uri(str(tmp_path), INDEX_TERMS)).to_pyarrow_dataset())
    assert con.sql("select count(*), count(distinct term) from postings").fetchall()[0] == (
        postings.height, postings["term"].n_unique())


def test_many_row_groups_and_an_empty_rewrite(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import core.delta_files

    monkeypatch.setattr(core.delta_files, "ROW_GROUP_ROWS", 64)
    frame = _mixed(1_000, seed=2)
    write_partitions(str(tmp_path), MIXED, frame, [("src", DAY)])
    table = DeltaTable(table_uri(str(tmp_path), MIXED))
    assert pq.ParquetFile(table.file_uris()[0]).metadata.num_row_groups == 16
    assert read_partitions(str(tmp_path), MIXED, [("src", DAY)]).equals(frame)  # verified: hash as written
    write_partitions(str(tmp_path), MIXED, frame.head(0), [("src", DAY)])
    assert read_partitions(str(tmp_path), MIXED, [("src", DAY)]).height == 0
    assert DeltaTable(table_uri(str(tmp_path), MIXED)).file_uris() == []


def test_a_file_s_bytes_do_not_depend_on_how_polars_hands_its_strings_to_arrow(tmp_path, monkeypatch):
    """Strings go to the Parquet writer as polars' string views, not copied into Arrow strings: the file holds
    the very bytes the copy gave (every column type we write, nulls, nested lists, several row groups)."""
    import pyarrow.fs as pafs

    import core.delta_files
    from core.delta_files import Location, write_file

    monkeypatch.setattr(core.delta_files, "ROW_GROUP_ROWS", 100)
    frame = _mixed(1_000, seed=4, top=True).with_columns(
        pl.col("s").str.reverse().alias("none"))  # a second string column with other values and nulls
    written = {}
    for name, level in (("views", pl.CompatLevel.newest()), ("copies", pl.CompatLevel.oldest())):
        monkeypatch.setattr(core.delta_files, "ARROW_VIEWS", level)
        add = write_file(Location(pafs.LocalFileSystem(), str(tmp_path / name)), frame, ("src", DAY))
        written[name] = (tmp_path / name / add.path).read_bytes()
        assert pl.read_parquet(tmp_path / name / add.path).equals(frame.drop("source", "day"))
    assert written["views"] == written["copies"]


def test_a_table_stored_with_other_types_is_refused_before_any_file_is_written(tmp_path):
    uri = table_uri(str(tmp_path), MIXED)
    other = MIXED.empty().with_columns(pl.col("s").cast(pl.Int64))
    write_deltalake(uri, other.to_arrow(), partition_by=["source", "day"])
    with pytest.raises(LakeWriteError, match=r"test/mixed .*does not match the contract.*'s'"):
        write_partitions(str(tmp_path), MIXED, _mixed(10, seed=1), [("src", DAY)])
    written = [f for _, _, files in os.walk(uri) for f in files if f.endswith(".parquet")]
    assert written == []


def test_a_lost_race_commits_the_same_file_again_and_leaves_no_file_unreferenced(tmp_path):
    root = str(tmp_path)
    ours, theirs = _mixed(300, seed=4), _mixed(200, seed=5)
    write_partitions(root, MIXED, _mixed(50, seed=6), [("src", DAY)])

    def rival_commits_first() -> None:
        write_partitions(root, MIXED, theirs, [("src", DAY)])

    write_partitions(root, MIXED, ours, [("src", DAY)], before_commit=rival_commits_first)
    assert read_partitions(root, MIXED, [("src", DAY)]).equals(ours)
    uri = table_uri(root, MIXED)
    added = set()
    for name in sorted(os.listdir(f"{uri}/_delta_log")):
        if name.endswith(".json"):
            with open(f"{uri}/_delta_log/{name}") as log:
                added |= {json.loads(line)["add"]["path"] for line in log if '"add"' in line}
    on_disk = {os.path.relpath(os.path.join(d, f), uri) for d, _, files in os.walk(uri) for f in files
               if f.endswith(".parquet")}
    assert on_disk == added and len(added) == 3  # three writes committed, the retry wrote nothing new


def test_a_frame_with_nan_is_refused_and_the_file_written_beside_its_hash_is_removed(tmp_path):
    """The content hash runs while the Parquet file is written; a value it refuses (NaN has no canonical
    form) fails the write after the file exists: nothing is committed and no file is left behind."""
    from core.content_hash import NonFiniteValueError

    root, part = str(tmp_path), ("src", DAY)
    kept = _mixed(40, seed=8)
    write_partitions(root, MIXED, kept, [part])
    uri = table_uri(root, MIXED)
    before = DeltaTable(uri).version()
    files_before = sorted(f for _, _, files in os.walk(uri) for f in files if f.endswith(".parquet"))
    bad = _mixed(5_000, seed=9).with_columns(pl.when(pl.col("k") == 4_321).then(float("nan"))
                                             .otherwise(pl.col("f")).alias("f"))
    with pytest.raises(NonFiniteValueError, match="column 'f'"):
        write_partitions(root, MIXED, bad, [part])
    assert DeltaTable(uri).version() == before
    assert sorted(f for _, _, files in os.walk(uri) for f in files if f.endswith(".parquet")) == files_before
    assert read_partitions(root, MIXED, [part]).equals(kept)


def test_every_tenth_version_is_checkpointed_and_reads_from_it_equal_the_commits(tmp_path):
    """Opens read the last checkpoint and the commits after it: at most CHECKPOINT_EVERY - 1 of them."""
    from core.lake import CHECKPOINT_EVERY

    root = str(tmp_path / "lake")
    written = {}
    for i in range(2 * CHECKPOINT_EVERY + 3):  # versions 1.. (0 created the table)
        day = DAY + dt.timedelta(days=i % 4)  # rewrites too: removes must be in the checkpoint
        written[day] = _mixed(50 + i, seed=i).with_columns(pl.lit(day).alias("day"))
        write_partitions(root, MIXED, written[day], [("src", day)])
    log = os.path.join(table_uri(root, MIXED), "_delta_log")
    checkpoints = sorted(int(n.split(".")[0]) for n in os.listdir(log) if n.endswith(".checkpoint.parquet"))
    assert checkpoints == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY]
    assert json.loads(Path(log, "_last_checkpoint").read_text())["version"] == 2 * CHECKPOINT_EVERY
    # a reader that starts from the checkpoint sees exactly what the commits say
    for name in os.listdir(log):
        if name.endswith(".json") and int(name.split(".")[0]) <= 2 * CHECKPOINT_EVERY:
            os.rename(os.path.join(log, name), os.path.join(tmp_path, name))  # only the checkpoint tells now
    assert DeltaTable(table_uri(root, MIXED)).version() == 2 * CHECKPOINT_EVERY + 3
    for day, frame in written.items():
        got = read_partitions(root, MIXED, [("src", day)], verify=False)
        assert got.sort("k").equals(frame.sort("k")), day
