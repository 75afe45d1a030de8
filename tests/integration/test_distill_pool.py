"""Scores and datasets made a chunk at a time, in a spawn pool or here, are the rows of one pass (issue 15)."""

import datetime as dt
import sysconfig
from pathlib import Path

import polars as pl
import pytest

import core.distill as distill
from core.corpus import generate, write_corpus
from core.evidence import build_evidence
from core.objects import ObjectStore
from core.pool import WARM
from core.snapshot import take_snapshot
from core.sources import SourceConfig

DAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
LOWEST, HIGHEST = "0" * 64, "f" * 64


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Sessions of many tasks (kb streams) and symbols and sections (a tree), plus two copies of one accepted
    session under the lowest and the highest evidence ids: one sft example whose first copy must win."""
    root = tmp_path_factory.mktemp("distill-pool")
    store = ObjectStore(str(root / "lake"))
    write_corpus(generate(1, 60, seed=5, start=DAY), root / "kb")
    tree = root / "tree"
    (tree / "json").mkdir(parents=True)
    for path in sorted((Path(sysconfig.get_paths()["stdlib"]) / "json").glob("*.py")):
        (tree / "json" / path.name).write_bytes(path.read_bytes())
    parts = [f"## Part {i}\n\nThis part explains step {i} of the tool in one sentence or two." for i in range(4)]
    repeated = "## Usage\n\nCall it.\n\n" * 2  # two sections of the same content
    (tree / "README.md").write_text("# Title\n\nIntro text.\n\n" + "\n\n".join(parts) + "\n\n" + repeated)
    frames = []
    for name, kind, path in (("kb", "jsonl", root / "kb"), ("t", "tree", tree)):
        snap = take_snapshot(SourceConfig(name, kind, path), DAY, store, today=DAY)
        frames.append(build_evidence(name, kind, DAY, snap.files, store, "ts", NOW).records)
    out = pl.concat(frames).select(distill.DISTILL_INPUT)
    scores = distill.build_scores(out, "s", DAY)
    accepted = scores.filter((pl.col("kind") == "session") & (pl.col("category") == "accepted"))["evidence_id"][0]
    copy = out.filter(pl.col("evidence_id") == accepted)
    return pl.concat([out, copy.with_columns(pl.lit(LOWEST).alias("evidence_id")),
                      copy.with_columns(pl.lit(HIGHEST).alias("evidence_id"))])


def _build(records, monkeypatch, workers: str, chunk: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", workers)
    monkeypatch.setattr(distill, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(distill, "POOL_MIN_ROWS", 1)
    scores = distill.build_scores(records, "s", DAY)
    return scores, distill.build_datasets(records, scores, "s", DAY, 0.3)


def test_two_workers_and_any_chunk_size_give_the_rows_of_one_pass(records, monkeypatch):
    WARM.close()
    try:
        scores, datasets = _build(records, monkeypatch, "1", 1_000_000)
        assert WARM.ready() == 0  # one worker: no pool
        for workers, chunk in (("2", 7), ("2", 64), ("1", 5)):
            got_scores, got_datasets = _build(records, monkeypatch, workers, chunk)
            assert got_scores.equals(scores), (workers, chunk)
            assert got_datasets.equals(datasets), (workers, chunk)
            if workers == "2":
                assert WARM.ready() == 2  # the chunks went to the pool, which stays warm
    finally:
        WARM.close()
    sizes = dict(datasets.group_by("dataset").len().iter_rows())
    assert sizes.get("preference", 0) >= 3 and sizes.get("sft", 0) >= 3 and sizes.get("rag", 0) >= 2, sizes
    assert scores.height > 100 and set(datasets["split"]) == {"train", "eval"}
    # the three records of one session make one sft example, which keeps the lowest of their ids
    sft = datasets.filter(pl.col("dataset") == "sft")
    ids = sft.filter(pl.col("evidence_ids").list.contains(LOWEST))
    assert ids.height == 1 and ids["evidence_ids"][0].to_list() == [LOWEST]
    assert sft.filter(pl.col("evidence_ids").list.contains(HIGHEST)).height == 0
    assert datasets.select(pl.struct("dataset", "example_id").is_unique().all()).item()


def test_a_partition_with_nothing_to_score_gives_empty_typed_tables(monkeypatch):
    empty = pl.DataFrame(schema={c: pl.Utf8 for c in distill.DISTILL_INPUT})
    metrics = pl.DataFrame({"evidence_id": ["a"], "kind": ["metric"], "path": ["x.py"], "payload": ['{"lines":1}']})
    for frame in (empty, metrics):
        scores, datasets = _build(frame, monkeypatch, "2", 7)
        assert scores.height == 0 and datasets.height == 0
        assert scores.schema == distill.DISTILL_SCORES.polars_schema
        assert datasets.schema == distill.DISTILL_DATASETS.polars_schema


def test_the_pool_is_used_from_its_row_threshold_or_when_it_is_warm(monkeypatch):
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", "2")
    WARM.close()
    try:
        assert distill.pool_workers(distill.POOL_MIN_ROWS - 1) == 1
        assert distill.pool_workers(distill.POOL_MIN_ROWS) == 2
        assert WARM.prestart(2, int)  # a pool an earlier step left warm
        assert distill.pool_workers(distill.WARM_POOL_MIN_ROWS) == 2
        assert distill.pool_workers(distill.WARM_POOL_MIN_ROWS - 1) == 1
        monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", "1")
        assert distill.pool_workers(distill.POOL_MIN_ROWS) == 1
    finally:
        WARM.close()
