"""Determinism checks recompute a seeded, partition-keyed sample of files (issue 15), or all with the setting."""

import pytest

from core.check_sample import MIN_FILES, CheckSampleError, sample_paths

PATHS = [f"src/m{i:04d}.py" for i in range(2000)]


def test_the_default_is_a_tenth_and_the_same_on_every_call(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    first = sample_paths(PATHS, "repo", "2026-11-30")
    assert len(first.paths) == 200 and first.total == 2000 and not first.whole
    assert sample_paths(list(reversed(PATHS)), "repo", "2026-11-30") == first  # input order does not matter
    assert "200 of 2000 files" in first.describe()


def test_another_day_checks_other_files(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    a = sample_paths(PATHS, "repo", "2026-11-30").paths
    b = sample_paths(PATHS, "repo", "2026-12-01").paths
    assert len(a & b) < 60  # independent draws of 10% overlap by about 1% of 2000 (20 files)


def test_a_small_partition_is_checked_whole(monkeypatch):
    monkeypatch.delenv("EVIDENCE_LAKE_CHECK_SAMPLE", raising=False)
    small = sample_paths(PATHS[:MIN_FILES], "repo", "2026-11-30")
    assert small.whole and small.describe() == f"all {MIN_FILES} files"
    assert len(sample_paths(PATHS[:500], "repo", "2026-11-30").paths) == MIN_FILES


@pytest.mark.parametrize("setting,size", [("all", 2000), ("1", 2000), ("0.5", 1000), (" ALL ", 2000)])
def test_the_setting_chooses_the_share(monkeypatch, setting, size):
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", setting)
    assert len(sample_paths(PATHS, "repo", "2026-11-30").paths) == size


@pytest.mark.parametrize("setting", ["0", "-1", "2", "half", ""])
def test_a_bad_setting_says_what_to_use(monkeypatch, setting):
    monkeypatch.setenv("EVIDENCE_LAKE_CHECK_SAMPLE", setting)
    with pytest.raises(CheckSampleError, match="use 'all' or a fraction"):
        sample_paths(PATHS, "repo", "2026-11-30")
