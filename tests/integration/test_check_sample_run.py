"""The determinism checks on a partition bigger than the sample floor (issue 15).

At the default setting the evidence and index checks recompute a seeded sample of files; the
index checks then re-derive every partition-wide column (df, document lengths, symbol-id clash
numbers, the manifest) from all stored rows. Each kind of tampering below sits where the sample
proves it or where a re-derivation does, and each is caught; ``all`` passes on the same lake.
"""

import shutil

import dagster as dg
import polars as pl
import pytest

from checks.factories import PartitionReads
from checks.indexes import fixed_queries, index_deterministic, index_rebuild_equivalence
from core.contracts import (
    EVIDENCE_RECORDS,
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_SYMBOLS,
    INDEX_TERM_STATS,
    INDEX_TERMS,
)
from core.lake import read_partitions, write_partitions
from resources.lake import LakeResource
from resources.sources import SourcesResource
from tests.helpers import check_results, materialize_all, rows_hash, utc_today, write_sources

FILES = 130


def _metadata(result, name: str) -> dict:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return {k: v.value for k, v in evaluation.metadata.items()}


@pytest.fixture(scope="module")
def _built_sampled_lake(tmp_path_factory):
    """main_job (default sample) over one partition of FILES modules, built once per module and worker.

    Every test tampers with a copy (``sampled_lake``): the build is what costs, ~7 s a test.
    """
    base = tmp_path_factory.mktemp("sampled")
    tree = base / "tree"
    tree.mkdir()
    for i in range(FILES):
        (tree / f"m{i:03d}.py").write_text(
            f'"""Module {i} about topic{i % 7}."""\nimport os\n\n\ndef f{i}():\n    """Return {i}."""\n    return {i}\n'
            f"\n\ndef f{i}():  # defined twice: a symbol-id clash\n    return -{i}\n")
    sources = write_sources(base / "sources.toml", {"tree": {"kind": "tree", "path": str(tree)}})
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        patch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
        result = materialize_all(instance, base / "lake", sources, "tree", utc_today())
    assert result.success and all(check_results(result).values()), check_results(result)
    return base / "lake", sources, result


@pytest.fixture
def sampled_lake(_built_sampled_lake, tmp_path, monkeypatch):
    """A copy of the built lake for one test, with the default sample in effect; (lake, sources, build result)."""
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    built, sources, result = _built_sampled_lake
    lake = tmp_path / "lake"
    shutil.copytree(built, lake)
    return lake, sources, result


def test_the_checks_recompute_a_seeded_sample_by_default_and_pass(sampled_lake):

    lake, _, result = sampled_lake
    part = ("tree", utc_today())
    stored = read_partitions(str(lake), EVIDENCE_RECORDS, [part], verify=True)
    # the index check takes the evidence hash the writer recorded in its commit (known once a read verified
    # this copy of the lake against it), and it is the stored rows' hash
    assert LakeResource(root=str(lake)).known_hash(EVIDENCE_RECORDS, part) == rows_hash(
        stored, EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile)
    evidence = _metadata(result, "evidence_records_deterministic")
    assert evidence["sample"].startswith(f"100 of {FILES} files (seeded by partition")
    assert evidence["units_recomputed"] == 100
    assert evidence["records_stored_hash"] == evidence["records_recomputed_hash"]
    index = _metadata(result, "index_deterministic")
    assert index["sample"] == evidence["sample"] and index["differences"] == 0
    assert index["records_recomputed"] > 100
    assert _metadata(result, "index_rebuild_equivalence")["queries"], "the sampled documents give queries"


def _verdict(lake, sources, check) -> tuple[bool, str]:
    reads = PartitionReads(("tree", utc_today()), LakeResource(root=str(lake)), SourcesResource(file=str(sources)))
    result = check.rule(reads)
    return result.passed, result.description or ""


def _tampered(lake, contract, change) -> None:
    part = ("tree", utc_today())
    stored = read_partitions(str(lake), contract, [part])
    write_partitions(str(lake), contract, change(stored), [part])


def _sampled_ids(lake) -> set[str]:
    """Evidence ids of the sampled files, as the check picks them."""
    from core.check_sample import sample_units

    records = read_partitions(str(lake), EVIDENCE_RECORDS, [("tree", utc_today())])
    sample = sample_units(records["path"].to_list(), "tree", utc_today().isoformat())
    assert not sample.whole
    return set(records.filter(pl.col("path").is_in(sorted(sample.units)))["evidence_id"].to_list())


def _one_posting(terms: pl.DataFrame, ids: set[str], inside: bool) -> pl.Expr:
    pick = terms.filter(pl.col("evidence_id").is_in(sorted(ids)) == inside).sort("term", "evidence_id").row(
        0, named=True)
    return (pl.col("term") == pick["term"]) & (pl.col("evidence_id") == pick["evidence_id"])


def _bump_tf(where: pl.Expr):
    return lambda df: df.with_columns(pl.when(where).then(pl.col("tf") + 1).otherwise(pl.col("tf")).alias("tf"))


@pytest.mark.parametrize("case", ["sampled posting", "unsampled posting", "term df", "symbol number",
                                  "manifest rows", "manifest evidence hash"])
def test_sampled_index_check_catches_tampering(sampled_lake, monkeypatch, case):
    lake, sources, _ = sampled_lake
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    ids = _sampled_ids(lake)
    terms = read_partitions(str(lake), INDEX_TERMS, [("tree", utc_today())])
    if case == "sampled posting":
        _tampered(lake, INDEX_TERMS, _bump_tf(_one_posting(terms, ids, inside=True)))
        expect = "index/terms"
    elif case == "unsampled posting":  # outside the sample: its document length no longer adds up
        _tampered(lake, INDEX_TERMS, _bump_tf(_one_posting(terms, ids, inside=False)))
        expect = "doc_len is not the sum of their postings"
    elif case == "term df":
        _tampered(lake, INDEX_TERM_STATS, lambda df: df.with_columns(
            pl.when(pl.col("term") == pl.col("term").max()).then(pl.col("df") + 1).otherwise(pl.col("df"))))
        expect = "df disagrees with index/terms"
    elif case == "symbol number":  # swap the clash numbers #1 and #2 of an unsampled pair
        def swap(df: pl.DataFrame) -> pl.DataFrame:
            outside = df.filter(~pl.col("evidence_id").is_in(sorted(ids)) & pl.col("symbol_id").str.ends_with("#2"))
            second = outside.row(0, named=True)
            first = second["symbol_id"].removesuffix("#2")
            return df.with_columns(pl.when(pl.col("symbol_id") == first).then(pl.lit(second["symbol_id"]))
                                   .when(pl.col("symbol_id") == second["symbol_id"]).then(pl.lit(first))
                                   .otherwise(pl.col("symbol_id")).alias("symbol_id"))
        _tampered(lake, INDEX_SYMBOLS, swap)
        expect = "symbol ids out of their clash order"
    elif case == "manifest rows":
        _tampered(lake, INDEX_MANIFEST, lambda df: df.with_columns(pl.col("rows") + 1))
        expect = "the manifest says"
    else:
        _tampered(lake, INDEX_MANIFEST, lambda df: df.with_columns(pl.lit("0" * 64).alias("evidence_hash")))
        expect = "built from evidence"
    passed, description = _verdict(lake, sources, index_deterministic)
    assert not passed and expect in description, description
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "all")
    passed, description = _verdict(lake, sources, index_deterministic)  # a full rebuild sees each of them too
    assert not passed and "differ from a rebuild" in description, description


def test_sampled_rebuild_equivalence_sees_a_sampled_document_lose_its_postings(sampled_lake, monkeypatch):
    lake, sources, _ = sampled_lake
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    assert _verdict(lake, sources, index_rebuild_equivalence) == (True, "")
    ids = _sampled_ids(lake)
    documents = read_partitions(str(lake), INDEX_DOCUMENTS, [("tree", utc_today())])
    mine = documents.filter(pl.col("evidence_id").is_in(sorted(ids)))
    query = fixed_queries(mine)[0]
    target = mine.filter(pl.col("title") == query)["evidence_id"][0]
    _tampered(lake, INDEX_TERMS, lambda df: df.filter(pl.col("evidence_id") != target))
    passed, description = _verdict(lake, sources, index_rebuild_equivalence)
    assert not passed and "rank differently" in description


def test_all_passes_on_the_same_lake(sampled_lake, monkeypatch):
    from checks.distill import distill_deterministic

    lake, sources, _ = sampled_lake
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "all")
    for check in (index_deterministic, index_rebuild_equivalence, distill_deterministic):
        assert _verdict(lake, sources, check) == (True, ""), check.spec.name


@pytest.mark.parametrize("case", ["sampled score", "sampled example", "unsampled example"])
def test_sampled_distill_check_catches_tampering(sampled_lake, monkeypatch, case):
    from checks.distill import distill_deterministic
    from core.contracts import DISTILL_DATASETS, DISTILL_SCORES

    lake, sources, result = sampled_lake
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    assert _metadata(result, "distill_deterministic")["sample"].startswith(f"100 of {FILES} files")
    ids = sorted(_sampled_ids(lake))
    inside = pl.col("evidence_ids").list.eval(pl.element().is_in(ids)).list.all()
    if case == "sampled score":
        _tampered(lake, DISTILL_SCORES, lambda df: df.with_columns(
            pl.when(pl.col("evidence_id") == pl.col("evidence_id").filter(pl.col("evidence_id").is_in(ids)).min())
            .then(pl.col("score") / 2).otherwise(pl.col("score")).alias("score")))
        expect = "distill/scores"
    else:
        pick = inside if case == "sampled example" else ~inside
        datasets = read_partitions(str(lake), DISTILL_DATASETS, [("tree", utc_today())])
        target = datasets.filter(pick).sort("example_id")["example_id"][0]
        _tampered(lake, DISTILL_DATASETS, lambda df: df.with_columns(
            pl.when(pl.col("example_id") == target).then(pl.col("example") + " ").otherwise(pl.col("example"))))
        expect = "not rebuilt" if case == "sampled example" else None
    passed, description = _verdict(lake, sources, distill_deterministic)
    if expect is None:  # the sample cannot see an example made only from evidence outside it; all can
        assert passed, description
    else:
        assert not passed and expect in description, description
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "all")
    passed, description = _verdict(lake, sources, distill_deterministic)
    assert not passed and "distill/" in description, description


def test_index_referential_names_each_table_holding_an_id_the_evidence_lacks(sampled_lake):
    from checks.indexes import index_referential

    lake, sources, _ = sampled_lake
    assert _verdict(lake, sources, index_referential) == (True, "")
    ghost = "f" * 64
    for contract in (INDEX_TERMS, INDEX_DOCUMENTS):  # a posting and a document of a record that is not there
        _tampered(lake, contract,
                  lambda df: pl.concat([df, df.head(1).with_columns(pl.lit(ghost).alias("evidence_id"))]))
    passed, description = _verdict(lake, sources, index_referential)
    assert not passed and "'index/terms': 1" in description and "'index/documents': 1" in description, description


def test_postings_of_an_evidence_id_without_a_document_are_named(sampled_lake, monkeypatch):
    """The postings are summarised by 128-bit id hashes in a scan; a posting whose id has no document is
    still found, and said to have none."""
    lake, sources, _ = sampled_lake
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    part = ("tree", utc_today())
    records = read_partitions(str(lake), EVIDENCE_RECORDS, [part])
    documents = read_partitions(str(lake), INDEX_DOCUMENTS, [part])
    undocumented = records.filter(~pl.col("evidence_id").is_in(documents["evidence_id"].implode()))["evidence_id"][0]
    _tampered(lake, INDEX_TERMS, lambda df: pl.concat([df, df.head(1).with_columns(
        pl.lit(undocumented).alias("evidence_id"))]).sort("term", "evidence_id"))
    passed, description = _verdict(lake, sources, index_deterministic)
    assert not passed and "1 documents whose doc_len is not the sum" in description, description
    assert "postings of an evidence id with no document" in description, description


@pytest.mark.parametrize("case", ["valid", "duplicate key", "bad tf"])
def test_the_postings_schema_is_checked_a_row_group_at_a_time(sampled_lake, monkeypatch, case):
    """Rows in several row groups: the streamed check gives the verdict and the partition row numbers that
    a check over the whole frame gives, and reads the same rows as a whole read."""
    from checks.indexes import INDEX_RULES
    from core.schema_check import batch_schema_failures, schema_failures

    lake, sources, _ = sampled_lake
    part = ("tree", utc_today())
    monkeypatch.setattr("core.delta_files.ROW_GROUP_ROWS", 97)
    terms = read_partitions(str(lake), INDEX_TERMS, [part])
    assert terms.height > 3 * 97
    if case == "duplicate key":  # row 5's key again near the end, row groups apart
        changed = pl.concat([terms, terms.slice(5, 1)])
    elif case == "bad tf":
        changed = terms.with_columns(pl.when(pl.int_range(pl.len()) == terms.height - 3).then(0)
                                     .otherwise(pl.col("tf")).alias("tf"))
    else:
        changed = terms
    _tampered(lake, INDEX_TERMS, lambda _: changed)
    batches = list(LakeResource(root=str(lake)).batches(INDEX_TERMS, part))
    assert len(batches) > 3 and pl.concat(batches).equals(read_partitions(str(lake), INDEX_TERMS, [part]))
    (rule,) = [r for r in INDEX_RULES if r.spec.name == "index_terms_schema"]
    reads = PartitionReads(part, LakeResource(root=str(lake)), SourcesResource(file=str(sources)))
    result = rule.rule(reads)
    assert not reads.holds(INDEX_TERMS), "the streamed check keeps no whole table"
    assert result.metadata["rows"].value == changed.height
    whole = schema_failures(INDEX_TERMS, read_partitions(str(lake), INDEX_TERMS, [part]))
    streamed, rows = batch_schema_failures(INDEX_TERMS, lambda: LakeResource(root=str(lake)).batches(INDEX_TERMS, part))
    assert streamed == whole and rows == changed.height
    assert result.passed == (whole == []) == (case == "valid")
    expected_rows = {"duplicate key": [5, terms.height], "bad tf": [terms.height - 3], "valid": []}[case]
    assert [c["index"] for c in whole] == expected_rows, whole


def test_the_default_index_checks_pass_holding_no_per_record_table_whole(sampled_lake):
    """At the default sample the index step reads sampled rows, projections and row groups: every check
    passes and no non-empty sections, symbols, documents or postings table stays whole in the step's reads."""
    from checks.indexes import INDEX_RULES
    from core.index_check import PER_RECORD

    lake, sources, _ = sampled_lake
    reads = PartitionReads(("tree", utc_today()), LakeResource(root=str(lake)), SourcesResource(file=str(sources)))
    verdicts = {rule.spec.name: rule.rule(reads) for rule in INDEX_RULES}
    assert all(v.passed for v in verdicts.values()), {k: v.description for k, v in verdicts.items() if not v.passed}
    assert len(verdicts) == 9  # six schemas, determinism, rebuild equivalence, referential
    held = [c.table_id for c in PER_RECORD if reads.holds(c) and reads.table(c).height]  # an empty one is read whole
    assert held == [], held
    documents = read_partitions(str(lake), INDEX_DOCUMENTS, [("tree", utc_today())])
    assert verdicts["index_documents_schema"].metadata["rows"].value == documents.height > 0


def _pandera_passes(contract, df: pl.DataFrame) -> bool:
    import pandera.errors as pa_errors

    model = contract.pandera_schema()
    model.unique = None  # as the schema checks run it: keys are checked apart (core.schema_check)
    try:
        model.validate(df, lazy=True)
    except pa_errors.SchemaErrors:
        return False
    return True


def _breaking(column, dtype) -> list[tuple[str, pl.Expr]]:
    """(name, new first value) of changes that may break ``column``'s rules: a null, and per check a value
    outside it (an empty string, a negative number)."""
    out = [] if column.nullable else [("null", pl.lit(None, dtype))]
    names = {check.name for check in column.checks}
    if names and dtype == pl.Utf8:
        out.append(("empty text", pl.lit("", dtype)))
    elif names and dtype.is_integer():
        out.append(("negative", pl.lit(-1, dtype)))
    return out


def test_the_one_pass_schema_verdict_is_pandera_s_on_every_table(_built_sampled_lake):
    """``surely_valid`` passes the stored partitions without pandera, and never passes a frame pandera fails:
    each table with one value broken per kind of rule (null, each check kind), a column's type changed,
    a column added or dropped."""
    from core.contracts import CONTRACTS
    from core.schema_check import surely_valid

    lake, _, _ = _built_sampled_lake
    seen_checks, tables = set(), 0
    for contract in CONTRACTS.values():
        stored = read_partitions(str(lake), contract, [("tree", utc_today())])
        if stored.height == 0:
            continue
        tables += 1
        model = contract.pandera_schema()
        model.unique = None
        assert surely_valid(model, stored) and _pandera_passes(contract, stored), contract.table_id
        changes, kinds = [], set()
        for column in model.columns.values():
            dtype = stored.schema[column.name]
            for kind, value in _breaking(column, dtype):
                key = (kind, tuple(sorted(c.name for c in column.checks)))
                if key in kinds:
                    continue  # one column per kind of rule keeps pandera's ~30 ms a call affordable
                kinds.add(key)
                seen_checks.update(c.name for c in column.checks)
                first = pl.int_range(pl.len()) == 0
                changes.append(stored.with_columns(pl.when(first).then(value).otherwise(pl.col(column.name))
                                                   .alias(column.name)))
        ints = [n for n, t in stored.schema.items() if t == pl.Int64]
        if ints:
            changes.append(stored.with_columns(pl.col(ints[0]).cast(pl.Int32)))
        changes += [stored.with_columns(pl.lit(1).alias("extra")), stored.drop(stored.columns[-1])]
        for changed in changes:
            fast, slow = surely_valid(model, changed), _pandera_passes(contract, changed)
            assert not fast or slow, (contract.table_id, "passed a frame pandera fails")
            assert fast == slow, (contract.table_id, "left to pandera a frame it passes")
    assert tables >= 8
    assert {"equal_to", "greater_than_or_equal_to", "str_length", "str_matches", "isin", "in_range"} <= seen_checks
