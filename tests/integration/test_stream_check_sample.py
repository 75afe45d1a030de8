"""The determinism checks sample a stream partition by blocks of lines and by session tasks (issue 15).

A jsonl partition is a few files of many lines. With files as the sample's units it was always
checked whole (1M kb lines: the three recomputing checks took 169 s of the run's 209 s of checks).
Here the block is 4 lines, so a day of ~730 lines has more units than the sample's floor of 100:
the checks recompute a sample and pass, each kind of tampering inside the sample is caught, and
``all`` passes on the same lake.
"""

import datetime as dt
import shutil

import dagster as dg
import polars as pl
import pytest

from checks.distill import distill_deterministic
from checks.evidence import evidence_records_deterministic
from checks.factories import PartitionReads
from checks.indexes import index_deterministic, index_rebuild_equivalence
from core import check_sample
from core.check_sample import sample_unit, sample_units
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES, EVIDENCE_RECORDS, INDEX_TERMS
from core.corpus import generate, write_corpus
from core.distill import DISTILL_INPUT
from core.distill_check import distill_units
from core.lake import read_partitions, write_partitions
from resources.lake import LakeResource
from resources.sources import SourcesResource
from tests.helpers import check_results, materialize_all, write_sources

BLOCK = 4
DAY = dt.date(2026, 11, 16)


@pytest.fixture(scope="module")
def _built(tmp_path_factory):
    """main_job over one day of ~730 kb lines at the default sample, with blocks of BLOCK lines."""
    base = tmp_path_factory.mktemp("stream_sample")
    write_corpus(generate(1, 400, seed=5, start=DAY), base / "kb")
    sources = write_sources(base / "sources.toml", {"kb": {"kind": "jsonl", "path": str(base / "kb")}})
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        patch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
        patch.setattr(check_sample, "LINE_BLOCK", BLOCK)
        result = materialize_all(instance, base / "lake", sources, "kb", DAY)
    assert result.success and all(check_results(result).values()), check_results(result)
    return base / "lake", sources, DAY, result


@pytest.fixture
def lake(_built, tmp_path, monkeypatch):
    """A copy of the built lake for one test, with the default sample and blocks of BLOCK lines."""
    built, sources, day, result = _built
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    monkeypatch.setattr(check_sample, "LINE_BLOCK", BLOCK)
    copy = tmp_path / "lake"
    shutil.copytree(built, copy)
    return copy, sources, day, result


def _metadata(result, name: str) -> dict:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return {k: v.value for k, v in evaluation.metadata.items()}


def _verdict(lake, sources, day, check) -> tuple[bool, str]:
    reads = PartitionReads(("kb", day), LakeResource(root=str(lake)), SourcesResource(file=str(sources)))
    result = check.rule(reads)
    return result.passed, result.description or ""


def _tampered(lake, day, contract, change) -> None:
    stored = read_partitions(str(lake), contract, [("kb", day)])
    write_partitions(str(lake), contract, change(stored), [("kb", day)])


def test_the_checks_sample_blocks_and_tasks_and_pass(lake):
    path, _, day, result = lake
    records = read_partitions(str(path), EVIDENCE_RECORDS, [("kb", day)])
    blocks = records.select(sample_unit())["unit"].n_unique()
    assert blocks > 150  # well above the floor of 100 units, so the sample is not the partition
    for name in ("evidence_records_deterministic", "index_deterministic", "index_rebuild_equivalence"):
        described = _metadata(result, name)["sample"]
        assert described.startswith("100 of ") and f"blocks of {BLOCK} stream lines" in described, (name, described)
    assert 0 < _metadata(result, "index_deterministic")["records_recomputed"] < records.height
    distill = _metadata(result, "distill_deterministic")["sample"]
    assert distill.startswith("100 of ") and "session tasks" in distill, distill


def _sampled_ids(path, day) -> list[str]:
    """The evidence ids the distill check re-scores: those of its sampled units."""
    records = read_partitions(str(path), EVIDENCE_RECORDS, [("kb", day)]).select(*DISTILL_INPUT, "line_offset")
    units = distill_units(records)
    sample = sample_units(units.unique().to_list(), "kb", day.isoformat())
    assert not sample.whole
    return sorted(records["evidence_id"].filter(sample.rows(units)).to_list())


def _index_sampled_ids(path, day) -> list[str]:
    records = read_partitions(str(path), EVIDENCE_RECORDS, [("kb", day)])
    sample = sample_units(records.select(sample_unit())["unit"].unique().to_list(), "kb", day.isoformat())
    return sorted(records.filter(sample.rows())["evidence_id"].to_list())


@pytest.mark.parametrize("case", ["evidence payload", "posting", "session score", "preference pair"])
def test_tampering_inside_the_sample_is_caught_and_all_sees_it_too(lake, monkeypatch, case):
    path, sources, day, _ = lake
    if case == "evidence payload":  # a sampled line's record says something its line does not
        files = read_partitions(str(path), EVIDENCE_RECORDS, [("kb", day)])
        sampled = files.filter(sample_units(
            files.select(sample_unit())["unit"].unique().to_list(), "kb", day.isoformat()).rows())
        target = sampled.sort("evidence_id")["evidence_id"][0]
        _tampered(path, day, EVIDENCE_RECORDS, lambda df: df.with_columns(
            pl.when(pl.col("evidence_id") == target).then(pl.col("payload").str.replace("}", ',"x":1}'))
            .otherwise(pl.col("payload")).alias("payload")))
        check, expect = evidence_records_deterministic, "evidence/records"
    elif case == "posting":
        ids = _index_sampled_ids(path, day)
        terms = read_partitions(str(path), INDEX_TERMS, [("kb", day)])
        pick = terms.filter(pl.col("evidence_id").is_in(ids)).sort("term", "evidence_id").row(0, named=True)
        where = (pl.col("term") == pick["term"]) & (pl.col("evidence_id") == pick["evidence_id"])
        _tampered(path, day, INDEX_TERMS, lambda df: df.with_columns(
            pl.when(where).then(pl.col("tf") + 1).otherwise(pl.col("tf")).alias("tf")))
        check, expect = index_deterministic, "index/terms"
    elif case == "session score":
        ids = _sampled_ids(path, day)
        scores = read_partitions(str(path), DISTILL_SCORES, [("kb", day)])
        target = scores.filter((pl.col("kind") == "session") & pl.col("evidence_id").is_in(ids))["evidence_id"].min()
        _tampered(path, day, DISTILL_SCORES, lambda df: df.with_columns(
            pl.when(pl.col("evidence_id") == target).then(pl.col("score") / 2).otherwise(pl.col("score"))))
        check, expect = distill_deterministic, "distill/scores"
    else:  # a stored preference example of sampled sessions that a rebuild does not make
        ids = _sampled_ids(path, day)
        datasets = read_partitions(str(path), DISTILL_DATASETS, [("kb", day)])
        inside = pl.col("evidence_ids").list.eval(pl.element().is_in(ids)).list.all()
        target = datasets.filter((pl.col("dataset") == "preference") & inside)["example_id"].min()
        assert target is not None, "the sample holds a whole task with a preference pair"
        _tampered(path, day, DISTILL_DATASETS, lambda df: df.with_columns(
            pl.when(pl.col("example_id") == target).then(pl.col("evidence_ids").list.reverse())
            .otherwise(pl.col("evidence_ids")).alias("evidence_ids")))
        check, expect = distill_deterministic, "distill/datasets"
    passed, description = _verdict(path, sources, day, check)
    assert not passed and expect in description, description
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "all")
    passed, description = _verdict(path, sources, day, check)
    assert not passed and description, description


def test_all_passes_on_the_same_lake(lake, monkeypatch):
    path, sources, day, _ = lake
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", "all")
    for check in (evidence_records_deterministic, index_deterministic, index_rebuild_equivalence,
                  distill_deterministic):
        assert _verdict(path, sources, day, check) == (True, ""), check.spec.name


@pytest.mark.parametrize("setting", ["half", "0", "2"])
def test_a_bad_sample_setting_fails_each_recomputing_check_with_what_to_use(lake, monkeypatch, setting):
    """A bad EVIDENCE_LAKE_CHECK_SAMPLE is a failed check that says what to set, never a crash (the distill check
    tests it before it parses any payload for the units)."""
    path, sources, day, _ = lake
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", setting)
    for check in (evidence_records_deterministic, index_deterministic, index_rebuild_equivalence,
                  distill_deterministic):
        passed, description = _verdict(path, sources, day, check)
        assert not passed and "use 'all' or a fraction" in description, (check.spec.name, description)
