"""Test helpers: real git repositories, source registries and in-process materialisations."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from pathlib import Path

import dagster as dg
import polars as pl

from core.content_hash import content_hash
from core.contracts import CONTRACTS, EXPAND_RECEIPTS, REPLAY_RUNS
from core.lake import list_partitions, read_partitions
from core.replay import latest_batch

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, env=full_env
    ).stdout.decode()


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit_files(repo: Path, when: dt.datetime, files: dict[str, bytes | None], message: str = "change") -> str:
    """Write (or delete, for None) files and commit them with author/committer time ``when``."""
    for rel, data in files.items():
        target = repo / rel
        if data is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    git(repo, "add", "-A")
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    git(
        repo,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        message,
        env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
    )
    return git(repo, "rev-parse", "HEAD").strip()


def write_sources(path: Path, sources: dict[str, dict[str, str]]) -> Path:
    lines = []
    for name, spec in sources.items():
        lines.append(f"[sources.{name}]")
        lines.extend(f'{k} = "{v}"' for k, v in spec.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def resources_for(lake_root: Path, sources_file: Path) -> dict:
    from io_managers.delta import DeltaPartitionIOManager
    from resources.lake import LakeResource
    from resources.responder import ResponderResource
    from resources.sources import SourcesResource

    lake = LakeResource(root=str(lake_root))
    return {
        "lake": lake,
        "sources": SourcesResource(file=str(sources_file)),
        "io_manager": DeltaPartitionIOManager(lake=lake),
        "responder": ResponderResource(),
    }


def materialize_snapshot(
    instance: dg.DagsterInstance, lake_root: Path, sources_file: Path, source: str, day: dt.date, checks: bool = True
) -> dg.ExecuteInProcessResult:
    """Materialise raw/snapshots + raw/snapshot_files (and their checks) for one partition."""
    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from assets.snapshots import raw_snapshot
    from checks.snapshots import SNAPSHOT_CHECKS

    if source not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    return dg.materialize(
        [raw_snapshot, *(SNAPSHOT_CHECKS if checks else [])],
        partition_key=partition_key(source, day),
        instance=instance,
        resources=resources_for(lake_root, sources_file),
        raise_on_error=False,
    )


def utc_today() -> dt.date:
    """The pipeline's today (the test session pins it in conftest, so midnight cannot split a test)."""
    from core.snapshot import utc_today as pipeline_today

    return pipeline_today()


def materialize_all(
    instance: dg.DagsterInstance, lake_root: Path, sources_file: Path, source: str, day: dt.date,
    run_id: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Run main_job (every asset and check) for one partition, as `evidence-lake run` does."""
    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from definitions import build_definitions

    if source not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    job = build_definitions(resources_for(lake_root, sources_file)).resolve_job_def("main_job")
    return job.execute_in_process(partition_key=partition_key(source, day), instance=instance, raise_on_error=False,
                                  run_id=run_id)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def check_count() -> int:
    """How many asset checks a main_job run evaluates per partition (all but drift's, which run on their own)."""
    from definitions import defs

    return sum(1 for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key.path != ["drift", "reports"])


def rows_hash(rows: pl.DataFrame, key, volatile=()) -> str:
    """The content hash computed from the rows themselves, never a digest remembered for the frame: a
    partition read back carries its writer's digest (core.lake), which a test of what was stored must not use."""
    return content_hash(rows.clone(), key, volatile)


def partition_hashes(root: str, options: dict[str, str] | None) -> dict[tuple[str, str, str], str]:
    """{(table, source, day): content hash} over every table of the lake."""
    hashes = {}
    for table_id, contract in CONTRACTS.items():
        for source, day in list_partitions(root, contract, options):
            rows = read_partitions(root, contract, [(source, day)], options, verify=False)
            key, volatile = contract.key, contract.volatile
            if contract is REPLAY_RUNS:  # the newest batch; its id is a Dagster run id, the one honest difference
                rows = latest_batch(rows).drop("replay_batch_id")
                key = tuple(k for k in key if k != "replay_batch_id")
            if contract is EXPAND_RECEIPTS:  # likewise: the newest replay batch's receipts, without its run id
                newest = rows.sort("requested_at")["run_id"][-1] if rows.height else None
                rows = rows.filter(pl.col("run_id") == newest).drop("run_id")
                key = tuple(k for k in key if k != "run_id")
            hashes[(table_id, source, day.isoformat())] = rows_hash(rows, key, volatile)
    return hashes


def pipe_holders(stream) -> list[str]:
    """Every process that holds the other end of ``stream``'s pipe open (pid, state, command line).

    When ``communicate()`` times out after the process itself finished, something else keeps its
    output pipe open; this names it, so a rare hang says what hung.
    """
    link = f"pipe:[{os.fstat(stream.fileno()).st_ino}]"
    found = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit() or int(proc_dir.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == link for fd in (proc_dir / "fd").iterdir()):
                state = next((line.split()[1] for line in (proc_dir / "status").read_text().splitlines()
                              if line.startswith("State:")), "?")
                command = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{proc_dir.name} {state} {command[:200]}")
        except OSError:
            continue
    return found


def spawned_children(pid: int) -> list[int]:
    """Child processes of ``pid`` that are multiprocessing spawn workers (not the resource tracker)."""
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return found
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except FileNotFoundError:
            continue
    return found


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, exited but not yet reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_gone(pids, seconds: float) -> bool:
    """Whether every process of ``pids`` has exited within ``seconds`` (polled every 50 ms)."""
    deadline = time.monotonic() + seconds
    while any(map(process_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(map(process_alive, pids))


def pid_once_met(folder: str, count: int, deadline: float) -> int:
    """This process's pid, returned once ``count`` processes have called this with ``folder`` (or at the
    wall-clock ``deadline``): pool tasks that make the pool spread them over ``count`` workers whatever the
    host's load. A task that only sleeps makes that likely, not certain: a worker still starting on a busy
    host leaves every task to the other one."""
    Path(folder, str(os.getpid())).touch()
    while len(os.listdir(folder)) < count and time.time() < deadline:
        time.sleep(0.01)
    return os.getpid()


def pool_pids(workers: int, tasks: int, folder: Path, seconds: float = 60.0) -> set[int]:
    """The pids of the warm pool's ``workers`` (``core.pool.WARM``, started if there is none), each made to
    take at least one of ``tasks``; fewer only when the pool has fewer live workers (after ``seconds``)."""
    from core.pool import in_order

    folder.mkdir(parents=True)
    met = [(str(folder), workers, time.time() + seconds)] * tasks
    return set(in_order(pid_once_met, met, workers, keep_warm=True))
