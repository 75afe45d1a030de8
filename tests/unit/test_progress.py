"""Progress messages of long work: throttled by the interval, with counts, rate and time left."""

import pytest

from core.progress import PROGRESS_ENV, Progress, progress_interval


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reports_at_most_once_an_interval_with_count_rate_and_time_left():
    clock, said = Clock(), []
    p = Progress("extracted", 1_000_000, "lines", said.append, every_s=10, clock=clock)
    clock.now += 4
    p.advance(200_000)
    assert said == []  # 4 s in: too soon
    clock.now += 6
    p.advance(300_000)
    assert said == ["extracted 500,000 of 1,000,000 lines (50%), 50,000 lines/s, about 10 s left"]
    clock.now += 5
    p.advance(100_000)
    assert len(said) == 1  # 5 s after the last message
    clock.now += 125
    p.advance(100_000)
    assert said[-1] == "extracted 700,000 of 1,000,000 lines (70%), 5,000 lines/s, about 1 min 0 s left"


def test_the_end_of_the_work_is_not_announced_and_a_note_waits_its_turn():
    clock, said = Clock(), []
    p = Progress("indexed", 20, "documents", said.append, every_s=10, clock=clock)
    clock.now += 30
    p.advance(20)  # done: the step's own summary follows
    assert said == []
    p.note("putting 400 postings in term order")
    assert said == ["putting 400 postings in term order"]
    p.note("hashing")  # no time has passed
    assert len(said) == 1


def test_zero_total_and_long_waits_read_well():
    clock, said = Clock(), []
    p = Progress("x", 0, "files", said.append, every_s=0, clock=clock)
    assert p.message() == "x 0 of 0 files, 0 files/s"
    q = Progress("y", 10_000, "rows", said.append, every_s=0, clock=clock)
    clock.now += 1
    q.advance(1)
    assert said == ["y 1 of 10,000 rows (0%), 1 rows/s, about 2 h 46 min left"]


def test_the_interval_setting_is_read_and_a_bad_one_says_what_to_set(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert progress_interval() == 10.0
    monkeypatch.setenv(PROGRESS_ENV, "0.5")
    assert progress_interval() == 0.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv(PROGRESS_ENV, bad)
        with pytest.raises(ValueError, match="number of seconds between progress messages"):
            progress_interval()
        Progress("quiet", 5, "rows", None).advance(5)  # no reader: the setting is never read
