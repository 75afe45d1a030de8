"""distill/* through main_job: datasets, stable splits across days, coexisting scorer versions, the alarm."""

import datetime as dt
import json

import polars as pl
import pytest

from core.contracts import DISTILL_DATASETS, DISTILL_SCORES, EVIDENCE_RECORDS
from core.corpus import generate, write_corpus
from core.distill import build_scores, split_for
from core.export import ExportError, export_dataset
from core.lake import read_partitions, write_partitions
from tests.helpers import check_results, materialize_all, resources_for, write_sources

START = dt.date(2026, 11, 16)


@pytest.fixture
def kb(tmp_path):
    write_corpus(generate(3, 30, seed=21), tmp_path / "kb")
    return write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": "kb"}})


def test_split_is_a_pure_function_of_the_example_id():
    ids = [f"{i:064x}" for i in range(4000)]
    splits = [split_for(i, 0.1) for i in ids]
    assert splits == [split_for(i, 0.1) for i in ids]
    assert 0.07 < splits.count("eval") / len(ids) < 0.13
    assert all(split_for(i, 0.0) == "train" for i in ids[:50]) and all(split_for(i, 1.0) == "eval" for i in ids[:50])


def test_re_export_after_a_new_day_keeps_every_split(tmp_path, instance, lake_root, kb):
    assert materialize_all(instance, lake_root, kb, "kb", START).success
    first = export_dataset(str(lake_root), "sft", "jsonl", tmp_path / "out1" / "sft.jsonl")
    before = {json.loads(line)["example_id"]: json.loads(line)["split"]
              for line in (tmp_path / "out1" / "sft.jsonl").read_text().splitlines()}
    for day in (START + dt.timedelta(days=1), START + dt.timedelta(days=2)):
        result = materialize_all(instance, lake_root, kb, "kb", day)
        assert result.success and all(check_results(result).values()), check_results(result)  # split_stable too
    second = export_dataset(str(lake_root), "sft", "jsonl", tmp_path / "out2" / "sft.jsonl")
    after = {json.loads(line)["example_id"]: json.loads(line)["split"]
             for line in (tmp_path / "out2" / "sft.jsonl").read_text().splitlines()}
    assert before and set(before) <= set(after)
    assert all(after[e] == s for e, s in before.items())
    assert second["examples"] > first["examples"]
    assert second["read"]["delta_version"] > first["read"]["delta_version"]
    assert [p[1] for p in second["read"]["partitions"]] == ["2026-11-16", "2026-11-17", "2026-11-18"]
    parquet = export_dataset(str(lake_root), "preference", "parquet", tmp_path / "p.parquet", split="train")
    assert pl.read_parquet(tmp_path / "p.parquet").height == parquet["examples"] > 0
    with pytest.raises(ExportError, match="no 'rag' examples"):
        export_dataset(str(lake_root), "rag", "jsonl", tmp_path / "r.jsonl")


def test_a_new_scorer_version_leaves_the_old_rows(instance, lake_root, kb):
    assert materialize_all(instance, lake_root, kb, "kb", START).success
    partition = [("kb", START)]
    v1 = read_partitions(str(lake_root), DISTILL_SCORES, partition)
    v2 = build_scores(read_partitions(str(lake_root), EVIDENCE_RECORDS, partition), "kb", START).with_columns(
        pl.lit("2.0.0").alias("scorer_version"), (pl.col("score") * 0.5).alias("score"))
    write_partitions(str(lake_root), DISTILL_SCORES, v2, partition)
    both = read_partitions(str(lake_root), DISTILL_SCORES, partition)
    assert both.filter(pl.col("scorer_version") == "1.0.0").sort("evidence_id").equals(v1.sort("evidence_id"))
    assert both.filter(pl.col("scorer_version") == "2.0.0").height == v1.height
    again = materialize_all(instance, lake_root, kb, "kb", START)  # re-run v1: v2 rows untouched
    assert again.success and all(check_results(again).values())
    assert read_partitions(str(lake_root), DISTILL_SCORES, partition).filter(
        pl.col("scorer_version") == "2.0.0").sort("evidence_id").equals(
        both.filter(pl.col("scorer_version") == "2.0.0").sort("evidence_id"))


def test_the_ungrounded_alarm_fires_on_a_corrupted_score(instance, lake_root, kb):
    from definitions import build_definitions

    assert materialize_all(instance, lake_root, kb, "kb", START).success
    partition = [("kb", START)]
    records = read_partitions(str(lake_root), EVIDENCE_RECORDS, partition)
    ungrounded = [eid for eid, p in records.filter(pl.col("kind") == "session").select("evidence_id", "payload")
                  .iter_rows() if not json.loads(p).get("grounded_in_roster")]
    assert ungrounded
    scores = read_partitions(str(lake_root), DISTILL_SCORES, partition).with_columns(
        pl.when(pl.col("evidence_id") == ungrounded[0]).then(pl.lit("accepted")).otherwise(pl.col("category"))
        .alias("category"))
    write_partitions(str(lake_root), DISTILL_SCORES, scores, partition)
    job = build_definitions(resources_for(lake_root, kb)).resolve_job_def("checks_job")
    result = job.execute_in_process(tags={"dagster/partition": f"{START}|kb"}, instance=instance,
                                    raise_on_error=False)
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "no_accepted_ungrounded")
    assert not evaluation.passed and ungrounded[0] in evaluation.metadata["alarms"].value
    assert read_partitions(str(lake_root), DISTILL_DATASETS, partition).height > 0


def test_split_stable_compares_with_this_sources_other_days_only(tmp_path):
    """An example id another source splits differently is no failure; the same source's other day is."""
    from checks.distill import split_stable
    from checks.factories import PartitionReads
    from core.scoring import SCORER_VERSION
    from resources.lake import LakeResource
    from resources.sources import SourcesResource

    root = str(tmp_path / "lake")

    def write(source: str, day: dt.date, split: str) -> None:
        frame = DISTILL_DATASETS.frame({"dataset": ["rag"], "example_id": ["e" * 64], "split": [split],
                                        "evidence_ids": [["a" * 64]], "example": ["{}"]}, source, day,
                                       scorer_version=SCORER_VERSION)
        write_partitions(root, DISTILL_DATASETS, frame, [(source, day)])

    def verdict(source: str, day: dt.date):
        reads = PartitionReads((source, day), LakeResource(root=root), SourcesResource(file=str(tmp_path / "s.toml")))
        return split_stable.rule(reads)

    write("a", START, "train")
    write("b", START + dt.timedelta(days=1), "eval")  # another source: its own split of the same id
    write("a", START + dt.timedelta(days=1), "train")
    result = verdict("a", START + dt.timedelta(days=1))
    assert result.passed and result.metadata["seen_before"].value == 1
    write("a", START + dt.timedelta(days=2), "eval")  # this source's earlier days said train
    result = verdict("a", START + dt.timedelta(days=2))
    assert not result.passed and "1 examples changed split" in result.description


@pytest.mark.parametrize("table", ["scores", "datasets"])
def test_an_evidence_id_missing_upstream_is_dangling(instance, lake_root, kb, table):
    from checks.distill import distill_referential
    from checks.factories import PartitionReads
    from resources.lake import LakeResource
    from resources.sources import SourcesResource

    assert materialize_all(instance, lake_root, kb, "kb", START).success
    partition = [("kb", START)]
    reads = lambda: PartitionReads(("kb", START), LakeResource(root=str(lake_root)), SourcesResource(file=str(kb)))  # noqa: E731
    assert distill_referential.rule(reads()).passed
    ghost = "f" * 64
    if table == "scores":
        rows = read_partitions(str(lake_root), DISTILL_SCORES, partition)
        rows = rows.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(ghost))
                                 .otherwise(pl.col("evidence_id")).alias("evidence_id"))
        write_partitions(str(lake_root), DISTILL_SCORES, rows, partition)
    else:
        rows = read_partitions(str(lake_root), DISTILL_DATASETS, partition)
        rows = rows.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.col("evidence_ids").list.concat(
            pl.lit([ghost]))).otherwise(pl.col("evidence_ids")).alias("evidence_ids"))
        write_partitions(str(lake_root), DISTILL_DATASETS, rows, partition)
    result = distill_referential.rule(reads())
    assert not result.passed and result.metadata["dangling"].value == 1 and ghost in result.description
