"""The ``evidence-lake`` command: run, backfill, verify, sql, search, resolve, expand and the rest (see --help).

Runs execute in this process against the persistent Dagster instance
(``$DAGSTER_HOME``, default ``.dagster_home``), so they show up in ``dagster dev``
without a daemon and without paying a subprocess per step.
"""

from __future__ import annotations

import core.allocator  # noqa: F401  (first: polars reads its allocator options when it loads)

# isort: split
import argparse
import contextlib
import datetime as dt
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.project import PROJECT_ROOT, lake_root

console = Console(stderr=False)
err = Console(stderr=True)


@dataclass
class PartitionOutcome:
    source: str
    day: dt.date
    status: str  # ok, failed, skipped
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    checks_warned: list[str] = field(default_factory=list)  # WARN severity: shown, never the exit code
    check_messages: dict[str, str] = field(default_factory=dict)  # what a failed or warned check said
    message: str = ""
    replay: dict = field(default_factory=dict)  # the replay scorecard of this run's batch
    check_status: dict[str, str] = field(default_factory=dict)  # check name -> passed, failed or warned


PG_STATEMENT_TIMEOUT_MS = 300_000  # a bookkeeping query stuck behind a lock fails after 5 min instead of hanging
_orphans_reaped = False  # once per command: the orphan scan reads the instance's run table


def _instance(sources: list[str], reap_orphans: bool = True):
    """The persistent instance (DAGSTER_HOME, default .dagster_home) with partitions for ``sources``.

    Runs made here therefore show up in `dagster dev`. Dagster is imported lazily so that
    `--help` and the non-Dagster commands stay fast. Parallel workers pass ``reap_orphans=False``:
    their parent has already marked the runs of dead processes failed.
    """
    global _orphans_reaped
    home = os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):
        from resources.instance_storage import instance_yaml

        with open(config, "w", encoding="utf-8") as handle:
            handle.write(instance_yaml(home))
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from assets.partitions import SOURCES_PARTITIONS_NAME
    from resources.instance_open import open_racing

    def open_with_partitions():
        instance = dg.DagsterInstance.get()
        # Postgres storages open a new connection for every query (NullPool): hundreds per partition
        # run. Keep a small pool per process instead, as dagster-webserver does; a no-op on sqlite.
        try:
            instance.optimize_for_webserver(statement_timeout=PG_STATEMENT_TIMEOUT_MS, pool_recycle=3600,
                                            max_overflow=10)
            new = sorted(set(sources) - set(instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME)))
            if new:
                instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, new)
        except Exception:
            instance.dispose()  # its connection pools: the next attempt opens its own
            raise
        return instance

    try:
        instance = open_racing(open_with_partitions)  # a new shared database: other processes may create it too
        if reap_orphans and not _orphans_reaped:
            _fail_orphaned_runs(instance)
            _orphans_reaped = True
    except Exception as exc:  # unreachable Postgres, bad dagster.yaml: one clear line, no traceback
        detail = _without_secrets(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        hint = ("Write the URL as postgresql+psycopg2://… (SQLAlchemy's default driver is not installed)."
                if "psycopg" in detail and isinstance(exc, ImportError)
                else "Start its database or fix the storage settings there.")
        err.print(f"[red]error:[/] cannot open the Dagster instance configured in {config}: "
                  f"{type(exc).__name__}: {detail}. {hint}")
        raise SystemExit(2) from exc
    return instance


def _host() -> str:
    import socket

    return socket.gethostname()


def _fail_orphaned_runs(instance) -> list[str]:
    """Mark failed the CLI runs of this host left STARTED by a process that no longer exists.

    An in-process run killed with its process (SIGKILL, OOM, a closed laptop) never reports its
    end, and the UI would show it running forever. Runs of other hosts are left to their owner
    (or to run monitoring in deploy/dagster.yaml).
    """
    import dagster as dg

    records = instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
        tags={"evidence_lake/cli": "true", "evidence_lake/host": _host()}))
    failed = []
    for run in records:
        pid = int(run.tags.get("evidence_lake/pid", "0") or 0)
        if pid and not _alive(pid):
            instance.report_run_failed(run, f"the evidence-lake process (pid {pid}) that ran this is gone")
            failed.append(run.run_id)
    if failed:
        err.print(f"marked {len(failed)} orphaned run(s) failed (their process was killed): {', '.join(failed)}")
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _without_secrets(text: str) -> str:
    """Drop passwords from connection URLs (``scheme://user:secret@host``) and ``password=`` pairs."""
    import re

    text = re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)


def _baseline_spec(text: str) -> str:
    from core.drift_baseline import BaselineError, parse_baseline

    try:
        parse_baseline(text)
    except BaselineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from exc


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _refusal(kind: str, day: dt.date, today: dt.date) -> str | None:
    if kind == "tree" and day != today:
        return f"tree source: only today ({today}) can be snapshotted"
    return None


@dataclass(frozen=True)
class JobSpec:
    """What a partition run executes: main_job (materialise + checks) or checks_job (checks only, a subset)."""

    name: str = "main_job"
    checks: tuple[str, ...] = ()  # checks_job only: these check names (empty: every check)


def _execute(instance, source: str, day: dt.date, run_id: str | None = None,
             spec: JobSpec = JobSpec()) -> PartitionOutcome:
    """Run ``spec``'s job for one partition in process; collect row counts and check results.

    A checks-only run orders each check step after the checks of the assets it reads, and a
    failed blocking check skips those later steps. An audit wants every verdict, so the
    checks that did not report run again on their own (their upstream steps are then not in
    the run), until all reported or a pass adds nothing.
    """
    if spec.name != "checks_job":
        return _execute_once(instance, source, day, run_id, spec)
    wanted = set(spec.checks or _check_keys())
    out = _execute_once(instance, source, day, run_id, spec)
    while wanted - set(out.check_status) and not out.message:
        rest = JobSpec(spec.name, tuple(sorted(wanted - set(out.check_status))))
        again = _execute_once(instance, source, day, None, rest)
        if not again.check_status:
            out.message = again.message
            break
        out.seconds += again.seconds
        out.checks_passed += again.checks_passed
        out.checks_failed += again.checks_failed
        out.checks_warned += again.checks_warned
        out.check_messages.update(again.check_messages)
        out.check_status.update(again.check_status)
        out.message = again.message
    for name in sorted(wanted - set(out.check_status)):
        out.check_status[name] = "not run"
    if out.message:
        out.status = "failed"
    return out


def _execute_once(instance, source: str, day: dt.date, run_id: str | None, spec: JobSpec) -> PartitionOutcome:
    """One Dagster run of ``spec`` for one partition."""
    import dagster as dg

    from assets.partitions import partition_key
    from definitions import defs
    from resources.run_in_process import run_in_process

    job = defs.resolve_job_def(spec.name)
    if spec.checks:
        job = job.get_subset(asset_check_selection=set(_check_keys(spec.checks).values()))
    tags = {"evidence_lake/cli": "true", "evidence_lake/host": _host(), "evidence_lake/pid": str(os.getpid())}
    key = partition_key(source, day)
    where = {"partition_key": key} if job.partitions_def is not None else {}
    if not where:  # a checks-only job has no partitions_def: the partition travels as a run tag
        tags["dagster/partition"] = str(key)
    started = time.perf_counter()
    result = run_in_process(  # execute_in_process without holding every output frame until the run ends
        job,
        instance=instance,
        raise_on_error=False,
        run_id=run_id,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        tags=tags,
        **where,
    )
    out = PartitionOutcome(source, day, "ok" if result.success else "failed", seconds=time.perf_counter() - started)
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        count = mat.metadata.get("dagster/row_count")
        if count is not None:
            out.rows["/".join(mat.asset_key.path)] = int(count.value)
        card = mat.metadata.get("scorecard")
        if mat.asset_key.path == ["replay", "runs"] and card is not None:
            out.replay = dict(card.value)
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            out.checks_passed += 1
            out.check_status[evaluation.check_name] = "passed"
            continue
        if evaluation.severity == dg.AssetCheckSeverity.WARN:
            out.checks_warned.append(evaluation.check_name)
            out.check_status[evaluation.check_name] = "warned"
        else:
            out.checks_failed.append(evaluation.check_name)
            out.check_status[evaluation.check_name] = "failed"
        if evaluation.description:
            out.check_messages[evaluation.check_name] = evaluation.description
    if not result.success:
        failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
        if spec.name == "checks_job":  # a failed blocking check is reported by its verdict, not as a crash
            failures = [e for e in failures if not _is_check_failure(e.step_failure_data.error)]
            if not failures:
                return out
        if failures:
            user = failures[0].step_failure_data.user_failure_data
            out.message = (
                user.description if user and user.description else _root_cause(failures[0].step_failure_data.error)
            )
        else:
            out.message = "run failed; open it in `dagster dev` for the full log"
    return out


def _is_check_failure(error) -> bool:
    """True when a step failed only because a blocking check it evaluated failed."""
    while error is not None:
        if error.cls_name == "DagsterAssetCheckFailedError":
            return True
        error = error.cause
    return False


def _root_cause(error) -> str:
    """The innermost error message: the wrapper Dagster adds says where, the cause says why."""
    while error is not None and error.cause is not None:
        error = error.cause
    text = (error.message if error else "").strip()
    return text.splitlines()[0][:800] if text else "run failed; open it in `dagster dev` for the full log"


def _run_partitions(plan: list[tuple[str, dt.date]], kinds: dict[str, str], label: str,
                    parallel: int = 1, spec: JobSpec = JobSpec()) -> list[PartitionOutcome]:
    """Execute each partition (one Dagster run each) with a progress display; refused ones are skipped.

    ``parallel`` > 1 runs partitions in that many worker processes at once (see ``_run_in_workers``).
    Only materialising runs are refused (a tree is snapshotted today only); checks read what is stored.
    """
    instance = _instance(sorted({s for s, _ in plan}))
    from core.snapshot import utc_today

    today = utc_today()
    outcomes: list[PartitionOutcome] = []
    todo: list[tuple[str, dt.date]] = []
    for source, day in plan:
        reason = _refusal(kinds[source], day, today) if spec.name == "main_job" else None
        if reason:
            outcomes.append(PartitionOutcome(source, day, "skipped", message=reason))
        else:
            todo.append((source, day))
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(label, total=len(plan))
        progress.advance(task, len(plan) - len(todo))
        from resources.run_watch import RunWatch

        if parallel > 1 and len(todo) > 1:
            watches: dict[str, RunWatch] = {}  # "source day" of each running partition -> the watch of its run
            lock = threading.Lock()  # watches change here while their threads render

            def render() -> None:
                with lock:
                    line = running_line(label, {key: watch.shown for key, watch in watches.items()})
                progress.update(task, description=line)

            def started(source: str, day: dt.date, run_id: str) -> None:
                watch = RunWatch(instance, run_id, lambda _status: render())
                with lock:
                    watches[f"{source} {day}"] = watch
                watch.start()
                render()

            def done(outcome: PartitionOutcome) -> None:
                with lock:
                    watch = watches.pop(f"{outcome.source} {outcome.day}", None)
                if watch is not None:  # joined outside the lock: its thread may be waiting on it to render
                    watch.stopped.set()
                    watch.join()
                outcomes.append(outcome)
                render()
                progress.advance(task)

            try:
                _run_in_workers(instance, todo, min(parallel, len(todo)), done, spec, started=started)
            finally:
                for watch in watches.values():
                    watch.stopped.set()
        else:
            for source, day in todo:
                progress.update(task, description=f"{label}: {source} {day}")
                run_id = str(uuid.uuid4())

                def show(status: str, where: str = f"{label}: {source} {day}") -> None:
                    progress.update(task, description=f"{where} · {escape(status)}")  # a log line is not markup

                with RunWatch(instance, run_id, show):  # the step under way and its last progress line
                    outcomes.append(_execute(instance, source, day, run_id=run_id, spec=spec))
                progress.advance(task)
        progress.update(task, description=f"{label}: done")
    return sorted(outcomes, key=lambda o: (o.source, o.day))


def _worker_loop(conn, parent: int) -> None:
    """A worker process: run each (source, day, run_id) it is sent, answer with the outcome.

    It exits as soon as its parent dies (SIGKILL, OOM): nobody would read its outcome, and
    its run, left STARTED, is marked failed by the next `evidence-lake` command of this host.
    """
    import signal

    from core.pool import exit_with_parent

    exit_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C there stops the pool
    instance = None
    while True:
        job = conn.recv()
        if job is None:
            return
        source, day, run_id, spec = job
        if instance is None:
            instance = _instance([source], reap_orphans=False)
        try:
            conn.send(_execute(instance, source, day, run_id, spec))
        except Exception as exc:  # an outcome, never a dead worker
            conn.send(PartitionOutcome(source, day, "failed", message=f"{type(exc).__name__}: {exc}"))


def running_line(label: str, statuses: dict[str, str]) -> str:
    """The bar's description while partitions run in parallel: each one and its step, markup escaped.

    ``run: 2 running · kb 2026-11-16: indexes: indexed 240,000 of 1,… · self 2026-11-30: evidence``
    """
    if not statuses:
        return f"{label}: between partitions"
    parts = []
    for key, status in statuses.items():
        short = status if len(status) <= PARALLEL_STATUS_CHARS else status[:PARALLEL_STATUS_CHARS - 1] + "…"
        parts.append(f"{key}: {short}" if short else key)
    return escape(f"{label}: {len(statuses)} running · " + " · ".join(parts))


PARALLEL_STATUS_CHARS = 40  # each running partition's status is cut to this many characters


def _run_in_workers(instance, todo: list[tuple[str, dt.date]], workers: int, done,
                    spec: JobSpec = JobSpec(), started=None) -> None:
    """Run partitions in ``workers`` spawned processes, one Dagster run per partition.

    ``started(source, day, run_id)`` is called as each partition is handed to a worker, ``done(outcome)``
    as each ends.

    Each worker imports Dagster once and runs partitions one after another. A worker that
    dies (SIGKILL, OOM) fails only the partition it held: its run is marked failed in the
    instance (never left STARTED), a new worker takes the rest, and the others go on.
    Partition writes are partition-exact and guarded, so concurrent runs never mix rows.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    queue = list(todo)
    busy: dict = {}  # worker conn -> (process, (source, day, run_id))
    idle: list = []

    def start() -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_loop, args=(child, os.getpid()), daemon=True)
        proc.start()
        child.close()
        idle.append((parent, proc))

    for _ in range(workers):
        start()
    try:
        while queue or busy:
            while queue and idle:
                conn, proc = idle.pop()
                source, day = queue.pop(0)
                job = (source, day, str(uuid.uuid4()))
                conn.send((*job, spec))
                busy[conn] = (proc, job)
                if started is not None:
                    started(*job)
            sentinels = {proc.sentinel: conn for conn, (proc, _) in busy.items()}
            for ready in wait([*busy, *sentinels]):
                conn = sentinels.get(ready, ready)
                if conn not in busy:
                    continue
                proc, (source, day, run_id) = busy.pop(conn)
                try:
                    outcome = conn.recv()
                    idle.append((conn, proc))
                except (EOFError, OSError):
                    proc.join(timeout=5)
                    outcome = PartitionOutcome(source, day, "failed", message=(
                        f"worker process died (exit code {proc.exitcode}) while running this partition; "
                        f"run {run_id} is marked failed; rerun the partition to converge"))
                    _mark_run_failed(instance, run_id, outcome.message)
                    if queue:
                        start()
                done(outcome)
    finally:
        for conn, _ in idle:
            with contextlib.suppress(OSError):
                conn.send(None)
        for proc, (source, day, run_id) in busy.values():  # interrupted: stop what still runs, say so
            proc.kill()
            _mark_run_failed(instance, run_id, f"evidence-lake stopped while {source} {day} was running")
        for proc in [p for _, p in idle] + [p for p, _ in busy.values()]:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


def _mark_run_failed(instance, run_id: str, message: str) -> None:
    """A run whose process died stays STARTED forever unless someone says otherwise: say it."""
    import dagster as dg

    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING,
                                          dg.DagsterRunStatus.NOT_STARTED):
        instance.report_run_failed(run, message)


def _print_summary(outcomes: list[PartitionOutcome]) -> None:
    parts = Table(title="Partitions")
    for col in ("source", "day", "status", "checks", "seconds"):
        parts.add_column(col, justify="right" if col == "seconds" else "left")
    for o in outcomes:
        checks = (f"{o.checks_passed} passed" + (f", {len(o.checks_failed)} failed" if o.checks_failed else "")
                  + (f", {len(o.checks_warned)} warned" if o.checks_warned else ""))
        style = {"ok": "green", "failed": "red", "skipped": "yellow", "missing": "red"}[o.status]
        parts.add_row(o.source, o.day.isoformat(), f"[{style}]{o.status}[/]", checks, f"{o.seconds:.1f}")
    console.print(parts)
    rows = Table(title="Rows written per table")
    for col in ("table", "source", "partitions", "rows"):
        rows.add_column(col, justify="right" if col in ("rows", "partitions") else "left")
    totals: dict[tuple[str, str], list[int]] = {}
    for o in outcomes:
        for table_name, n in o.rows.items():
            acc = totals.setdefault((table_name, o.source), [0, 0])
            acc[0] += 1
            acc[1] += n
    for (table_name, source), (parts_n, n) in sorted(totals.items()):
        rows.add_row(table_name, source, str(parts_n), str(n))
    if rows.row_count:
        console.print(rows)
    replays = [o for o in outcomes if o.replay.get("tasks")]
    if replays:
        card = Table(title="Replay (this run's batch)")
        for col in ("source", "day", "tasks", "hit@1", "hit@k", "MRR", "grounded"):
            card.add_column(col, justify="left" if col in ("source", "day") else "right")
        for o in replays:
            r = o.replay
            card.add_row(o.source, o.day.isoformat(), str(r["tasks"]), f"{r['hit_at_1']:.3f}", f"{r['hit_at_k']:.3f}",
                         f"{r['mrr']:.3f}", f"{r['grounded_rate']:.3f}")
        console.print(card)
    for o in outcomes:
        if o.message:
            console.print(f"[{'red' if o.status == 'failed' else 'yellow'}]{o.source} {o.day}: {o.message}[/]")
        for names, word, style in ((o.checks_failed, "failed", "red"), (o.checks_warned, "warning", "yellow")):
            for name in names:
                said = o.check_messages.get(name, "")
                console.print(f"[{style}]{o.source} {o.day}: check {name} {word}{': ' + said if said else ''}[/]")
    console.print(f"lake: {lake_root()}")
    console.print(f"runs: `make dev` or `dagster dev` with DAGSTER_HOME={os.environ.get('DAGSTER_HOME')}")


def _load_sources():
    from core.sources import SourceConfigError, load_sources

    try:
        return load_sources()
    except SourceConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from exc


def _stream_catch_up(instance, source, today: dt.date) -> dict[dt.date, str]:
    """Days of a jsonl source to (re)materialise, each with the reason.

    A day is done when the newest main_job run of its partition succeeded (every asset written,
    every blocking check passed) and its lines are still the ones it was built from: a run killed
    after its first commit, or a line appended later with that day's event time, makes it due.
    """
    from core.contracts import SNAPSHOT_FILES
    from core.lake import read_partitions, storage_options_from_env
    from core.readers.jsonl import day_fingerprints

    now, untimed = day_fingerprints(str(source.path), source.event_time_field, source.max_file_bytes)
    due = {d: "never completed" for d in sorted(now) if d != today and not _completed(instance, source.name, d)}
    done = [d for d in sorted(now) if d != today and d not in due]
    stored = read_partitions(lake_root(), SNAPSHOT_FILES, [(source.name, d) for d in done],
                             storage_options_from_env(), verify=False).filter(pl.col("status") == "stored")
    recorded: dict[dt.date, dict[str, str]] = {}
    for day, path, obj in stored.select("day", "path", "object").iter_rows():
        recorded.setdefault(day, {})[path] = obj
    for day in done:
        want, have = {**now[day], **untimed}, recorded.get(day, {})
        changed = sorted(p for p in set(want) | set(have) if want.get(p) != have.get(p))
        if changed:
            due[day] = f"lines changed since it was built ({len(changed)} file(s), e.g. {changed[0]})"
    return dict(sorted(due.items()))


def _completed(instance, source: str, day: dt.date) -> bool:
    import dagster as dg

    from assets.partitions import partition_key

    runs = instance.get_runs(filters=dg.RunsFilter(job_name="main_job",
                                                   tags={"dagster/partition": str(partition_key(source, day))}),
                             limit=1)
    return bool(runs) and runs[0].status == dg.DagsterRunStatus.SUCCESS


def cmd_run(args: argparse.Namespace) -> int:
    from core.snapshot import utc_today

    sources = _load_sources()
    today = utc_today()
    day = args.day or today
    names = args.source or sorted(sources)
    unknown = sorted(set(names) - set(sources))
    if unknown:
        err.print(f"[red]error:[/] unknown source(s) {unknown}; declared: {sorted(sources)}")
        return 2
    plan = [(s, day) for s in names]
    if args.day is None:  # a stream's past days are deterministic: catch up on the ones never completed
        instance = _instance(names)
        for name in names:
            if sources[name].kind == "jsonl":
                due = _stream_catch_up(instance, sources[name], today)
                if due:
                    err.print(f"{name}: catching up {len(due)} day(s): " +
                              "; ".join(f"{d} ({why})" for d, why in list(due.items())[:5]) +
                              (f"; and {len(due) - 5} more" if len(due) > 5 else ""))
                plan.extend((name, d) for d in due)
    outcomes = _run_partitions(sorted(plan, key=lambda p: (p[0], p[1])), {s: c.kind for s, c in sources.items()},
                               "run", args.parallel)
    _print_summary(outcomes)
    return 1 if any(o.status == "failed" or o.checks_failed for o in outcomes) else 0


def cmd_backfill(args: argparse.Namespace) -> int:
    sources = _load_sources()
    if args.source not in sources:
        err.print(f"[red]error:[/] unknown source {args.source!r}; declared: {sorted(sources)}")
        return 2
    if args.to_day < args.from_day:
        err.print(f"[red]error:[/] --to {args.to_day} is before --from {args.from_day}")
        return 2
    days = [args.from_day + dt.timedelta(days=i) for i in range((args.to_day - args.from_day).days + 1)]
    outcomes = _run_partitions(
        [(args.source, d) for d in days], {s: c.kind for s, c in sources.items()}, f"backfill {args.source}",
        args.parallel,
    )
    _print_summary(outcomes)
    return 1 if any(o.status == "failed" or o.checks_failed for o in outcomes) else 0


def _check_keys(names: tuple[str, ...] | None = None) -> dict:
    """Check name -> AssetCheckKey for every check of the code location (or only ``names``; unknown ones raise)."""
    from definitions import defs

    keys = {key.name: key for key in defs.resolve_asset_graph().asset_check_keys}
    if names is None:
        return keys
    unknown = [n for n in names if n not in keys]
    if unknown:
        import difflib

        hints = {n: difflib.get_close_matches(n, keys, n=3) for n in unknown}
        said = "; ".join(f"{n!r} (did you mean {', '.join(h)}?)" if h else repr(n) for n, h in hints.items())
        raise KeyError(f"unknown check {said}. `evidence-lake verify --list-checks` names them all")
    return {n: keys[n] for n in names}


def _verify_plan(args: argparse.Namespace, sources) -> list[tuple[str, dt.date]] | None:
    """The partitions ``verify`` looks at: the given days, or every materialised day of each source."""
    names = args.source or sorted(sources)
    if args.day and (args.from_day or args.to_day):
        err.print("[red]error:[/] give --day or --from/--to, not both")
        return None
    start, end = (args.day, args.day) if args.day else (args.from_day, args.to_day)
    if (start is None) != (end is None):
        err.print("[red]error:[/] a day range needs both --from and --to")
        return None
    if start is not None and end < start:
        err.print(f"[red]error:[/] --to {end} is before --from {start}")
        return None
    if start is None:
        return sorted((s, d) for s, d in _materialised(names) if s in names)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return [(s, d) for s in names for d in days]


def _materialised(names: list[str]) -> set[tuple[str, dt.date]]:
    """Partitions that hold a snapshot (read from the Delta log only; no data file is opened)."""
    from core.contracts import SNAPSHOTS
    from core.lake import list_partitions, storage_options_from_env

    return {p for p in list_partitions(lake_root(), SNAPSHOTS, storage_options_from_env()) if p[0] in names}


HISTORY_CHECK = "lake_history"


def _audit_history(outcomes: list[PartitionOutcome]) -> None:
    """Add ``lake_history`` to each verified partition: every table still holds the commit the instance recorded.

    A deleted commit file makes a table fall back to an older version without any error; only the
    orchestrator's record (version and content hash of each materialisation) can tell.
    """
    import dagster as dg

    from assets.partitions import partition_key
    from core.contracts import CONTRACTS
    from core.history import HistoryAudit, Recorded
    from core.lake import storage_options_from_env

    audit = HistoryAudit(lake_root(), storage_options_from_env())
    instance = _instance(sorted({o.source for o in outcomes}), reap_orphans=False)
    for outcome in (o for o in outcomes if o.status != "missing"):
        problems, compared = [], 0
        for contract in CONTRACTS.values():
            found = instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(contract.asset_key),
                asset_partitions=[str(partition_key(outcome.source, outcome.day))]), limit=1).records
            meta = found[0].asset_materialization.metadata if found and found[0].asset_materialization else {}
            if "delta_version" not in meta or "content_hash" not in meta:
                continue  # never materialised through the instance (e.g. drift without a baseline)
            rows = meta.get("dagster/row_count")
            recorded = Recorded(int(meta["delta_version"].value), str(meta["content_hash"].value),
                                int(rows.value) if rows is not None else None)
            compared += 1
            problem = audit.problem(contract, (outcome.source, outcome.day), recorded)
            if problem:
                problems.append(problem)
        if not compared:  # another instance built this lake: there is no record to compare with
            outcome.check_status[HISTORY_CHECK] = "not run"
            outcome.check_messages[HISTORY_CHECK] = "this instance recorded no materialisation of the partition"
            continue
        outcome.check_status[HISTORY_CHECK] = "failed" if problems else "passed"
        if problems:
            outcome.checks_failed.append(HISTORY_CHECK)
            outcome.check_messages[HISTORY_CHECK] = " | ".join(problems)
        else:
            outcome.checks_passed += 1


def cmd_verify(args: argparse.Namespace) -> int:
    """Run the checks (all, or --check ones) over stored partitions without re-materialising anything."""
    import json

    if args.list_checks:
        for name, key in sorted(_check_keys().items()):
            console.print(f"{name}  [dim]({'/'.join(key.asset_key.path)})[/]")
        return 0
    sources = _load_sources()
    unknown = sorted(set(args.source or []) - set(sources))
    if unknown:
        err.print(f"[red]error:[/] unknown source(s) {unknown}; declared: {sorted(sources)}")
        return 2
    try:
        chosen = tuple(_check_keys(tuple(args.check)) if args.check else ())
    except KeyError as exc:
        err.print(f"[red]error:[/] {exc.args[0]}")
        return 2
    plan = _verify_plan(args, sources)
    if plan is None:
        return 2
    if not plan:
        err.print("[red]error:[/] nothing to verify: no partition of "
                  f"{args.source or sorted(sources)} is materialised yet; run `evidence-lake run` first")
        return 1
    stored = _materialised(sorted({s for s, _ in plan}))
    missing = [PartitionOutcome(s, d, "missing", message="never materialised: `evidence-lake backfill --source "
                                f"{s} --from {d} --to {d}` builds it") for s, d in plan if (s, d) not in stored]
    todo = [p for p in plan if p in stored]
    outcomes = sorted(missing + (_run_partitions(todo, {s: c.kind for s, c in sources.items()}, "verify",
                                                 args.parallel, JobSpec("checks_job", chosen)) if todo else []),
                      key=lambda o: (o.source, o.day))
    _audit_history(outcomes)
    for outcome in outcomes:  # a checks-only run succeeds even when its checks fail: the checks decide
        if outcome.status == "ok" and outcome.checks_failed:
            outcome.status = "failed"
    failed = any(o.status in ("failed", "missing") for o in outcomes)
    if args.json:
        print(json.dumps({"ok": not failed, "lake": lake_root(), "partitions": [
            {"source": o.source, "day": o.day.isoformat(), "status": o.status, "message": o.message or None,
             "checks": {name: {"status": status, "message": o.check_messages.get(name)}
                        for name, status in sorted(o.check_status.items())}}
            for o in outcomes]}, indent=2))
    else:
        _print_summary(outcomes)
    return 1 if failed else 0


def cmd_sql(args: argparse.Namespace) -> int:
    from core.canonical import canonical_text
    from core.lake import storage_options_from_env
    from core.sql import QueryLimitExceeded, ReadOnlyViolation, run_capped
    from core.verified import TamperedDataError

    try:
        result = run_capped(lake_root(), args.query, storage_options_from_env(),
                            limit=None if args.no_limit else args.limit, timeout_s=args.timeout,
                            memory_limit=args.memory_limit)
    except ReadOnlyViolation as exc:
        err.print(f"[red]refused:[/] {exc}")
        return 2
    except QueryLimitExceeded as exc:
        err.print(f"[red]stopped:[/] {exc}")
        return 2
    except TamperedDataError as exc:
        err.print(f"[red]refused:[/] {exc}")
        return 1
    except Exception as exc:  # DuckDB parse/binder errors: show the message, not a traceback
        err.print(f"[red]query failed:[/] {exc}")
        err.print("views: run `evidence-lake tables` to list them (named <layer>_<name>)")
        return 2
    df = result.frame
    if args.format == "csv":  # CSV has no nested cells: lists and structs become canonical JSON text
        nested = [c for c, t in df.schema.items() if t.is_nested()]
        df = df.with_columns(
            pl.col(c).map_elements(lambda v: canonical_text(v.to_list() if isinstance(v, pl.Series) else v),
                                   return_dtype=pl.Utf8) for c in nested)
        sys.stdout.write(df.write_csv())
    elif args.format == "json":
        sys.stdout.write(df.write_ndjson())
    else:
        with pl.Config(tbl_rows=min(df.height, 200), tbl_cols=-1, fmt_str_lengths=80, tbl_width_chars=200):
            console.print(str(df))
    if result.truncated:
        err.print(f"[yellow]showing the first {df.height} rows; --limit N or --no-limit for more[/]")
    for problem in result.unreadable:
        err.print(f"[yellow]left out: {problem}[/]")
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    from core.catalog import describe_tables
    from core.lake import storage_options_from_env

    unreadable: list[str] = []
    infos = describe_tables(lake_root(), storage_options_from_env(), unreadable)
    for problem in unreadable:
        err.print(f"[red]unreadable:[/] {problem}")
    if not infos:
        if not unreadable:
            console.print(f"no tables under {lake_root()} yet: run `evidence-lake run` first")
        return 2 if unreadable else 0
    table = Table(title=f"Tables in {lake_root()}")
    for col in ("table", "sql view", "delta version", "rows", "files"):
        table.add_column(col, justify="right" if col in ("delta version", "rows", "files") else "left")
    for info in infos:
        table.add_row(f"{info.layer}/{info.name}", info.view_name, str(info.version), str(info.rows), str(info.files))
    console.print(table)
    return 2 if unreadable else 0


def cmd_gen_corpus(args: argparse.Namespace) -> int:
    from core.corpus import generate, write_corpus

    try:
        corpus = generate(args.days, args.per_day, args.seed, faults=args.faults, start=args.start,
                          drift_from=args.drift_from)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    sizes = write_corpus(corpus, args.out)
    table = Table(title=f"kb corpus in {args.out} (seed {args.seed})")
    for col in ("file", "lines", "bytes"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for name, size in sizes.items():
        table.add_row(name, str(len(corpus.files[name])), str(size))
    console.print(table)
    if corpus.faults:
        console.print(f"{len(corpus.faults)} injected faults listed in {args.out / 'faults.json'}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from core.lake import storage_options_from_env
    from core.search import SearchError, SearchIndex

    try:
        index = SearchIndex.load(lake_root(), args.source, args.day, storage_options=storage_options_from_env())
        hits = index.search(args.query, k=args.k, k1=args.k1, b=args.b)
    except SearchError as exc:
        err.print(f"[yellow]{exc}[/]")
        return 2
    if args.json:
        import json

        sys.stdout.write(json.dumps([h.as_json() for h in hits], ensure_ascii=False) + "\n")
        return 0
    scope = ", ".join(f"{s} {d}" for s, d in index.partitions)
    if not hits:
        console.print(f"no matches in {index.n_docs} documents ({scope})")
        return 0
    table = Table(title=f"{len(hits)} results for {args.query[:60]!r} ({scope})", show_lines=False)
    for col in ("#", "score", "kind", "where", "title / snippet"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left", overflow="fold")
    for h in hits:
        table.add_row(str(h.rank), f"{h.score:.3f}", h.kind, f"{h.source}:{h.location()}",
                      f"[bold]{h.title}[/]\n{h.snippet[:160]}")
    console.print(table)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from core.lake import storage_options_from_env
    from core.sql import QUERY_VIEWS, open_readonly, referenced_tables

    con = open_readonly(lake_root(), storage_options_from_env(), verify=referenced_tables(" ".join(QUERY_VIEWS)))
    existing = {row[0] for row in con.sql("select view_name from duckdb_views() where not internal").fetchall()}
    where = []
    if args.source:
        where.append(f"source = '{args.source.replace(chr(39), chr(39) * 2)}'")
    if args.day:
        where.append(f"day = date '{args.day.isoformat()}'")
    clause = f" where {' and '.join(where)}" if where else ""
    shown = 0
    for view in ("q_evidence_by_kind", "q_diagnostics_by_severity", "q_files_by_language", "q_rejects_by_reason",
                 "q_files_with_diagnostics", "q_most_imported"):
        if view not in existing or view not in QUERY_VIEWS:
            continue
        df = pl.from_arrow(con.sql(f"select * from {view}{clause} limit {args.limit}").to_arrow_table())
        table = Table(title=view)
        for col in df.columns:
            table.add_column(col)
        for row in df.iter_rows():
            table.add_row(*[str(v) for v in row])
        console.print(table)
        shown += 1
    if not shown:
        console.print(f"no tables under {lake_root()} yet: run `evidence-lake run` first")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.export import ExportError, export_dataset
    from core.lake import storage_options_from_env

    if (args.dataset is None) == (args.table is None):
        err.print("[red]error:[/] give --dataset (sft, preference, rag) or --table (any table, as FREC frames)")
        return 2
    if args.table is not None or args.format == "frec":
        return _export_frec(args)
    try:
        manifest = export_dataset(lake_root(), args.dataset, args.format, args.out, args.split, args.since,
                                  storage_options_from_env())
    except ExportError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    console.print(f"wrote {manifest['examples']} {args.dataset} examples {manifest['counts']} to {args.out}")
    console.print(f"manifest: {args.out}.manifest.json (distill/datasets version {manifest['read']['delta_version']}, "
                  f"{len(manifest['read']['partitions'])} partitions, scorer {manifest['scorer_versions']})")
    return 0


def _export_frec(args: argparse.Namespace) -> int:
    from core.contracts import CONTRACTS
    from core.frec import FrecError, export_table
    from core.lake import storage_options_from_env

    if args.table is None:
        err.print("[red]error:[/] FREC frames are written per table: `export --table distill/datasets --format "
                  "frec --out F`; datasets export as jsonl or parquet")
        return 2
    if args.format != "frec":
        err.print(f"[red]error:[/] a table exports as FREC frames: add --format frec (or export a --dataset "
                  f"as {args.format})")
        return 2
    if args.table not in CONTRACTS:
        err.print(f"[red]error:[/] unknown table {args.table!r}; tables: {', '.join(sorted(CONTRACTS))}")
        return 2
    try:
        done = export_table(lake_root(), CONTRACTS[args.table], args.out, args.source, args.day,
                            storage_options_from_env())
    except FrecError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    console.print(f"wrote {done['frames']} frames ({done['bytes']} bytes) of {done['table']} from "
                  f"{done['partitions']} partition(s) at Delta version {done['delta_version']} to {args.out}")
    return 0


def cmd_verify_frec(args: argparse.Namespace) -> int:
    """Walk a FREC file, verify every frame's CRC; exit 1 at the first bad or torn frame."""
    import json

    from core.frec import verify_file

    if not args.file.is_file():
        err.print(f"[red]error:[/] {args.file} is not a file")
        return 2
    report = verify_file(args.file)
    if args.json:
        print(json.dumps({"path": report.path, "size": report.size, "ok": report.ok, "frames": report.frames,
                          "first_bad_offset": report.first_bad_offset, "bad": report.bad[:100],
                          "torn_at": report.torn_at}))
    else:
        (console if report.ok else err).print(report.summary(), markup=False, highlight=False)
    return 0 if report.ok else 1


def cmd_resolve(args: argparse.Namespace) -> int:
    """Where a symbol, section or path is: partition, path, lines, object and the span's content hash."""
    import json

    from core.lake import storage_options_from_env
    from core.resolve import ResolveError, Resolver

    resolver = Resolver(lake_root(), storage_options_from_env())
    try:
        found = resolver.resolve(args.ref, args.source, args.day)
        digest = resolver.content_hash(found) if found.is_text else None
    except ResolveError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        return 1
    info = {"ref": found.ref, "kind": found.kind, "name": found.name, "source": found.source,
            "day": found.day.isoformat(), "path": found.path, "lines": [found.line_start, found.line_end],
            "object": found.object, "content_hash": digest}
    if args.json:
        print(json.dumps(info))
        return 0
    table = Table(title=f"{found.kind} {found.name}", show_header=False)
    for key, value in info.items():
        table.add_row(key, f"[{value[0]}:{value[1]}] (0-based, end exclusive)" if key == "lines" else str(value))
    console.print(table)
    return 0


def cmd_expand(args: argparse.Namespace) -> int:
    """Bounded slices of references in one budgeted step; every request leaves a receipt in replay/receipts."""
    import json

    from core.expand import ExpandBudgets, Expander, ExpandError
    from core.lake import storage_options_from_env
    from core.resolve import Resolver

    try:
        budgets = ExpandBudgets(max_bytes=args.budget_bytes, max_expansions=args.max_expansions)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    expander = Expander(Resolver(lake_root(), storage_options_from_env()), f"cli-{uuid.uuid4()}", budgets)
    try:
        served = expander.expand([(ref, args.slice) for ref in args.ref], "cli", args.source, args.day)
        failure = None
    except ExpandError as exc:
        served, failure = [], str(exc)
    written = expander.write_receipts()
    if args.json:
        print(json.dumps({"run_id": expander.run_id, "ok": failure is None, "error": failure, "receipts_in": [
            f"{s}/{d}" for s, d in written], "expansions": [
            {"ref": e.ref, "slice": e.slice, "source": e.resolved.source, "day": e.resolved.day.isoformat(),
             "path": e.resolved.path, "span": [e.resolved.line_start, e.resolved.line_end], "range": e.range,
             "clamped": e.clamped, "bytes": e.bytes, "content_hash": e.content_hash, "text": e.text}
            for e in served]}))
    else:
        for e in served:
            clamp = " [yellow](clamped to the end)[/]" if e.clamped else ""
            err.print(f"[bold]{e.ref}[/] {e.resolved.source}/{e.resolved.day} {e.resolved.path} "
                      f"span [{e.resolved.line_start}:{e.resolved.line_end}] {e.range}{clamp} · {e.bytes} bytes · "
                      f"sha256 {e.content_hash[:16]}…", highlight=False)
            sys.stdout.write(e.text if e.text.endswith("\n") or not e.text else e.text + "\n")
        if failure:
            err.print(f"[red]refused:[/] {failure}", highlight=False)
        err.print(f"receipts: run {expander.run_id} in replay/receipts "
                  f"({', '.join(f'{s}/{d}' for s, d in written) or 'no partition: nothing resolved'})")
    return 1 if failure else 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay one partition as a new ledger batch and print its scorecard."""
    sources = _load_sources()
    if args.source not in sources:
        err.print(f"[red]error:[/] unknown source {args.source!r}; declared: {sorted(sources)}")
        return 2
    instance = _instance([args.source])
    import dagster as dg

    from assets.partitions import partition_key
    from core.contracts import EXPAND_RECEIPTS, REPLAY_RUNS, REPLAY_TASKS
    from core.lake import read_partitions, storage_options_from_env
    from core.replay import latest_batch, reproducibility, scorecard
    from core.snapshot import utc_today
    from definitions import defs
    from resources.run_in_process import run_in_process

    day = args.day or utc_today()
    result = run_in_process(
        defs.resolve_job_def("main_job"), instance=instance, partition_key=partition_key(args.source, day),
        asset_selection=[dg.AssetKey(c.asset_key) for c in (REPLAY_TASKS, REPLAY_RUNS, EXPAND_RECEIPTS)],
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    if not result.success:
        err.print(f"[red]replay failed for {args.source} {day}:[/] materialise the partition first "
                  f"(`evidence-lake run --source {args.source} --day {day}`); details in `dagster dev`")
        return 1
    runs = read_partitions(lake_root(), REPLAY_RUNS, [(args.source, day)], storage_options_from_env())
    batch = runs.filter(pl.col("replay_batch_id") == result.run_id)
    previous = latest_batch(runs.filter(pl.col("replay_batch_id") != result.run_id))
    tasks = read_partitions(lake_root(), REPLAY_TASKS, [(args.source, day)], storage_options_from_env())
    card = scorecard(batch, tasks)
    repro = reproducibility(batch, previous)
    table = Table(title=f"Replay scorecard: {args.source} {day} (batch {result.run_id[:8]})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("tasks", "hit_at_1", "hit_at_k", "mrr", "grounded_rate"):
        table.add_row(name, str(card.get(name, 0)))
    table.add_row("reproducibility", "nothing comparable (first batch, new tasks or index)" if repro is None
                  else f"{repro:.1%}")
    for outcome, n in card.get("outcomes", {}).items():
        table.add_row(f"outcome: {outcome}", str(n))
    for origin, rates in card.get("by_origin", {}).items():
        table.add_row(f"{origin}: tasks / hit@1 / hit@k / MRR",
                      f"{rates['tasks']} / {rates['hit_at_1']} / {rates['hit_at_k']} / {rates['mrr']}")
    console.print(table)
    return 0


def _drift_days(args: argparse.Namespace) -> list[dt.date] | None:
    """The days to evaluate: --day, or the days with scores in --from..--to; None after printing why not."""
    from core.contracts import DISTILL_SCORES
    from core.lake import list_partitions, storage_options_from_env
    from core.snapshot import utc_today

    if args.from_day or args.to_day:
        if args.day or not (args.from_day and args.to_day):
            err.print("[red]error:[/] give --day, or both --from and --to")
            return None
        if args.to_day < args.from_day:
            err.print(f"[red]error:[/] --to {args.to_day} is before --from {args.from_day}")
            return None
        with_data = sorted(d for s, d in list_partitions(lake_root(), DISTILL_SCORES, storage_options_from_env())
                           if s == args.source and args.from_day <= d <= args.to_day)
        if not with_data:
            err.print(f"[red]error:[/] no day of {args.source} from {args.from_day} to {args.to_day} has scores; "
                      f"run `evidence-lake backfill --source {args.source} --from {args.from_day} --to {args.to_day}`")
            return None
        return with_data
    return [args.day or utc_today()]


def cmd_drift(args: argparse.Namespace) -> int:
    """Evaluate drift now (as drift_sensor would) for a day or a range; print the table(s), write the plot."""
    days = _drift_days(args)
    if days is None:
        return 2
    instance = _instance([args.source])
    from assets.partitions import partition_key
    from core.contracts import DRIFT_REPORTS
    from core.drift_report import over_time_png, plot_data, plot_png
    from core.lake import read_partitions, storage_options_from_env
    from definitions import defs
    from resources.run_in_process import run_in_process

    config = {"ops": {"drift__reports": {"config": {"baseline": args.baseline}}}}
    job = defs.resolve_job_def("drift_job")
    run_ids = {}
    for day in days:  # in order: drift_since of a day builds on the days before it
        result = run_in_process(
            job, instance=instance, partition_key=partition_key(args.source, day),
            run_config={**config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        if not result.success:
            failure = next((e.step_failure_data.error for e in result.all_events if e.is_step_failure), None)
            why = failure.message.strip().splitlines()[0] if failure else "see the run in `dagster dev`"
            why = why.split(": ", 1)[1] if why.startswith("dagster.") and ": " in why else why
            err.print(f"[red]drift evaluation failed for {args.source} {day}[/]: {why}")
            if "contains the day" not in why and "holds no day" not in why:
                err.print("materialise the partition and an earlier one first (`evidence-lake run` / `backfill`)")
            return 1
        run_ids[day] = result.run_id
    reports = read_partitions(lake_root(), DRIFT_REPORTS, [(args.source, d) for d in days],
                              storage_options_from_env()).filter(pl.col("evaluation_id").is_in(list(run_ids.values())))
    if reports.height == 0:
        console.print(f"no drift evaluation for {args.source} {', '.join(map(str, days))}: nothing earlier to compare "
                      "with (the first day of a source has no baseline; pin one with --baseline)")
        return 0
    if len(days) > 1:
        return _drift_range_summary(args, days, reports, over_time_png)
    day = days[0]
    first = reports.sort("baseline_mode").row(0, named=True)  # a baseline row before scorer rows
    against = ", ".join(str(d) for d in first["baseline_days"]) if first["baseline_mode"] != "scorer_version" else ""
    table = Table(title=f"Drift: {args.source} {day} vs {reports['baseline_mode'][0]} ({against})")
    for col in ("metric", "statistic", "value", "p-value", "adjusted", "status", "since", "n base → cur"):
        table.add_column(col, justify="right" if col in ("value", "p-value", "adjusted") else "left")
    for r in reports.sort("metric").iter_rows(named=True):
        style = {"ok": "green", "warn": "yellow", "drift": "red"}[r["status"]]
        table.add_row(r["metric"], r["statistic"], f"{r['value']:.4g}",
                      "" if r["p_value"] is None else f"{r['p_value']:.3g}",
                      "" if r["p_value_adjusted"] is None else f"{r['p_value_adjusted']:.3g}",
                      f"[{style}]{r['status']}[/]", str(r["drift_since"] or ""),
                      f"{r['n_baseline']} → {r['n_current']}")
    console.print(table)
    if first["baseline_mode"] != "scorer_version":
        data = plot_data(lake_root(), args.source, day, first["baseline_days"], storage_options_from_env())
        out = args.plot or Path(f"drift-{args.source}-{day}.png")
        out.write_bytes(plot_png(data, f"{args.source} {day} vs {first['baseline_mode']} ({against})"))
        console.print(f"plot: {out}")
    return 0


def _drift_range_summary(args: argparse.Namespace, days: list[dt.date], reports: pl.DataFrame, over_time_png) -> int:
    """One row per day, one column per metric (status, and the first day of the drift episode)."""
    metrics = sorted(set(reports["metric"].to_list()))
    table = Table(title=f"Drift: {args.source} {days[0]} … {days[-1]} (baseline "
                        f"{args.baseline or 'from sources.toml, else reference:3'})")
    table.add_column("day")
    table.add_column("baseline days")
    for metric in metrics:
        table.add_column(metric.replace("_", " "))
    by_day = {d: {r["metric"]: r for r in reports.filter(pl.col("day") == d).iter_rows(named=True)} for d in days}
    for day in days:
        cells = by_day[day]
        some = next((r for r in cells.values() if r["baseline_mode"] != "scorer_version"), None)
        base = ", ".join(d.strftime("%m-%d") for d in some["baseline_days"]) if some else "none (nothing earlier)"
        row = [str(day), base]
        for metric in metrics:
            r = cells.get(metric)
            if r is None:
                row.append("")
                continue
            style = {"ok": "green", "warn": "yellow", "drift": "red"}[r["status"]]
            since = f" since {r['drift_since'].strftime('%m-%d')}" if r["drift_since"] else ""
            row.append(f"[{style}]{r['status']}[/]{since}")
        table.add_row(*row)
    console.print(table)
    drifted = reports.filter(pl.col("status") == "drift")
    console.print(f"{drifted['day'].n_unique()} of {len(days)} days have a metric at drift")
    out = args.plot or Path(f"drift-{args.source}-{days[0]}-{days[-1]}.png")
    out.write_bytes(over_time_png(reports, f"{args.source} {days[0]} … {days[-1]}"))
    console.print(f"plot: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evidence-lake", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="materialise every asset for every source for today (or --day)")
    run.add_argument("--day", type=_parse_day, help="UTC day, YYYY-MM-DD (default: today)")
    run.add_argument("--source", action="append", help="only this source (repeatable)")
    run.add_argument("--parallel", type=_positive, default=1, metavar="N",
                     help="run up to N partitions at once, each its own Dagster run in a worker process")
    run.set_defaults(func=cmd_run, starts_runs=True)

    backfill = sub.add_parser("backfill", help="every asset for one source over a day range, one run per day")
    backfill.add_argument("--source", required=True)
    backfill.add_argument("--from", dest="from_day", type=_parse_day, required=True)
    backfill.add_argument("--to", dest="to_day", type=_parse_day, required=True)
    backfill.add_argument("--parallel", type=_positive, default=1, metavar="N",
                          help="run up to N days at once, each its own Dagster run in a worker process")
    backfill.set_defaults(func=cmd_backfill, starts_runs=True)

    sql = sub.add_parser("sql", help="read-only DuckDB over every Delta table (views <layer>_<name>)")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.add_argument("--limit", type=_positive, default=10_000, help="at most this many rows (default 10,000)")
    sql.add_argument("--no-limit", action="store_true", help="every row of the result")
    sql.add_argument("--timeout", type=float, default=60.0, help="stop the query after this many seconds")
    sql.add_argument("--memory-limit", default="2GB", help="DuckDB memory cap (default 2GB)")
    sql.set_defaults(func=cmd_sql)

    gen = sub.add_parser("gen-corpus", help="write a synthetic kb corpus (same seed, same bytes)")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--per-day", type=int, default=40)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--start", type=_parse_day, default=dt.date(2026, 11, 16), help="first day (UTC)")
    gen.add_argument("--faults", action="store_true", help="inject every kind of bad input (see faults.json)")
    gen.add_argument("--drift-from", type=int, default=None, help="shift outcomes from this day index on")
    gen.set_defaults(func=cmd_gen_corpus)

    search = sub.add_parser("search", help="BM25 search over the index (default: latest day of every source)")
    search.add_argument("query")
    search.add_argument("--source", action="append", help="only this source (repeatable)")
    search.add_argument("--day", type=_parse_day, help="search this UTC day instead of each source's latest")
    search.add_argument("--k", type=int, default=10, help="number of results")
    search.add_argument("--k1", type=float, default=1.2, help="BM25 term-frequency saturation")
    search.add_argument("--b", type=float, default=0.75, help="BM25 length normalisation")
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.set_defaults(func=cmd_search)

    stats = sub.add_parser("stats", help="the query model: evidence by kind, severity, language, rejects")
    stats.add_argument("--source")
    stats.add_argument("--day", type=_parse_day)
    stats.add_argument("--limit", type=int, default=30)
    stats.set_defaults(func=cmd_stats)

    export = sub.add_parser("export", help="write a dataset (sft, preference, rag) with a citable manifest")
    export.add_argument("--dataset", choices=("sft", "preference", "rag"))
    export.add_argument("--table", help="any table (e.g. evidence/records), written as FREC frames")
    export.add_argument("--format", choices=("jsonl", "parquet", "frec"), default="jsonl")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--split", choices=("train", "eval"))
    export.add_argument("--since", type=_parse_day, help="only partitions from this UTC day on")
    export.add_argument("--source", help="with --table: only this source's partitions")
    export.add_argument("--day", type=_parse_day, help="with --table: only this UTC day")
    export.set_defaults(func=cmd_export)
    verify_frec = sub.add_parser("verify-frec", help="verify every frame (CRC-32, canonical payload) of a FREC file")
    verify_frec.add_argument("file", type=Path)
    verify_frec.add_argument("--json", action="store_true")
    verify_frec.set_defaults(func=cmd_verify_frec)

    verify = sub.add_parser("verify", help="run the asset checks over stored partitions (no re-materialising)")
    verify.add_argument("--source", action="append", help="only this source (repeatable; default: every source)")
    verify.add_argument("--day", type=_parse_day, help="only this UTC day")
    verify.add_argument("--from", dest="from_day", type=_parse_day, help="first UTC day of a range")
    verify.add_argument("--to", dest="to_day", type=_parse_day, help="last UTC day of a range")
    verify.add_argument("--check", action="append", metavar="NAME", help="only this check (repeatable)")
    verify.add_argument("--parallel", type=_positive, default=1, metavar="N",
                        help="verify up to N partitions at once, each its own Dagster run in a worker process")
    verify.add_argument("--json", action="store_true", help="machine-readable: every partition x check")
    verify.add_argument("--list-checks", action="store_true", help="name every check and its asset, then exit")
    verify.set_defaults(func=cmd_verify, starts_runs=True)

    resolve = sub.add_parser("resolve", help="where a symbol (@SOURCE/qualified.name), section id or SOURCE:path is")
    resolve.add_argument("ref")
    resolve.add_argument("--source", help="the source of a bare path or section id")
    resolve.add_argument("--day", type=_parse_day, help="UTC day (default: the source's newest materialised day)")
    resolve.add_argument("--json", action="store_true")
    resolve.set_defaults(func=cmd_resolve)

    expand = sub.add_parser("expand", help="bounded slices of references, within budgets, with receipts")
    expand.add_argument("ref", nargs="+", help="@SOURCE/qualified.name, a section id or SOURCE:path")
    expand.add_argument("--slice", required=True, help="lines[a:b], chars[a:b], head(n) or tail(n)")
    expand.add_argument("--source", help="the source of a bare path or section id")
    expand.add_argument("--day", type=_parse_day, help="UTC day (default: the source's newest materialised day)")
    expand.add_argument("--budget-bytes", type=int, default=10_000, help="bytes the step may return (10,000)")
    expand.add_argument("--max-expansions", type=int, default=3, help="references in one step (3)")
    expand.add_argument("--json", action="store_true")
    expand.set_defaults(func=cmd_expand)

    replay = sub.add_parser("replay", help="replay a partition's tasks as a new ledger batch; print the scorecard")
    replay.add_argument("--source", required=True)
    replay.add_argument("--day", type=_parse_day, help="UTC day (default: today)")
    replay.set_defaults(func=cmd_replay, starts_runs=True)

    drift = sub.add_parser("drift", help="evaluate drift of a partition against its baseline; table + PNG plot")
    drift.add_argument("--source", required=True)
    drift.add_argument("--day", type=_parse_day, help="UTC day (default: today)")
    drift.add_argument("--from", dest="from_day", type=_parse_day, help="evaluate every day with scores from here …")
    drift.add_argument("--to", dest="to_day", type=_parse_day, help="… to here (inclusive), in order")
    drift.add_argument("--baseline", type=_baseline_spec, metavar="SPEC",
                       help="reference[:N] (default, N=3: the first N days with data), change (the previous day), "
                            "YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD (pinned); default: drift_baseline in sources.toml")
    drift.add_argument("--plot", type=Path, help="where to write the PNG (default: drift-<source>-<day>.png)")
    drift.set_defaults(func=cmd_drift, starts_runs=True)

    for reader in (sql, search, stats, export, resolve, expand):
        reader.add_argument("--no-verify", action="store_true",
                            help="return rows without checking them against the lake's commits (forensics)")

    tables = sub.add_parser("tables", help="tables, Delta versions and row counts")
    tables.set_defaults(func=cmd_tables)
    return parser


def _settings_valid() -> bool:
    """Every EVIDENCE_LAKE_* setting a run reads is valid; else each bad one is said, before any run starts
    (a bad one failed every partition's run with the same message, or a check after the writes)."""
    from core.settings import setting_errors

    errors = setting_errors()
    for message in errors:
        err.print(f"[red]error:[/] {escape(message)}")
    if errors:
        err.print("no run was started: fix the setting(s) above, or unset them for their defaults")
    return not errors


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_verify", False):
        os.environ["EVIDENCE_LAKE_NO_VERIFY"] = "1"  # core.verified reads it; child processes inherit it
        err.print("[yellow]--no-verify:[/] rows are returned without checking them against the lake's commits")
    if getattr(args, "starts_runs", False) and not getattr(args, "list_checks", False) and not _settings_valid():
        return 2
    try:
        return args.func(args)
    except Exception as exc:
        from core.verified import TamperedDataError

        if isinstance(exc, TamperedDataError):
            err.print(f"[red]refused:[/] {exc}")
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())
