"""The `make bench` scoreboard: figures are recorded only when asked, and each target's verdict is right."""

from benchmarks.targets import RESULTS_ENV, TARGETS, Target, read_results, record, scoreboard


def test_figures_are_recorded_only_into_the_file_a_run_of_every_benchmark_names(tmp_path):
    results = tmp_path / "results.jsonl"
    record("kb_lines_per_s", 1.0, environ={})  # a benchmark run alone: nothing is written anywhere
    assert not results.exists()
    env = {RESULTS_ENV: str(results)}
    record("kb_lines_per_s", 37_921.4, environ=env)
    record("bm25_p95_ms", 31.0, environ=env)
    record("bm25_p95_ms", 29.0, environ=env)  # recorded twice: the last value counts
    with results.open("a") as out:
        out.write("not json\n{\"figure\": \"x\"}\n")  # a torn or foreign line is skipped, not fatal
    assert read_results(results) == {"kb_lines_per_s": 37_921.4, "bm25_p95_ms": 29.0}
    assert read_results(tmp_path / "missing.jsonl") == {}


def test_each_target_is_judged_in_its_own_direction_and_an_unmeasured_one_says_so():
    lower = Target("ratio", "ratio", 1.5, unit="x")
    higher = Target("rate", "rate", 150_000, higher_is_better=True, unit="lines/s")
    share = Target("share", "share", 0.30, unit="%")
    rows = scoreboard({"ratio": 3.1, "rate": 150_000, "share": 0.27}, [lower, higher, share, Target("gone", "gone", 1)])
    assert rows == [("ratio", "3.10x", "<= 1.50x", "NOT MET"),
                    ("rate", "150,000 lines/s", ">= 150,000 lines/s", "met"),
                    ("share", "27.0%", "<= 30.0%", "met"),
                    ("gone", "-", "<= 1", "not measured")]
    assert scoreboard({"ratio": 1.5}, [lower])[0][3] == "met"  # the limit itself is within the target


def test_the_benchmarks_record_exactly_the_figures_the_targets_read():
    """A typo in a recorded name would leave its target "not measured" for ever: the names must match."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "benchmarks"
    names = set()
    for module in ("stdlib.py", "evidence.py", "search.py"):
        names |= set(re.findall(r'f?"((?:stdlib|kb|git|bm25|index)_[a-z0-9_{}]+)"', (root / module).read_text()))
    recorded = {name.replace("{copies}", str(copies)) for name in names for copies in (1, 4)}  # --copies 1 4
    assert recorded == {target.figure for target in TARGETS}
