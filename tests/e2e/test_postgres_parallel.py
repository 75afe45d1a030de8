"""Dagster on a real PostgreSQL (deploy/dagster.yaml) with partitions run in parallel worker processes."""

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_cli import BIN, ROOT, _make_env, run
from tests.helpers import partition_hashes, pipe_holders, spawned_children
from tests.shared import once

pytestmark = pytest.mark.slow
BACKFILL = ["backfill", "--source", "repo", "--from", "2024-03-01", "--to", "2024-03-06"]


def _pg_env(tmp_path: Path, pg_url: str) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = _make_env(tmp_path)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    env["DAGSTER_PG_URL"] = pg_url
    return env


def _runs(postgres, url: str) -> list[tuple[str, float | None, float | None]]:
    """(status, start_time, end_time) of every run the instance recorded, read straight from Postgres."""
    conn = postgres.connect(url.rsplit("/", 1)[1])
    with conn.cursor() as cur:
        cur.execute("SELECT status, start_time, end_time FROM runs")
        rows = cur.fetchall()
    conn.close()
    return rows


@pytest.fixture(scope="session")
def sequential(tmp_path_factory):
    """The reference: the same backfill, one day after another, on the embedded sqlite instance (built once)."""
    def build(folder):
        env = _make_env(folder)
        started = time.perf_counter()
        run([str(BIN / "evidence-lake"), *BACKFILL], env)
        print(f"sequential backfill of 6 days: {time.perf_counter() - started:.1f} s")
        return {"hashes": [[*k, v] for k, v in partition_hashes(env["EVIDENCE_LAKE_ROOT"], None).items()]}

    return {(t, s, d): h for t, s, d, h in once(tmp_path_factory, "sequential", build)["hashes"]}


def test_parallel_backfill_on_postgres_equals_the_sequential_one(postgres, sequential, tmp_path):
    url = postgres.new_database()
    env = _pg_env(tmp_path, url)
    started = time.perf_counter()
    proc = run([str(BIN / "evidence-lake"), *BACKFILL, "--parallel", "2"], env)
    print(f"parallel backfill of 6 days (2 workers, Postgres): {time.perf_counter() - started:.1f} s")
    assert proc.stdout.count(" ok ") + proc.stdout.count("│ ok") >= 6, proc.stdout
    assert partition_hashes(env["EVIDENCE_LAKE_ROOT"], None) == sequential
    runs = _runs(postgres, url)
    assert [r[0] for r in runs] == ["SUCCESS"] * 6
    spans = sorted((start, end) for _, start, end in runs)
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1)), "no two runs overlapped"
    # each CLI process keeps a small connection pool: without it every query is a new session (~600 a run)
    sessions = _sessions(postgres, url)
    print(f"Postgres sessions for 6 partition runs: {sessions}")
    assert sessions < 60 * 6, sessions


def test_two_overlapping_backfills_at_once_converge(postgres, sequential, tmp_path):
    url = postgres.new_database()
    env = _pg_env(tmp_path, url)
    first = ["backfill", "--source", "repo", "--from", "2024-03-01", "--to", "2024-03-02"]
    second = ["backfill", "--source", "repo", "--from", "2024-03-02", "--to", "2024-03-02"]
    procs = [subprocess.Popen([str(BIN / "evidence-lake"), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in (first, second)]
    for proc in procs:
        out, errout = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + errout
    assert partition_hashes(env["EVIDENCE_LAKE_ROOT"], None) == _days(sequential, "2024-03-02")
    assert [r[0] for r in _runs(postgres, url)] == ["SUCCESS"] * 3  # 2024-03-02 twice, at the same time


def test_sigkill_of_one_parallel_run_fails_only_its_partition_and_a_rerun_converges(postgres, sequential, tmp_path):
    url = postgres.new_database()
    env = _pg_env(tmp_path, url)
    three_days = [*BACKFILL[:-1], "2024-03-03", "--parallel", "2"]
    proc = subprocess.Popen([str(BIN / "evidence-lake"), *three_days], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        started = [r for r in _runs(postgres, url) if r[0] == "STARTED"] if _has_runs_table(postgres, url) else []
        workers = spawned_children(proc.pid)
        if len(started) == 2 and workers:  # both workers are inside a run: the victim holds one
            victim = workers[0]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    assert victim is not None, "no run started within 120 s"
    try:
        out, errout = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired as exc:  # name what still holds the output open (process itself or a child)
        raise AssertionError(f"backfill did not end within 300 s (exit code {proc.poll()}); its stdout is held "
                             f"by {pipe_holders(proc.stdout)}; output so far: {exc.output!r:.2000}") from None
    assert proc.returncode == 1, out + errout
    assert "worker process died" in out and "Traceback" not in out + errout
    statuses = sorted(r[0] for r in _runs(postgres, url))
    assert "STARTED" not in statuses and "NOT_STARTED" not in statuses, statuses  # the dead run is marked failed
    assert statuses.count("SUCCESS") == 2, statuses  # the others went on, a new worker took the rest
    failed = [line.split()[1].rstrip(":") for line in out.splitlines()
              if line.startswith("repo ") and "worker process died" in line]
    assert len(failed) == 1, out
    run([str(BIN / "evidence-lake"), "backfill", "--source", "repo", "--from", failed[0], "--to", failed[0]], env)
    assert partition_hashes(env["EVIDENCE_LAKE_ROOT"], None) == _days(sequential, "2024-03-03")


def _sessions(postgres, url: str) -> int:
    """Sessions ever opened to the test's database (pg_stat_database, PostgreSQL 14+)."""
    conn = postgres.connect("postgres")
    with conn.cursor() as cur:
        cur.execute("SELECT to_regproc('pg_stat_force_next_flush') IS NOT NULL")
        if cur.fetchone()[0]:  # PostgreSQL 15+: publish this backend's pending counts first
            cur.execute("SELECT pg_stat_force_next_flush()")
        cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (url.rsplit("/", 1)[1],))
        count = cur.fetchone()[0]
    conn.close()
    return int(count)


def _has_runs_table(postgres, url: str) -> bool:
    conn = postgres.connect(url.rsplit("/", 1)[1])
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('public.runs') IS NOT NULL")
        present = cur.fetchone()[0]
    conn.close()
    return present


def test_an_unreachable_postgres_is_a_clear_error_naming_the_instance(tmp_path):
    from tests.servers import free_port

    port = free_port()  # nothing listens there
    env = _pg_env(tmp_path, f"postgresql+psycopg2://dagster:hunter2@127.0.0.1:{port}/dagster")
    started = time.perf_counter()
    proc = run([str(BIN / "evidence-lake"), *BACKFILL], env, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "cannot open the Dagster instance" in text and str(port) in text and "dagster.yaml" in text
    assert "hunter2" not in text and "Traceback" not in text
    assert time.perf_counter() - started < 120


def test_a_dagster_cli_backfill_runs_through_the_queue_and_the_daemon(postgres, sequential, tmp_path):
    """`dagster job backfill` enqueues runs (QueuedRunCoordinator); `dagster-daemon` launches each as a process."""
    url = postgres.new_database()
    env = _pg_env(tmp_path, url)
    keys = ["2024-03-02|repo"]  # one partition through queue, daemon and run process proves the path
    run([str(BIN / "python"), "-c",
         "import dagster as dg; dg.DagsterInstance.get().add_dynamic_partitions('sources', ['repo'])"], env)
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 (closed below)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", "definitions"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        run([str(BIN / "dagster"), "job", "backfill", "-m", "definitions", "-j", "main_job", "--partitions",
             ",".join(keys), "--noprompt"], env)
        queued = _job_runs(postgres, url)
        assert len(queued) == 1 and set(queued) <= {"QUEUED", "STARTING", "STARTED", "SUCCESS"}, queued
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            statuses = _job_runs(postgres, url)
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses):
                break
            time.sleep(1)
    finally:  # the daemon, its code server and every run process it started: one process group
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGKILL)  # stragglers (the code server) that outlived the daemon
        log.close()
    assert statuses == ["SUCCESS"], (statuses, (tmp_path / "daemon.log").read_text()[-3000:])
    assert partition_hashes(env["EVIDENCE_LAKE_ROOT"], None) == {k: v for k, v in sequential.items()
                                                                 if k[2] == "2024-03-02"}


def _days(hashes: dict, last: str) -> dict:
    """The reference hashes of the days up to ``last``."""
    return {k: v for k, v in hashes.items() if k[2] <= last}


def _job_runs(postgres, url: str) -> list[str]:
    """Statuses of main_job runs, sorted (the daemon's sensors may add runs of other jobs)."""
    conn = postgres.connect(url.rsplit("/", 1)[1])
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE pipeline_name = 'main_job'")
        rows = sorted(r[0] for r in cur.fetchall())
    conn.close()
    return rows


OPEN_AT_ONCE = """
import os, sys
sys.path.insert(0, os.environ["PYTHONPATH"])
import dagster  # noqa: F401  (imported before the barrier: the opens race, not the imports)
import cli
print("ready", flush=True)
for url in sys.stdin:  # one round per line: every process opens the same new database
    os.environ["DAGSTER_PG_URL"] = url.strip()
    try:
        cli._instance(["repo"])
        print("opened", flush=True)
    except SystemExit:
        print("failed", flush=True)
"""
ROUNDS, PROCESSES = 4, 8  # without resources.instance_open ~4 in 10 rounds lost a process here


def test_processes_opening_a_new_postgres_instance_at_once_all_open_it(postgres, tmp_path):
    """The first open of an empty database creates Dagster's tables and types; processes racing to do it
    (two `evidence-lake` commands started together, or one beside the daemon) must all get the instance."""
    env = _pg_env(tmp_path, "unset")
    procs = [subprocess.Popen([str(BIN / "python"), "-c", OPEN_AT_ONCE], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    try:
        for proc in procs:  # every process has imported Dagster before any round starts
            assert proc.stdout.readline().strip() == "ready", proc.communicate(timeout=60)
        for _ in range(ROUNDS):
            url = postgres.new_database()
            for proc in procs:
                proc.stdin.write(url + "\n")
                proc.stdin.flush()
            results = [proc.stdout.readline().strip() for proc in procs]
            assert results == ["opened"] * PROCESSES, results
            conn = postgres.connect(url.rsplit("/", 1)[1])
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM alembic_version")
                assert cur.fetchone()[0] == 1  # stamped once: no loser stamped a second revision
                cur.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'sources'")
                assert [r[0] for r in cur.fetchall()] == ["repo"]
            conn.close()
    finally:
        errors = []
        for proc in procs:  # end of input ends the loop
            errors.append(proc.communicate(timeout=60)[1])
    assert [p.returncode for p in procs] == [0] * PROCESSES, "\n".join(errors)[-3000:]
