"""Issue 16 case 2: every reader verifies what it returns; --no-verify is there for forensics."""

import shutil

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

import cli
import core.verified as verified
from core.content_hash import content_hash
from core.contracts import DISTILL_SCORES, EVIDENCE_RECORDS, INDEX_SECTIONS
from core.lake import LakeReadError, partition_predicate, read_partitions, table_uri, write_partitions
from core.sql import run_capped
from core.verified import TamperedDataError, verify_table
from tests.helpers import materialize_all, utc_today, write_sources


@pytest.fixture(scope="module")
def _built_docs_lake(tmp_path_factory):
    """main_job over a three-guide docs partition, built once per module and worker (~7 s)."""
    base = tmp_path_factory.mktemp("verified")
    docs = base / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"g{i}.md").write_text(f"# Guide {i}\n\nText {i}.\n\n## Part {i}\n\nMore {i}.\n")
    sources = write_sources(base / "sources.toml", {"docs": {"kind": "tree", "path": "docs"}})
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        patch.setenv("XDG_CACHE_HOME", str(base / "cache"))
        patch.delenv("EVIDENCE_LAKE_NO_VERIFY", raising=False)
        assert materialize_all(instance, base / "lake", sources, "docs", utc_today()).success
    verified.forget()
    return base / "lake"


@pytest.fixture
def lake(_built_docs_lake, tmp_path, lake_root, monkeypatch):
    """A copy of a materialised docs partition, with the verification memo isolated in tmp_path (and empty)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # set, not deleted: a delenv of an unset variable records nothing, and `--no-verify` below sets it in
    # os.environ, which then outlived the test and turned verification off for the worker's later tests
    monkeypatch.setenv("EVIDENCE_LAKE_NO_VERIFY", "0")
    verified.forget()
    shutil.copytree(_built_docs_lake, lake_root)
    yield str(lake_root), ("docs", utc_today())
    verified.forget()


def _forge(root: str, contract, part, column: str, value) -> None:
    """Change one value of a partition with deltalake directly, as another tool would (a commit not ours)."""
    rows = read_partitions(root, contract, [part], verify=False)
    forged = rows.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column))
                               .alias(column))
    write_deltalake(table_uri(root, contract), forged.to_arrow(), mode="overwrite",
                    predicate=partition_predicate([part]))


def _damage_data_file(root: str, contract) -> None:
    """Rewrite a data file in place (same path, no commit), as a stray tool or a bad disk would."""
    table = DeltaTable(table_uri(root, contract))
    path = table.file_uris()[0]
    data = pq.read_table(path)
    pq.write_table(data.slice(1), path)  # one row fewer, written over the original


def test_clean_reads_pass_and_a_verified_partition_is_not_hashed_again(lake, monkeypatch):
    root, part = lake
    for contract in (EVIDENCE_RECORDS, INDEX_SECTIONS, DISTILL_SCORES):  # rows with checksums, plain, scoped
        assert read_partitions(root, contract, [part]).height > 0
    verify_table(root, DISTILL_SCORES)

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed a partition that was already verified")

    monkeypatch.setattr(verified, "content_hash", no_hashing)
    verified.forget()  # the in-process memo is gone: the on-disk one still knows these file signatures
    assert read_partitions(root, INDEX_SECTIONS, [part]).height > 0
    assert run_capped(root, "select count(*) as n from distill_scores").frame["n"][0] > 0


def test_rows_changed_by_another_tool_are_refused_naming_table_and_partition(lake, monkeypatch):
    root, (source, day) = lake
    assert read_partitions(root, INDEX_SECTIONS, [(source, day)]).height > 0  # verified (and memoised) first
    _forge(root, INDEX_SECTIONS, (source, day), "path", "forged.md")
    with pytest.raises(TamperedDataError, match=f"table index/sections partition {source}/{day}: its rows hash"):
        read_partitions(root, INDEX_SECTIONS, [(source, day)])
    with pytest.raises(TamperedDataError, match="table index/sections"):
        run_capped(root, "select path from index_sections")
    assert run_capped(root, "select 1 as one").frame["one"][0] == 1  # a query that reads no table runs
    monkeypatch.setenv("EVIDENCE_LAKE_NO_VERIFY", "1")  # forensics: the forged row is shown
    assert "forged.md" in read_partitions(root, INDEX_SECTIONS, [(source, day)])["path"].to_list()


def test_a_data_file_rewritten_in_place_is_never_returned(lake):
    root, part = lake
    assert read_partitions(root, INDEX_SECTIONS, [part]).height > 0  # memoised under the old file signature
    _damage_data_file(root, INDEX_SECTIONS)
    with pytest.raises((TamperedDataError, LakeReadError), match="index/sections"):
        read_partitions(root, INDEX_SECTIONS, [part])


def test_a_commit_by_another_tool_is_refused(lake):
    root, (source, day) = lake
    DeltaTable(table_uri(root, INDEX_SECTIONS)).delete("path = 'g0.md'")
    assert "g0.md" not in read_partitions(root, INDEX_SECTIONS, [(source, day)], verify=False)["path"].to_list()
    with pytest.raises(TamperedDataError, match=f"partition {source}/{day}"):
        read_partitions(root, INDEX_SECTIONS, [(source, day)])


def test_the_cli_refuses_and_no_verify_shows_the_rows(lake, monkeypatch, capsys):
    root, (source, day) = lake
    monkeypatch.setenv("EVIDENCE_LAKE_ROOT", root)
    _forge(root, EVIDENCE_RECORDS, (source, day), "payload", '{"forged": true}')
    query = "select count(*) as n from evidence_records where payload like '%forged%'"
    assert cli.main(["sql", query]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert f"refused: table evidence/records partition {source}/{day}: row evidence_id=" in said
    assert "--no-verify" in said
    assert cli.main(["sql", "--format", "json", "--no-verify", query]) == 0
    out = capsys.readouterr()
    assert '"n":1' in out.out.replace(" ", "") and "--no-verify" in out.err
    assert cli.main(["stats", "--no-verify"]) == 0
    monkeypatch.delenv("EVIDENCE_LAKE_NO_VERIFY")
    assert cli.main(["stats"]) == 1  # the stats views read evidence too


def test_a_time_travel_read_is_verified_against_the_commits_up_to_it(lake):
    root, (source, day) = lake
    version = DeltaTable(table_uri(root, INDEX_SECTIONS)).version()
    DeltaTable(table_uri(root, INDEX_SECTIONS)).delete("path = 'g0.md'")  # a later foreign commit
    old = read_partitions(root, INDEX_SECTIONS, [(source, day)], version=version)
    assert "g0.md" in old["path"].to_list()  # the version read is ours: verified, returned
    with pytest.raises(TamperedDataError):
        read_partitions(root, INDEX_SECTIONS, [(source, day)])


def test_a_partition_read_back_carries_its_writers_hash_until_its_files_change(lake, monkeypatch):
    """A step given a whole partition (the index manifest hashes its evidence) does not hash it again, and
    gets the digest a fresh hash gives; rows changed outside our writer are hashed, never trusted."""
    import core.content_hash as ch

    root, part = lake
    contract = EVIDENCE_RECORDS
    # the lake is a copy, made at another path than its writer's: commit the partition again with our writer
    write_partitions(root, contract, read_partitions(root, contract, [part], verify=False), [part])
    calls = []
    real = ch._content_hash
    monkeypatch.setattr(ch, "_content_hash", lambda *a: calls.append(1) or real(*a))
    rows = read_partitions(root, contract, [part], verify=False)
    assert ch.content_hash(rows, contract.key, contract.volatile) == real(rows, contract.key, contract.volatile)
    assert calls == []  # the writer's digest, no pass over the rows
    subset = read_partitions(root, contract, None, verify=False)  # not one partition: hashed as usual
    ch.content_hash(subset, contract.key, contract.volatile)
    assert len(calls) == 1
    _forge(root, contract, part, "path", "forged.md")  # another tool's commit: no digest of ours for its files
    forged = read_partitions(root, contract, [part], verify=False)
    assert ch.content_hash(forged, contract.key, contract.volatile) != real(rows, contract.key, contract.volatile)
    assert len(calls) == 2


def test_a_ledger_partition_is_hashed_from_its_rows_not_from_its_newest_batch(lake):
    """A verified scoped partition (a ledger of batches) is remembered by its newest batch's digest: that is
    no content hash of the whole partition, so a read of it must not carry one."""
    from core.contracts import REPLAY_RUNS
    from tests.helpers import rows_hash

    root, part = lake
    first = read_partitions(root, REPLAY_RUNS, [part])
    assert first.height > 0
    write_partitions(root, REPLAY_RUNS, first.with_columns(pl.lit("second-batch").alias("replay_batch_id")), [part])
    read_partitions(root, REPLAY_RUNS, [part])  # verified: its signature is remembered with the newest digest
    both = read_partitions(root, REPLAY_RUNS, [part])
    assert both.height == 2 * first.height
    assert content_hash(both, REPLAY_RUNS.key, REPLAY_RUNS.volatile) == rows_hash(both, REPLAY_RUNS.key,
                                                                                   REPLAY_RUNS.volatile)
