"""Determinism checks recompute a seeded, partition-keyed sample of units (issue 15), or all with the setting."""

import polars as pl
import pytest

from core.check_sample import MIN_UNITS, CheckSampleError, sample_units

PATHS = [f"src/m{i:04d}.py" for i in range(2000)]


def test_the_default_is_a_tenth_and_the_same_on_every_call(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    first = sample_units(PATHS, "repo", "2026-11-30")
    assert len(first.units) == 200 and first.total == 2000 and not first.whole
    assert sample_units(list(reversed(PATHS)), "repo", "2026-11-30") == first  # input order does not matter
    assert "200 of 2000 files" in first.describe()


def test_another_day_checks_other_files(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    a = sample_units(PATHS, "repo", "2026-11-30").units
    b = sample_units(PATHS, "repo", "2026-12-01").units
    assert len(a & b) < 60  # independent draws of 10% overlap by about 1% of 2000 (20 files)


def test_a_small_partition_is_checked_whole(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    small = sample_units(PATHS[:MIN_UNITS], "repo", "2026-11-30")
    assert small.whole and small.describe() == f"all {MIN_UNITS} files"
    assert len(sample_units(PATHS[:500], "repo", "2026-11-30").units) == MIN_UNITS


@pytest.mark.parametrize("setting,size", [("all", 2000), ("1", 2000), ("0.5", 1000), (" ALL ", 2000)])
def test_the_setting_chooses_the_share(monkeypatch, setting, size):
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", setting)
    assert len(sample_units(PATHS, "repo", "2026-11-30").units) == size


@pytest.mark.parametrize("setting", ["0", "-1", "2", "half", ""])
def test_a_bad_setting_says_what_to_use(monkeypatch, setting):
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", setting)
    with pytest.raises(CheckSampleError, match="use 'all' or a fraction"):
        sample_units(PATHS, "repo", "2026-11-30")


def test_a_stream_line_is_sampled_with_its_block_and_a_file_row_with_its_file(monkeypatch):
    from core import check_sample
    from core.check_sample import Sample, block_unit, file_units, sample_unit

    monkeypatch.setattr(check_sample, "LINE_BLOCK", 10)
    rows = pl.DataFrame({"path": ["a.py", "s.jsonl", "s.jsonl", "s.jsonl", "t.jsonl"],
                         "line_offset": [None, 0, 9, 10, 25]}, schema={"path": pl.Utf8, "line_offset": pl.Int64})
    units = rows.select(sample_unit())["unit"].to_list()
    assert units == ["a.py", block_unit("s.jsonl", 0), block_unit("s.jsonl", 0), block_unit("s.jsonl", 1),
                     block_unit("t.jsonl", 2)]
    sample = Sample(frozenset({"a.py", block_unit("s.jsonl", 1)}), 4, "0.1")
    assert rows.filter(sample.rows())["line_offset"].to_list() == [None, 10]
    assert sample.blocks() == {"s.jsonl": frozenset({1})} and sample.files() == {"a.py", "s.jsonl"}
    assert sample.describe().startswith("2 of 4 units (files, blocks of 10 stream lines) (seeded")
    files = pl.DataFrame({"path": ["a.py", "s.jsonl", "gone.jsonl"], "line_offsets": [None, [3, 4, 17], None]},
                         schema={"path": pl.Utf8, "line_offsets": pl.List(pl.Int64)})
    assert sorted(file_units(files)) == sorted(["a.py", "gone.jsonl", block_unit("s.jsonl", 0),
                                                block_unit("s.jsonl", 1)])


def test_the_sessions_of_one_task_are_one_unit(monkeypatch):
    """Preference pairs join a task's sessions: sampling some of them would pair others than the full build."""
    from core import check_sample
    from core.check_sample import block_unit, task_unit
    from core.distill_check import distill_units

    monkeypatch.setattr(check_sample, "LINE_BLOCK", 2)
    records = pl.DataFrame({
        "kind": ["session", "session", "session", "review_finding", "session", "session"],
        "path": ["s.jsonl"] * 3 + ["r.jsonl"] + ["s.jsonl"] * 2,
        "line_offset": [0, 1, 7, 3, 8, 9],
        "payload": ['{"task_id":"t1"}', '{"task_id":"t2"}', '{"task_id":"t1"}', '{"task_id":"t1"}',
                    '{"task_id":7}', "not json"]})
    assert distill_units(records).to_list() == [task_unit("t1"), task_unit("t2"), task_unit("t1"),
                                                block_unit("r.jsonl", 1), block_unit("s.jsonl", 4),
                                                block_unit("s.jsonl", 4)]
    assert not task_unit("t1").startswith("s.jsonl") and task_unit("x") != block_unit("task", 0)
