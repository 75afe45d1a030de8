"""EVIDENCE_LAKE_TODAY pins the pipeline's today; a bad value is a clear error, not the clock."""

import datetime as dt

import pytest

from core.snapshot import TODAY_ENV, utc_today


def test_today_is_pinned_by_the_environment_and_a_bad_value_is_refused(monkeypatch):
    monkeypatch.setenv(TODAY_ENV, "2031-02-03")
    assert utc_today() == dt.date(2031, 2, 3)
    monkeypatch.setenv(TODAY_ENV, "tomorrow")
    with pytest.raises(ValueError, match="EVIDENCE_LAKE_TODAY='tomorrow' is not a date"):
        utc_today()
    monkeypatch.delenv(TODAY_ENV)
    before = dt.datetime.now(dt.UTC).date()
    assert before <= utc_today() <= dt.datetime.now(dt.UTC).date()
