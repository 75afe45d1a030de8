"""The commands people type, run as subprocesses against temporary lakes and instances."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from core.contracts import EVIDENCE_RECORDS, SNAPSHOT_FILES, SNAPSHOTS
from core.corpus import generate, write_corpus
from core.lake import read_partitions
from resources.instance_storage import instance_yaml
from tests.helpers import check_count, commit_files, init_repo, spawned_children, utc_today, write_sources

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _make_env(tmp_path: Path) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Guide\n\n## Part\n")
    repo = init_repo(tmp_path / "repo")
    for i in range(1, 6):
        commit_files(repo, dt.datetime(2024, 3, i, 12, tzinfo=dt.UTC), {f"day{i}.md": f"# Day {i}\n".encode()})
    write_corpus(generate(2, 6, seed=3), tmp_path / "kb")
    sources = write_sources(
        tmp_path / "sources.toml",
        {"docs": {"kind": "tree", "path": "docs"}, "repo": {"kind": "git", "path": "repo"},
         "kb": {"kind": "jsonl", "path": "kb"}},
    )
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EVIDENCE_LAKE_ROOT": str(tmp_path / "lake"),
        "EVIDENCE_LAKE_SOURCES": str(sources),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "160",
    }


@pytest.fixture
def env(tmp_path):
    return _make_env(tmp_path)


@pytest.fixture(scope="session")  # once per xdist worker, however tests interleave
def docs_lake(tmp_path_factory):
    """One lake with the docs source materialised, shared by the read-only SQL cases."""
    env = _make_env(tmp_path_factory.mktemp("docs_lake"))
    run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env)
    return env


def run(args: list[str], env: dict, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nSTDOUT:\n{proc.stdout}\nSTDERR:\n{proc.stderr}")
    return proc


def test_definitions_validate(env):
    proc = run([str(BIN / "dagster"), "definitions", "validate", "-m", "definitions"], env)
    assert "Validation successful" in proc.stderr + proc.stdout


def test_dagster_cli_materialises_past_git_days(env):
    """Two of the five commit days, one `dagster asset materialize` each (a CLI process costs ~8 s)."""
    run(
        [
            sys.executable,
            "-c",
            "import dagster as dg; dg.DagsterInstance.get().add_dynamic_partitions('sources', ['repo'])",
        ],
        env,
    )
    for i in (1, 3):
        run(
            [
                str(BIN / "dagster"),
                "asset",
                "materialize",
                "-m",
                "definitions",
                "--select",
                "raw/snapshots,raw/snapshot_files",
                "--partition",
                f"2024-03-0{i}|repo",
            ],
            env,
        )
    lake = env["EVIDENCE_LAKE_ROOT"]
    snaps = read_partitions(lake, SNAPSHOTS).sort("day")
    assert snaps["day"].to_list() == [dt.date(2024, 3, i) for i in (1, 3)]
    assert snaps["file_count"].to_list() == [1, 3]
    files = read_partitions(lake, SNAPSHOT_FILES)
    assert sorted(files.filter(pl.col("day") == dt.date(2024, 3, 3))["path"].to_list()) == [
        "day1.md",
        "day2.md",
        "day3.md",
    ]


def test_evidence_lake_run_tables_and_sql(main_run):
    env, proc = main_run
    out = proc.stdout
    for table in ("raw/snapshot_files", "raw/snapshots", "evidence/records", "evidence/rejects", "index/terms"):
        assert table in out
    # docs, repo, kb today + 2 catch-up days of kb; every check of the graph on each
    assert out.count(f"{check_count()} passed") == 5, out
    assert "failed" not in out
    assert "kb: catching up 2 day(s)" in proc.stderr
    lake = env["EVIDENCE_LAKE_ROOT"]
    files = read_partitions(lake, SNAPSHOT_FILES)
    assert sorted(set(files["source"].to_list())) == ["docs", "kb", "repo"]
    kinds = read_partitions(lake, EVIDENCE_RECORDS).group_by("source").agg(pl.col("kind").unique().sort())
    assert dict(kinds.iter_rows())["kb"] == ["audit_score", "event", "replay_run", "review_finding", "session"]
    assert "section" in dict(kinds.iter_rows())["docs"]
    tables = run([str(BIN / "evidence-lake"), "tables"], env).stdout
    assert "raw_snapshot_files" in tables and "raw_snapshots" in tables
    rows = run(
        [
            str(BIN / "evidence-lake"),
            "sql",
            "--format",
            "json",
            "select source, count(*) as n from raw_snapshot_files group by source order by source",
        ],
        env,
    )
    got = [json.loads(line) for line in rows.stdout.splitlines()]
    assert got == [{"source": "docs", "n": 1}, {"source": "kb", "n": 5 * 2}, {"source": "repo", "n": 5}]
    csv = run([str(BIN / "evidence-lake"), "sql", "--format", "csv", "select 1 as one"], env).stdout
    assert csv.splitlines() == ["one", "1"]
    # the dagster instance saw the runs (they show in `dagster dev`)
    count = run(
        [sys.executable, "-c", "import dagster as dg; print(len(dg.DagsterInstance.get().get_runs()))"], env
    ).stdout
    assert int(count) == 5


@pytest.mark.parametrize(
    "query",
    [
        "create table x as select 1",
        "copy (select 1) to '/tmp/evidence-lake-should-not-exist.csv'",
        "attach '/tmp/evidence-lake-x.db' as x",
        "install delta",
        "load delta",
        "select * from read_csv('/etc/passwd')",
        "select 1; drop view raw_snapshots",
    ],
)
def test_sql_is_read_only(docs_lake, query):
    before = read_partitions(docs_lake["EVIDENCE_LAKE_ROOT"], SNAPSHOTS)
    proc = run([str(BIN / "evidence-lake"), "sql", query], docs_lake, check=False)
    assert proc.returncode == 2
    assert "refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not Path("/tmp/evidence-lake-should-not-exist.csv").exists()
    assert read_partitions(docs_lake["EVIDENCE_LAKE_ROOT"], SNAPSHOTS).equals(before)


def test_sql_error_is_a_message_not_a_traceback(env):
    proc = run([str(BIN / "evidence-lake"), "sql", "select * from no_such_table"], env, check=False)
    assert proc.returncode == 2 and "query failed" in proc.stderr and "Traceback" not in proc.stderr


def test_backfill_reports_refused_days_and_runs_the_rest(env):
    today = utc_today()
    proc = run(
        [
            str(BIN / "evidence-lake"),
            "backfill",
            "--source",
            "docs",
            "--from",
            (today - dt.timedelta(days=2)).isoformat(),
            "--to",
            today.isoformat(),
        ],
        env,
    )
    assert proc.stdout.count("skipped") == 2 and "only today" in proc.stdout
    assert read_partitions(env["EVIDENCE_LAKE_ROOT"], SNAPSHOTS)["day"].to_list() == [today]
    # (past git days backfill: tests/e2e/test_postgres_parallel.py, sequentially and in parallel)


def test_bad_sources_file_is_a_clear_cli_error(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.x]\nkind = "tree"\npath = "does/not/exist"\n')
    proc = run([str(BIN / "evidence-lake"), "run"], {**env, "EVIDENCE_LAKE_SOURCES": str(bad)}, check=False)
    assert proc.returncode == 2
    assert "source 'x': path does not exist" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("query", "code", "expect"), [
    ("guide part", 0, "results for"),
    ("", 2, "empty query"),
    ("the of and", 2, "no searchable words"),
    ("🎉", 2, "no searchable words"),
    ("'; drop table x; --", 0, "no matches"),
    ("日本語", 0, "no matches"),
    ("guide " * 2000, 0, "results for"),
])
def test_search_cli_answers_every_query_without_a_traceback(docs_lake, query, code, expect):
    proc = run([str(BIN / "evidence-lake"), "search", query], docs_lake, check=False)
    assert proc.returncode == code, proc.stderr
    assert expect in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_search_json_and_stats(docs_lake):
    hits = json.loads(run([str(BIN / "evidence-lake"), "search", "guide", "--json", "--k", "3"], docs_lake).stdout)
    assert hits and hits[0]["rank"] == 1 and hits[0]["path"] == "guide.md" and hits[0]["location"] == "guide.md:1"
    assert all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:], strict=False))
    stats = run([str(BIN / "evidence-lake"), "stats"], docs_lake).stdout
    assert "q_evidence_by_kind" in stats and "section" in stats and "q_files_by_language" in stats
    none = run([str(BIN / "evidence-lake"), "search", "guide", "--day", "2001-01-01"], docs_lake, check=False)
    assert none.returncode == 2 and "no index for" in none.stderr


def test_bundled_sources_give_all_three_datasets_and_export(tmp_path):
    """make run's promise, on the repository's own sources.toml: handbook today and the last two kb days.

    (`self` is this repository's history and the bundled kb has seven days; two of them are enough
    for every dataset, and each partition run costs seconds of Dagster bookkeeping.)
    """
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "EVIDENCE_LAKE_ROOT": str(tmp_path / "lake"),
           "PYTHONPATH": str(ROOT), "COLUMNS": "160"}
    env.pop("EVIDENCE_LAKE_SOURCES", None)
    (tmp_path / "home").mkdir()
    out = run([str(BIN / "evidence-lake"), "run", "--source", "handbook"], env).stdout
    assert "Replay (this run's batch)" in out and "hit@k" in out  # make run reports replay quality
    run([str(BIN / "evidence-lake"), "backfill", "--source", "kb", "--from", "2026-11-21", "--to", "2026-11-22"], env)
    from core.contracts import DISTILL_DATASETS

    datasets = read_partitions(str(tmp_path / "lake"), DISTILL_DATASETS)
    sizes = dict(datasets.group_by("dataset").len().iter_rows())
    assert sizes.get("sft", 0) > 0 and sizes.get("preference", 0) > 0 and sizes.get("rag", 0) > 0, sizes
    out = tmp_path / "rag.jsonl"
    run([str(BIN / "evidence-lake"), "export", "--dataset", "rag", "--out", str(out)], env)
    manifest = json.loads(out.with_name("rag.jsonl.manifest.json").read_text())
    assert manifest["examples"] == len(out.read_text().splitlines()) == sizes["rag"]


def test_replay_and_drift_commands(docs_lake, tmp_path):
    replay = run([str(BIN / "evidence-lake"), "replay", "--source", "docs"], docs_lake).stdout
    assert "hit_at_k" in replay and "reproducibility" in replay and "100.0%" in replay  # 2nd batch repeats 1st
    assert "derived_section: tasks / hit@1 / hit@k / MRR │ 2 / 1.0 / 1.0 / 1.0" in replay  # per origin
    plot = tmp_path / "d.png"
    drift = run([str(BIN / "evidence-lake"), "drift", "--source", "docs", "--plot", str(plot)], docs_lake).stdout
    assert "no drift evaluation" in drift and "nothing earlier" in drift and not plot.exists()
    refused = run([str(BIN / "evidence-lake"), "drift", "--source", "docs", "--baseline", "last week"], docs_lake,
                  check=False)
    assert refused.returncode == 2 and "reference:N" in refused.stderr and "YYYY-MM-DD..YYYY-MM-DD" in refused.stderr
    bad = run([str(BIN / "evidence-lake"), "replay", "--source", "nope"], docs_lake, check=False)
    assert bad.returncode == 2 and "unknown source 'nope'" in bad.stderr


def test_drift_over_a_range_flags_every_drifted_day_and_plots_it(tmp_path):
    """Issue 13: sustained drift is visible every day under the default baseline, in one table and one plot."""
    env = _make_env(tmp_path)
    kb = tmp_path / "drifting"
    run([str(BIN / "evidence-lake"), "gen-corpus", "--out", str(kb), "--days", "5", "--per-day", "60", "--seed", "7",
         "--drift-from", "3"], env)
    sources = write_sources(tmp_path / "drift.toml", {"kb": {"kind": "jsonl", "path": str(kb)}})
    env["EVIDENCE_LAKE_SOURCES"] = str(sources)
    run([str(BIN / "evidence-lake"), "backfill", "--source", "kb", "--from", "2026-11-16", "--to", "2026-11-20"], env)
    plot = tmp_path / "range.png"
    out = run([str(BIN / "evidence-lake"), "drift", "--source", "kb", "--from", "2026-11-16", "--to", "2026-11-20",
               "--plot", str(plot)], env).stdout
    rows = [line for line in out.splitlines() if line.count("│") > 3 and "2026-11-" in line]
    lines = {line.split("│")[1].strip(): line for line in rows}
    assert set(lines) == {"2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"}
    assert "nothing earlier" in lines["2026-11-16"] and "ok" not in lines["2026-11-16"]  # the first day: no baseline
    assert "drift since 11-19" in lines["2026-11-19"] and "drift since 11-19" in lines["2026-11-20"]
    assert "drift" not in lines["2026-11-17"] + lines["2026-11-18"] and "ok" in lines["2026-11-18"]
    assert "11-16, 11-17, 11-18" in lines["2026-11-20"]  # the reference window
    assert "2 of 5 days have a metric at drift" in out.replace("\n", " ")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    inside = run([str(BIN / "evidence-lake"), "drift", "--source", "kb", "--day", "2026-11-20", "--baseline",
                  "2026-11-19..2026-11-20"], env, check=False)
    said = " ".join(inside.stderr.split())
    assert inside.returncode == 1 and "contains the day under test (2026-11-20)" in said and "dagster." not in said
    pinned = run([str(BIN / "evidence-lake"), "drift", "--source", "kb", "--day", "2026-11-20", "--baseline", "change",
                  "--plot", str(tmp_path / "one.png")], env).stdout
    assert "vs change (2026-11-19)" in " ".join(pinned.split()) and (tmp_path / "one.png").exists()


def test_a_warn_check_is_a_warning_and_never_fails_the_run(env, tmp_path):
    """Issue 16 case 4: README.md beside readme.md (legal on Linux) trips a WARN check only."""
    docs = tmp_path / "docs"
    (docs / "README.md").write_text("# Upper\n")
    (docs / "readme.md").write_text("# Lower\n")
    proc = run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 warned" in proc.stdout and "warning: 1 path_key collisions" in proc.stdout.replace("\n", " ")
    assert " failed" not in proc.stdout


def test_any_table_exports_as_frec_frames_that_verify_frec_checks(docs_lake, tmp_path):
    """Issue 12 part 2: `export --table T --format frec`, then `verify-frec` finds a flipped byte and a torn tail."""
    from core.frec import HEADER_LEN, walk

    out = tmp_path / "records.frec"
    said = run([str(BIN / "evidence-lake"), "export", "--table", "evidence/records", "--format", "frec",
                "--out", str(out)], docs_lake).stdout
    rows = read_partitions(docs_lake["EVIDENCE_LAKE_ROOT"], EVIDENCE_RECORDS)
    assert f"wrote {rows.height} frames" in " ".join(said.split()) and rows.height >= 2
    ok = run([str(BIN / "evidence-lake"), "verify-frec", str(out)], docs_lake).stdout
    assert f"ok, {rows.height} frames verified" in " ".join(ok.split())
    _, frames = walk(out.read_bytes())
    data = bytearray(out.read_bytes())
    data[frames[1].offset + HEADER_LEN + 5] ^= 0x20
    flipped = tmp_path / "flipped.frec"
    flipped.write_bytes(bytes(data))
    bad = run([str(BIN / "evidence-lake"), "verify-frec", "--json", str(flipped)], docs_lake, check=False)
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and report["first_bad_offset"] == frames[1].offset
    assert report["frames"] == rows.height - 1 and report["torn_at"] is None
    torn = tmp_path / "torn.frec"
    torn.write_bytes(out.read_bytes()[:-7])
    cut = run([str(BIN / "evidence-lake"), "verify-frec", str(torn)], docs_lake, check=False)
    assert cut.returncode == 1 and f"torn final frame at offset {frames[-1].offset}" in " ".join(cut.stderr.split())
    unknown = run([str(BIN / "evidence-lake"), "export", "--table", "raw/nothing", "--format", "frec", "--out",
                   str(tmp_path / "x")], docs_lake, check=False)
    assert unknown.returncode == 2 and "unknown table 'raw/nothing'" in unknown.stderr


def test_sql_csv_writes_nested_cells_as_canonical_json(docs_lake):
    """Issue 16 case 5: `--format csv` of a table with list columns is text, not a polars traceback."""
    proc = run([str(BIN / "evidence-lake"), "sql", "--format", "csv",
                "select path, heading_path from index_sections order by line_start"], docs_lake)
    lines = proc.stdout.splitlines()
    assert lines[0] == "path,heading_path"
    assert lines[1] == 'guide.md,"[""Guide""]"' and lines[2] == 'guide.md,"[""Guide"",""Part""]"'


def test_a_killed_run_does_not_stay_started(env):
    """Issue 16 case 9: SIGKILL mid-run; the next `run` marks the orphaned run failed."""
    import signal
    import time

    import dagster as dg

    proc = subprocess.Popen([str(BIN / "evidence-lake"), "run", "--source", "docs"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    deadline = time.monotonic() + 120
    started = []
    while not started and time.monotonic() < deadline and proc.poll() is None:
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        time.sleep(0.05)
    assert started, "the run never reached STARTED"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert instance.get_run_by_id(started[0].run_id).status == dg.DagsterRunStatus.STARTED  # what the UI showed
    rerun = run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env)
    assert "marked 1 orphaned run(s) failed" in rerun.stderr
    assert instance.get_run_by_id(started[0].run_id).status == dg.DagsterRunStatus.FAILURE
    assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))


def test_a_killed_parallel_backfill_leaves_no_worker_running_and_the_next_backfill_cleans_up(env):
    """SIGKILL of `backfill --parallel 2` (OOM killer, kill -9): its workers exit, they do not run on alone.

    Both workers are frozen (SIGSTOP) inside their runs, the parent is killed, then they are let go:
    each must exit before its run can finish, and the next backfill marks both runs failed.
    """
    import signal
    import time

    import dagster as dg

    days = ["backfill", "--source", "repo", "--from", "2024-03-01", "--to", "2024-03-02"]
    proc = subprocess.Popen([str(BIN / "evidence-lake"), *days, "--parallel", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])

    def started() -> list[str]:
        return [r.run_id for r in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))]

    deadline = time.monotonic() + 120
    frozen: list[str] = []
    workers: list[int] = []
    while not frozen and time.monotonic() < deadline and proc.poll() is None:
        workers = spawned_children(proc.pid)
        if len(workers) == 2 and len(started()) == 2:
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            frozen = started()  # nothing moves now: these two runs are the workers' own
            if len(frozen) != 2:
                frozen = []
                for pid in workers:
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.05)
    assert len(frozen) == 2, "the two workers were never inside a run at the same time"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)  # longer than the workers' parent poll: they see the death as soon as they run again
    for pid in workers:
        os.kill(pid, signal.SIGCONT)
    proc.communicate(timeout=60)  # returns once nothing holds its output: no worker kept it
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), f"workers {workers} outlived their parent"
    assert sorted(started()) == sorted(frozen), "a worker went on with its run after its parent died"
    rerun = run([str(BIN / "evidence-lake"), *days], env)
    assert "marked 2 orphaned run(s) failed" in rerun.stderr and "Traceback" not in rerun.stdout + rerun.stderr
    assert {instance.get_run_by_id(r).status for r in frozen} == {dg.DagsterRunStatus.FAILURE}


def test_a_truncated_delta_log_names_the_table_and_file_and_the_rest_stays_readable(env):
    """Issue 16 case 11: one damaged commit file; no Rust backtrace, every other table still answers."""
    run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env)
    log = Path(env["EVIDENCE_LAKE_ROOT"]) / "evidence" / "records" / "_delta_log"
    newest = sorted(log.glob("*.json"))[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    ok = run([str(BIN / "evidence-lake"), "sql", "--format", "json", "select count(*) as n from raw_snapshots"], env)
    assert json.loads(ok.stdout) == {"n": 1}
    said = " ".join(ok.stderr.split())
    assert "left out: cannot read the Delta log of evidence/records" in said and newest.name in said
    bad = run([str(BIN / "evidence-lake"), "sql", "select * from evidence_records"], env, check=False)
    assert bad.returncode == 2 and "cannot read the Delta log of evidence/records" in " ".join(bad.stderr.split())
    tables = run([str(BIN / "evidence-lake"), "tables"], env, check=False)
    assert tables.returncode == 2 and "raw/snapshots" in tables.stdout and "evidence/records" in tables.stderr
    for proc in (ok, bad, tables):
        assert "Traceback" not in proc.stderr and "<unknown>" not in proc.stderr


def test_a_kill_during_a_catch_up_day_is_retried_by_the_next_plain_run(main_run, tmp_path):
    """Issue 16 case 8: killed after a day's snapshot committed and before its downstream commits."""
    import signal
    import time

    from core.contracts import SNAPSHOTS
    from core.lake import list_partitions
    from tests.helpers import partition_hashes

    env = _make_env(tmp_path)
    proc = subprocess.Popen([str(BIN / "evidence-lake"), "run", "--source", "kb"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lake = env["EVIDENCE_LAKE_ROOT"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list_partitions(lake, SNAPSHOTS):  # the first day's snapshot is in: the rest of that day is not
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill could land"
    rerun = run([str(BIN / "evidence-lake"), "run", "--source", "kb"], env)
    assert "kb: catching up 2 day(s)" in rerun.stderr and "failed" not in rerun.stdout
    expected = {k: v for k, v in partition_hashes(main_run[0]["EVIDENCE_LAKE_ROOT"], None).items() if k[1] == "kb"}
    assert partition_hashes(lake, None) == expected


def test_twenty_kills_at_seeded_moments_across_catch_ups_then_one_plain_run_equals_an_uninterrupted_lake(tmp_path):
    """Issue 16 acceptance: SIGKILL `run` at seeded moments (startup, snapshot, any asset, any check, a commit),
    over and over across stream catch-ups; one plain `run` afterwards must give the lake an uninterrupted run
    gives. When a run finishes before its kill, a late line for an earlier day makes new catch-up work."""
    import random
    import signal

    import dagster as dg

    from tests.helpers import partition_hashes

    rng = random.Random(20261130)
    for name in ("killed", "clean"):
        (tmp_path / name).mkdir()
    env = _make_env(tmp_path / "killed")
    kb = Path(env["EVIDENCE_LAKE_SOURCES"]).parent / "kb"
    write_corpus(generate(5, 12, seed=5), kb)  # five stream days to catch up, then today
    kills, finished, moments = 0, 0, []
    for _ in range(60):
        if kills == 20:
            break
        log = tmp_path / "run.log"
        with open(log, "wb") as out:  # the file, not a pipe: a SIGKILL can leave nothing blocked on it
            proc = subprocess.Popen([str(BIN / "evidence-lake"), "run", "--source", "kb"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        moment = rng.uniform(1.0, 7.0)
        try:
            proc.wait(timeout=moment)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            kills += 1
            moments.append(round(moment, 1))
            continue
        assert proc.returncode == 0, (f"an unkilled run failed (exit {proc.returncode}) after kills at {moments}:\n"
                                      + log.read_text(errors="replace")[-3000:])
        finished += 1
        day = dt.date(2026, 11, 16) + dt.timedelta(days=rng.randrange(5))
        with open(kb / "events.jsonl", "a", encoding="utf-8") as handle:  # new work: a late line for a past day
            handle.write(json.dumps({"schema": "pathway.op.v1", "op": "add", "uid": f"late-{finished}",
                                     "ts": f"{day.isoformat()}T12:00:00Z"}) + "\n")
    assert kills == 20, f"only {kills} kills landed ({finished} runs finished first)"
    print(f"20 kills at {moments} s; {finished} runs finished before their kill and got a late line")
    final = run([str(BIN / "evidence-lake"), "run", "--source", "kb"], env)
    assert "failed" not in final.stdout, final.stdout

    clean = _make_env(tmp_path / "clean")  # an uninterrupted run over the same stream files
    shutil.rmtree(Path(clean["EVIDENCE_LAKE_SOURCES"]).parent / "kb")
    shutil.copytree(kb, Path(clean["EVIDENCE_LAKE_SOURCES"]).parent / "kb")
    run([str(BIN / "evidence-lake"), "run", "--source", "kb"], clean)
    expected = {k: v for k, v in partition_hashes(clean["EVIDENCE_LAKE_ROOT"], None).items() if k[1] == "kb"}
    got = {k: v for k, v in partition_hashes(env["EVIDENCE_LAKE_ROOT"], None).items() if k[1] == "kb"}
    differing = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
    assert not differing, (differing, moments)
    assert len({k[2] for k in got}) == 6  # five stream days and today
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:  # no killed run left STARTED
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))


def test_a_late_line_for_a_finished_day_is_caught_up_by_a_plain_run(env, monkeypatch):
    """Issue 16 case 3: a line appended later with an earlier day's event time is not missed."""
    run([str(BIN / "evidence-lake"), "backfill", "--source", "kb", "--from", "2026-11-16", "--to", "2026-11-17"], env)
    lake = env["EVIDENCE_LAKE_ROOT"]
    day = dt.date(2026, 11, 16)
    before = read_partitions(lake, EVIDENCE_RECORDS, [("kb", day)])
    late = {"op": "add", "schema": "pathway.op.v1", "ts": "2026-11-16T12:00:00Z", "uid": "a late line"}
    events = Path(env["EVIDENCE_LAKE_SOURCES"]).parent / "kb" / "events.jsonl"
    with open(events, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(late) + "\n")
    rerun = run([str(BIN / "evidence-lake"), "run", "--source", "kb"], env)
    said = " ".join(rerun.stderr.split())
    assert "kb: catching up 1 day(s): 2026-11-16 (lines changed since it was built (1 file(s), e.g. events.jsonl))" \
        in said, said
    after = read_partitions(lake, EVIDENCE_RECORDS, [("kb", day)])
    assert after.height == before.height + 1
    assert after.filter(pl.col("payload").str.contains("a late line")).height == 1
    import dagster as dg

    import cli
    from core.sources import load_sources

    instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
    source = load_sources(Path(env["EVIDENCE_LAKE_SOURCES"]))["kb"]
    monkeypatch.setenv("EVIDENCE_LAKE_ROOT", lake)
    assert cli._stream_catch_up(instance, source, utc_today()) == {}  # nothing changed: nothing would be redone


def _verify(env: dict, *args: str) -> tuple[int, dict | None, str]:
    proc = run([str(BIN / "evidence-lake"), "verify", *args], env, check=False)
    report = json.loads(proc.stdout) if "--json" in args and proc.stdout.strip().startswith("{") else None
    return proc.returncode, report, proc.stdout + proc.stderr


def test_verify_a_check_subset_and_days_never_materialised(docs_lake):
    today = utc_today()
    yesterday = today - dt.timedelta(days=1)
    code, report, said = _verify(docs_lake, "--source", "docs", "--from", str(yesterday), "--to", str(today),
                                 "--check", "snapshot_files_crc", "--check", "evidence_records_schema", "--json")
    assert code == 1, said  # a day never materialised is not a pass
    by_day = {p["day"]: p for p in report["partitions"]}
    missing = by_day[str(yesterday)]
    assert missing["status"] == "missing" and "backfill --source docs" in missing["message"]
    assert by_day[str(yesterday)]["checks"] == {}
    assert by_day[str(today)]["status"] == "ok"
    # the two checks asked for, and the lake's history against this instance's records
    assert by_day[str(today)]["checks"] == {"evidence_records_schema": {"status": "passed", "message": None},
                                            "snapshot_files_crc": {"status": "passed", "message": None},
                                            "lake_history": {"status": "passed", "message": None}}
    code, _, said = _verify(docs_lake, "--check", "snapshot_file_crc")
    assert code == 2 and "unknown check 'snapshot_file_crc'" in said and "snapshot_files_crc" in said
    code, _, said = _verify(docs_lake, "--source", "docs", "--day", str(today), "--from", str(today))
    assert code == 2 and "not both" in said


def test_verify_runs_every_check_in_parallel_and_names_a_corrupt_object(main_run, tmp_path):
    """A copy of the main run's lake with one stored object damaged: only its partitions fail, by name."""
    from core.objects import ObjectStore

    env = dict(main_run[0])
    lake = tmp_path / "lake"
    shutil.copytree(env["EVIDENCE_LAKE_ROOT"], lake)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    env.update(EVIDENCE_LAKE_ROOT=str(lake), DAGSTER_HOME=str(home))
    files = read_partitions(str(lake), SNAPSHOT_FILES).filter(pl.col("source") == "docs")
    victim = files["object"][0]
    with open(ObjectStore(str(lake)).path_for(victim), "r+b") as handle:
        handle.write(b"!")
    listed = run([str(BIN / "evidence-lake"), "verify", "--list-checks"], env).stdout.strip().splitlines()
    code, report, said = _verify(env, "--source", "docs", "--source", "repo", "--parallel", "2", "--json")
    assert code == 1, said
    assert sorted((p["source"], p["day"]) for p in report["partitions"]) == sorted(
        (s, str(d)) for s, d in {(s, d) for s, d in read_partitions(str(lake), SNAPSHOTS)[["source", "day"]]
                                 .iter_rows() if s in ("docs", "repo")})
    for partition in report["partitions"]:
        assert len(partition["checks"]) == len(listed) + 1, partition  # every check, drift's included
        # this instance never materialised the copied lake: no record to compare the lake's history with
        assert partition["checks"].pop("lake_history")["status"] == "not run"
        failed = {n: c["message"] for n, c in partition["checks"].items() if c["status"] != "passed"}
        if partition["source"] == "docs":
            # the CRC check and the checks that re-read the bytes (evidence rebuild, receipts) fail, naming it;
            # the checks downstream of a failed blocking check still ran and report
            assert partition["status"] == "failed" and "snapshot_files_crc" in failed, failed
            assert all(victim[:16] in message for message in failed.values()), failed
            assert set(failed) <= {"snapshot_files_crc", "evidence_records_deterministic",
                                   "replay_receipts_reproducible"}, failed
        else:
            assert partition["status"] == "ok" and not failed, (partition["source"], failed)
    assert not report["ok"]


def test_resolve_and_expand_commands_leave_receipts(docs_lake):
    import hashlib

    el = str(BIN / "evidence-lake")
    found = json.loads(run([el, "resolve", "docs:guide.md", "--json"], docs_lake).stdout)
    text = "# Guide\n\n## Part\n"
    assert (found["path"], found["lines"]) == ("guide.md", [0, 3])
    assert found["content_hash"] == hashlib.sha256(text.encode()).hexdigest()
    served = json.loads(run([el, "expand", "docs:guide.md", "--slice", "tail(1)", "--json"], docs_lake).stdout)
    assert served["ok"] and [e["text"] for e in served["expansions"]] == ["## Part\n"]
    refused = run([el, "expand", "docs:guide.md", "--slice", "lines[0:]"], docs_lake, check=False)
    assert refused.returncode == 1 and "has no end" in refused.stderr and "receipts: run cli-" in refused.stderr
    unknown = run([el, "resolve", "docs:guid.md"], docs_lake, check=False)
    assert unknown.returncode == 1 and "did you mean guide.md" in unknown.stderr
    receipts = run([el, "sql", "--format", "json", "select run_id, status, bytes from replay_receipts "
                    "where run_id like 'cli-%' order by status"], docs_lake).stdout
    rows = [json.loads(line) for line in receipts.splitlines() if line.strip()]  # JSON lines
    assert [(r["status"], r["bytes"]) for r in rows] == [("FAILURE", 0), ("SUCCESS", len("## Part\n"))]


def test_a_deleted_commit_is_named_by_verify_as_a_lost_commit(env):
    """Issue 16 case 10: the newest evidence/records commit file deleted; reads fall back to an older version."""
    run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env)
    log = Path(env["EVIDENCE_LAKE_ROOT"]) / "evidence" / "records" / "_delta_log"
    newest = max(log.glob("*.json"))
    newest.unlink()
    code, report, said = _verify(env, "--check", "snapshots_schema", "--json")  # clean: test_verify_a_check_subset…
    assert code == 1, said
    history = report["partitions"][0]["checks"]["lake_history"]
    version = int(newest.stem)
    assert history["status"] == "failed"
    assert f"table evidence/records partition docs/{utc_today()}: commit {version} missing" in history["message"]
    assert "evidence/records" in history["message"] and "raw/snapshots" not in history["message"]
