"""The SQL console's caps (issue 16 case 13): one statement, rows, time and memory."""

import time

import pytest

from core.sql import QueryLimitExceeded, ReadOnlyViolation, run_capped, run_query


def test_two_statements_are_refused_not_half_answered(tmp_path):
    with pytest.raises(ReadOnlyViolation, match="one statement at a time"):
        run_capped(str(tmp_path), "SELECT 1; SELECT 2")


def test_a_cross_join_of_two_million_row_ranges_is_stopped_by_the_timeout(tmp_path):
    started = time.perf_counter()
    with pytest.raises(QueryLimitExceeded, match="longer than 1 s"):
        run_capped(str(tmp_path), "select count(*) from range(1000000) a, range(1000000) b", timeout_s=1)
    assert time.perf_counter() - started < 15


def test_a_query_past_the_memory_cap_is_stopped(tmp_path):
    with pytest.raises(QueryLimitExceeded, match="more than 100MB"):
        run_capped(str(tmp_path), "select list(range) from range(50000000)", memory_limit="100MB")


def test_rows_past_the_limit_are_cut_and_said(tmp_path):
    capped = run_capped(str(tmp_path), "select * from range(25)", limit=10)
    assert capped.frame.height == 10 and capped.truncated
    exact = run_capped(str(tmp_path), "select * from range(10)", limit=10)
    assert exact.frame.height == 10 and not exact.truncated
    assert run_query(str(tmp_path), "select * from range(12345)").height == 12345  # library use: every row
