"""The index asset copies the rows of unchanged evidence from the prior day, and only from a build it can trust."""

import datetime as dt

import dagster as dg
import polars as pl

import assets.indexes as index_assets
from core.contracts import EVIDENCE_RECORDS, INDEX_DOCUMENTS, INDEX_MANIFEST
from core.indexing import build_indexes
from core.lake import read_partitions
from tests.helpers import commit_files, init_repo, resources_for, write_sources

DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def _lake(tmp_path):
    repo = init_repo(tmp_path / "repo")
    body = '"""Module {i}."""\n\n\ndef f{i}(x):\n    """Doc {i}."""\n    return x\n\n\nclass C{i}:\n    pass\n'
    files = {f"pkg/m{i}.py": body.format(i=i).encode() for i in range(30)}
    files.update({f"docs/d{i}.md": f"# Doc {i}\n\n## Part\n\ntext {i}\n".encode() for i in range(10)})
    commit_files(repo, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), files)
    # day 2: one module edited at its top (every line below moves), one page grown, one module new
    commit_files(repo, dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC), {
        "pkg/m3.py": b"import os\n" + files["pkg/m3.py"], "docs/d4.md": files["docs/d4.md"] + b"\nmore\n",
        "pkg/new.py": b"def fresh():\n    return 1\n"})
    return tmp_path / "lake", write_sources(tmp_path / "sources.toml", {"repo": {"kind": "git", "path": "repo"}})


def _index_run(instance, lake, sources, day, checks: bool = False) -> dg.ExecuteInProcessResult:
    """Snapshot, evidence and indexes (with the index checks if asked) for one day of the repo."""
    from assets.evidence import evidence
    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from assets.snapshots import raw_snapshot
    from checks.indexes import INDEX_CHECKS

    if "repo" not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["repo"])
    result = dg.materialize([raw_snapshot, evidence, index_assets.indexes, *(INDEX_CHECKS if checks else [])],
                            partition_key=partition_key("repo", day), instance=instance,
                            resources=resources_for(lake, sources))
    assert result.success
    return result


def _documents_output(result: dg.ExecuteInProcessResult) -> dict:
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key == dg.AssetKey(["index", "documents"]):
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError("no index/documents materialisation")


def _full_rebuild_hashes(lake, day) -> list[str]:
    records = read_partitions(str(lake), EVIDENCE_RECORDS, [("repo", day)], verify=False)
    return build_indexes(records, "repo", day).manifest.sort("index_name")["index_hash"].to_list()


def _stored_hashes(lake, day) -> list[str]:
    return read_partitions(str(lake), INDEX_MANIFEST, [("repo", day)], verify=False).sort("index_name")[
        "index_hash"].to_list()


def test_day_two_copies_unchanged_rows_and_equals_a_full_rebuild(tmp_path):
    lake, sources = _lake(tmp_path)
    with dg.instance_for_test() as instance:
        first = _index_run(instance, lake, sources, DAY1)
        assert _documents_output(first)["reused_documents"] == 0
        second = _index_run(instance, lake, sources, DAY2, checks=True)
        meta = _documents_output(second)
        docs = read_partitions(str(lake), INDEX_DOCUMENTS, [("repo", DAY2)], verify=False).height
        assert 0 < meta["reused_documents"] < docs and "2024-03-01" in meta["reuse"]
        checks = second.get_asset_check_evaluations()
        assert len(checks) >= 9 and all(c.passed for c in checks)  # index determinism at the sample included
        assert _stored_hashes(lake, DAY2) == _full_rebuild_hashes(lake, DAY2)
        rerun = _index_run(instance, lake, sources, DAY2)  # a rerun copies from the partition itself
        meta = _documents_output(rerun)
        assert meta["reused_documents"] == docs and "2024-03-02" in meta["reuse"]
        assert _stored_hashes(lake, DAY2) == _full_rebuild_hashes(lake, DAY2)


def test_rows_of_another_builder_version_or_edited_since_are_not_copied(tmp_path, monkeypatch):
    lake, sources = _lake(tmp_path)
    with dg.instance_for_test() as instance:
        _index_run(instance, lake, sources, DAY1)
        built_by = index_assets.INDEX_BUILDER_VERSION
        monkeypatch.setattr(index_assets, "INDEX_BUILDER_VERSION", "999")  # as after a change to the builder
        result = _index_run(instance, lake, sources, DAY2)
        meta = _documents_output(result)
        assert meta["reused_documents"] == 0 and f"index builder {built_by}, this is 999" in meta["reuse"]
        monkeypatch.undo()
        # day 2's postings rewritten outside Dagster: no longer what its run recorded, so not copied
        from core.contracts import INDEX_TERMS
        from core.lake import write_partitions

        terms = read_partitions(str(lake), INDEX_TERMS, [("repo", DAY2)], verify=False)
        write_partitions(str(lake), INDEX_TERMS, terms.with_columns(pl.col("tf") + 1), [("repo", DAY2)])
        again = _index_run(instance, lake, sources, DAY2)
        meta = _documents_output(again)
        assert meta["reused_documents"] == 0 and "index/terms" in meta["reuse"] and "changed since" in meta["reuse"]
        assert _stored_hashes(lake, DAY2) == _full_rebuild_hashes(lake, DAY2)
        # the newest record of one table from another run (as when a run dies between two index writes)
        from assets.partitions import partition_key
        from core.content_hash import content_hash

        docs = read_partitions(str(lake), INDEX_DOCUMENTS, [("repo", DAY2)], verify=False)
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key="index/documents", partition=str(partition_key("repo", DAY2)),
            tags={"dagster/code_version": "1"},
            metadata={"content_hash": content_hash(docs, INDEX_DOCUMENTS.key, INDEX_DOCUMENTS.volatile)}))
        meta = _documents_output(_index_run(instance, lake, sources, DAY2))
        assert meta["reused_documents"] == 0 and "different runs" in meta["reuse"]


def test_the_manifest_names_the_stored_evidence_hash_also_after_another_tool_rewrote_the_evidence(tmp_path):
    """The index reads seven evidence columns and takes the evidence hash its writer recorded; once another
    tool has rewritten the partition (a column the index never reads), it hashes the rows as stored."""
    from deltalake import write_deltalake

    from assets.partitions import partition_key
    from core.content_hash import content_hash
    from core.lake import partition_predicate, table_uri

    def evidence_hash() -> str:
        rows = read_partitions(str(lake), EVIDENCE_RECORDS, [("repo", DAY1)], verify=False)
        return content_hash(rows, EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile)

    def manifest_hashes() -> set[str]:
        return set(read_partitions(str(lake), INDEX_MANIFEST, [("repo", DAY1)], verify=False)["evidence_hash"])

    lake, sources = _lake(tmp_path)
    with dg.instance_for_test() as instance:
        _index_run(instance, lake, sources, DAY1)
        written = evidence_hash()
        assert manifest_hashes() == {written}
        rows = read_partitions(str(lake), EVIDENCE_RECORDS, [("repo", DAY1)], verify=False)
        write_deltalake(table_uri(str(lake), EVIDENCE_RECORDS),
                        rows.with_columns(pl.col("extractor_version") + "-other").to_arrow(), mode="overwrite",
                        predicate=partition_predicate([("repo", DAY1)]))
        assert evidence_hash() != written
        result = dg.materialize([index_assets.indexes], partition_key=partition_key("repo", DAY1),
                                instance=instance, resources=resources_for(lake, sources))
        assert result.success
        assert manifest_hashes() == {evidence_hash()}


def test_each_index_table_is_hashed_once_by_its_writer_and_the_manifest_names_those_digests(tmp_path, monkeypatch):
    """The step leaves the hashing to the IO manager (beside each Parquet write) and builds the manifest from
    the digests it made: no table is hashed twice, and the manifest equals the writes' content hashes."""
    import core.content_hash as ch
    from assets.partitions import partition_key
    from core.contracts import INDEX_TABLES

    lake, sources = _lake(tmp_path)
    with dg.instance_for_test() as instance:
        _index_run(instance, lake, sources, DAY1)  # the evidence, and a first index (no prior for DAY1 below)
        hashed: list[tuple[str, ...]] = []
        real = ch._content_hash
        monkeypatch.setattr(ch, "_content_hash", lambda df, *a: hashed.append(tuple(sorted(df.columns))) or
                            real(df, *a))
        result = dg.materialize([index_assets.indexes], partition_key=partition_key("repo", DAY1),
                                instance=instance, resources=resources_for(lake, sources),
                                selection=[index_assets.indexes])
        assert result.success
        written = {}
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            written["/".join(mat.asset_key.path)] = mat.metadata["content_hash"].value
    for contract in INDEX_TABLES:
        columns = tuple(sorted(contract.polars_schema))
        assert hashed.count(columns) == 1, f"{contract.table_id} hashed {hashed.count(columns)} times"
    stored = read_partitions(str(lake), INDEX_MANIFEST, [("repo", DAY1)], verify=False)
    assert stored.height == len(INDEX_TABLES)
    assert dict(zip(stored["index_name"], stored["index_hash"], strict=True)) == {
        c.table_id: written[c.table_id] for c in INDEX_TABLES}
    assert _stored_hashes(lake, DAY1) == _full_rebuild_hashes(lake, DAY1)
