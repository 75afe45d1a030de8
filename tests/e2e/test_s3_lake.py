"""The whole main job on a lake in S3 (a real moto server on 127.0.0.1), against the same run on local disk."""

import datetime as dt
import json
from pathlib import Path

import boto3
import polars as pl
import pytest

from core.contracts import CONTRACTS
from core.lake import list_partitions, read_partitions
from tests.e2e.test_cli import BIN, ROOT, _make_env, run
from tests.helpers import check_count, partition_hashes

pytestmark = pytest.mark.slow
KB_DAY = dt.date(2026, 11, 17)


def _s3_env(tmp_path: Path, root: str, options: dict[str, str]) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = _make_env(tmp_path)
    env["EVIDENCE_LAKE_ROOT"] = root
    env["EVIDENCE_LAKE_STORAGE_OPTIONS"] = json.dumps(options)
    return env


def _keys(s3, bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    keys, token = [], None
    while True:
        page = client.list_objects_v2(Bucket=bucket, **({"ContinuationToken": token} if token else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def test_main_job_on_s3_passes_every_check_and_equals_the_local_lake(s3, main_run, tmp_path):
    bucket = s3.new_bucket()
    root, options = f"s3://{bucket}/el", s3.options()
    s3_env = _s3_env(tmp_path / "on_s3", root, options)
    local_env, _ = main_run  # the same sources, run on a local lake

    # git and jsonl sources (the tree source adds no storage path of its own; it is left to the local run).
    # The test S3 server answers one request at a time, so each partition costs tens of seconds: the
    # git source for today, and the two stream days (the second is compared with the first for drift).
    out = run([str(BIN / "evidence-lake"), "run", "--source", "repo"], s3_env, timeout=900).stdout
    out += run([str(BIN / "evidence-lake"), "backfill", "--source", "kb", "--from", "2026-11-16", "--to",
                KB_DAY.isoformat()], s3_env, timeout=900).stdout
    assert out.count(f"{check_count()} passed") == 3, out
    assert "failed" not in out

    on_s3 = partition_hashes(root, options)
    local = {k: v for k, v in partition_hashes(local_env["EVIDENCE_LAKE_ROOT"], None).items()
             if k[1] == "repo" or (k[1] == "kb" and k[2] <= KB_DAY.isoformat())}
    assert on_s3 == local
    assert sum(1 for table, _, _ in on_s3 if table == "raw/snapshots") == 3 and len(on_s3) >= 30

    # The objects store lives in the bucket, beside the tables: no silent fallback to local disk.
    keys = _keys(s3, bucket)
    objects = [k for k in keys if k.startswith("el/objects/sha256/")]
    stored = read_partitions(root, CONTRACTS["raw/snapshot_files"], None, options).filter(pl.col("status") == "stored")
    assert set(stored["object"].to_list()) == {k.rsplit("/", 1)[1] for k in objects}
    assert not any(p.name.startswith("s3") for p in [*ROOT.iterdir(), *(tmp_path / "on_s3").iterdir()])

    # Every reader works against the bucket.
    count = run([str(BIN / "evidence-lake"), "sql", "--format", "json",
                 "select count(*) as n from evidence_records"], s3_env).stdout
    assert json.loads(count)["n"] == read_partitions(root, CONTRACTS["evidence/records"], None, options).height
    hits = json.loads(run([str(BIN / "evidence-lake"), "search", "Day", "--json"], s3_env).stdout)
    assert hits and any(h["path"].startswith("day") for h in (hits if isinstance(hits, list) else hits["results"]))
    assert "session" in run([str(BIN / "evidence-lake"), "stats", "--source", "kb"], s3_env).stdout
    assert "evidence/records" in run([str(BIN / "evidence-lake"), "tables"], s3_env).stdout
    export = tmp_path / "sft.jsonl"
    run([str(BIN / "evidence-lake"), "export", "--dataset", "sft", "--out", str(export)], s3_env)
    assert export.read_text().count("\n") == json.loads(Path(f"{export}.manifest.json").read_text())["examples"]
    replay = run([str(BIN / "evidence-lake"), "replay", "--source", "kb", "--day", KB_DAY.isoformat()], s3_env).stdout
    assert "hit_at_k" in replay
    plot = tmp_path / "drift.png"
    drift = run([str(BIN / "evidence-lake"), "drift", "--source", "kb", "--day", KB_DAY.isoformat(),
                 "--plot", str(plot)], s3_env).stdout
    assert "2026-11-16" in drift and plot.stat().st_size > 1000
    assert list_partitions(root, CONTRACTS["drift/reports"], options) == [("kb", KB_DAY)]
    keys = _keys(s3, bucket)
    for table_id in CONTRACTS:  # every table, drift's ledger included, is a Delta table in the bucket
        assert any(k.startswith(f"el/{table_id}/_delta_log/") for k in keys), table_id


def test_a_missing_bucket_is_a_clear_error_naming_the_root_and_no_secret(s3, tmp_path):
    secret = "s3cr3t-never-printed"
    env = _s3_env(tmp_path, "s3://no-such-bucket/el", s3.options(AWS_SECRET_ACCESS_KEY=secret))
    proc = run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1
    flat = " ".join(text.split())
    assert "objects store at s3://no-such-bucket/el/objects: cannot" in flat and "NO_SUCH_BUCKET" in flat
    assert secret not in text and "Traceback" not in text


def test_wrong_credentials_are_a_clear_error_naming_the_root_and_no_secret(tmp_path):
    """A server that checks signatures (moto with authentication on) refuses unknown keys."""
    from tests.servers import s3_server

    secret = "wr0ng-s3cr3t-never-printed"
    with s3_server(tmp_path, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as strict:
        root = "s3://locked/el"
        env = _s3_env(tmp_path / "env", root, strict.options(AWS_ACCESS_KEY_ID="AKIANOTAKEY",
                                                             AWS_SECRET_ACCESS_KEY=secret))
        proc = run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1, text
    flat = " ".join(text.split())
    assert f"objects store at {root}/objects: cannot" in flat and "ACCESS_DENIED" in flat
    assert secret not in text and "Traceback" not in text


def test_the_s3_server_stopping_mid_run_fails_loudly_and_the_rerun_converges(main_run, tmp_path):
    """Kill the server while a run writes; bring one back on the same port; one plain rerun completes."""
    import subprocess
    import time

    from tests.servers import free_port, s3_server

    port = free_port()
    expected = {k: v for k, v in partition_hashes(main_run[0]["EVIDENCE_LAKE_ROOT"], None).items() if k[1] == "docs"}
    with s3_server(tmp_path, port=port) as server:
        bucket = server.new_bucket()
        options = server.options(timeout="5s", connect_timeout="2s")
        env = _s3_env(tmp_path / "env", f"s3://{bucket}/el", options)
        proc = subprocess.Popen([str(BIN / "evidence-lake"), "run", "--source", "docs"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _keys(server, bucket):
            time.sleep(0.05)
        time.sleep(0.5)  # inside the run: the snapshot's objects are in, its tables are being written
    out, errout = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + errout
    assert "Traceback" not in out and "failed" in out
    with s3_server(tmp_path, port=port) as server:  # moto keeps no state: the bucket comes back empty
        server_bucket = bucket
        import boto3

        boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=server_bucket)
        rerun = run([str(BIN / "evidence-lake"), "run", "--source", "docs"], env)
        assert "failed" not in rerun.stdout
        assert partition_hashes(f"s3://{bucket}/el", options) == expected
