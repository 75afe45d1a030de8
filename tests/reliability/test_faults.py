"""Reliability: secrets never written, accounting for arbitrary bytes, corruption is loud."""

import datetime as dt
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.accounting import account
from core.contracts import SNAPSHOT_FILES
from core.evidence import build_evidence
from core.lake import LakeReadError, read_partitions
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig
from core.verified import TamperedDataError
from tests.helpers import materialize_all, utc_today, write_sources

SECRET = "sk-live-7d3f0a9b-do-not-leak-0c1e"


class _Echo(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"choices": [{"message": {"content": "See the guide [E1]."}}]}'
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)


def test_the_api_key_is_never_written_anywhere(tmp_path, monkeypatch, instance, lake_root):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("EVIDENCE_LAKE_RESPONDER", "openai_compatible")
        monkeypatch.setenv("EVIDENCE_LAKE_RESPONDER_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
        monkeypatch.setenv("EVIDENCE_LAKE_RESPONDER_MODEL", "test")
        monkeypatch.setenv("EVIDENCE_LAKE_RESPONDER_API_KEY", SECRET)
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "guide.md").write_text(
            "# Guide\n\n## Install\n\nRun make to build the environment from the lock file, then run the job.\n"
        )
        (docs / "tool.py").write_text('def install():\n    """Install it."""\n')
        sources = write_sources(tmp_path / "sources.toml", {"docs": {"kind": "tree", "path": "docs"}})
        result = materialize_all(instance, lake_root, sources, "docs", utc_today())
        assert result.success
        from core.contracts import REPLAY_RUNS

        runs = read_partitions(str(lake_root), REPLAY_RUNS)
        assert runs.height > 0 and set(runs["responder"].to_list()) == {"openai_compatible"}
        from core.export import export_dataset

        export_dataset(str(lake_root), "rag", "jsonl", tmp_path / "export" / "rag.jsonl")
    finally:
        server.shutdown()
        server.server_close()
    needle = SECRET.encode()
    written = [
        p
        for root in (lake_root, Path(instance.root_directory), tmp_path / "export")
        for p in Path(root).rglob("*")
        if p.is_file()
    ]
    assert len(written) > 20
    leaks = [str(p) for p in written if needle in p.read_bytes()]
    assert leaks == []
    events = [str(e) for e in instance.all_logs(result.run_id)]
    assert not any(SECRET in e for e in events)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b'{"ts":"2026-11-16T01:00:00Z","a":1}',
                    b'{"ts":"2026-11-17T01:00:00Z"}',
                    b"[1]",
                    b"{",
                    b'{"ts":"2026-11-16T02:00:00Z","schema":"session.iterate.v1","outcome":"x"}',
                    b"\xef\xbb\xbf{}",
                    b'{"ts":"2026-11-16T01:00:00Z","a":1}\r',
                ]
            ),
        ),
        max_size=25,
    ),
    st.booleans(),
)
def test_for_arbitrary_bytes_every_line_is_evidence_or_reject(tmp_path, lines, trailing_newline):
    folder = tmp_path / "kb"
    folder.mkdir(exist_ok=True)
    data = b"\n".join(line.replace(b"\n", b" ") for line in lines) + (b"\n" if trailing_newline and lines else b"")
    (folder / "s.jsonl").write_bytes(data)
    store = ObjectStore(str(tmp_path / "lake"))
    for day in (dt.date(2026, 11, 16), dt.date(2026, 11, 17)):
        snap = take_snapshot(SourceConfig("kb", "jsonl", folder), day, store, today=day)
        ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
        assert account("jsonl", snap.files, ev.records, ev.rejects)["problems"] == []


def test_a_deleted_or_truncated_data_file_is_a_loud_error_naming_it(tmp_path, instance, lake_root):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n")
    sources = write_sources(tmp_path / "sources.toml", {"docs": {"kind": "tree", "path": "docs"}})
    assert materialize_all(instance, lake_root, sources, "docs", utc_today()).success
    table_dir = lake_root / "raw" / "snapshot_files"
    (data_file,) = [p for p in table_dir.rglob("*.parquet")]
    data_file.write_bytes(data_file.read_bytes()[:40])  # truncate
    with pytest.raises(LakeReadError, match="raw/snapshot_files") as info:
        read_partitions(str(lake_root), SNAPSHOT_FILES)
    assert f"broken data file: {data_file}" in str(info.value)
    os.unlink(data_file)
    with pytest.raises(LakeReadError, match="raw/snapshot_files") as info:
        read_partitions(str(lake_root), SNAPSHOT_FILES)
    assert f"{data_file} (missing)" in str(info.value)


def test_a_corrupt_object_names_every_partition_that_references_it(tmp_path, instance, lake_root):
    from tests.helpers import commit_files, init_repo, resources_for

    repo = init_repo(tmp_path / "repo")
    commit_files(repo, dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC), {"a.md": b"# Same bytes every day\n"})
    sources = write_sources(tmp_path / "sources.toml", {"repo": {"kind": "git", "path": "repo"}})
    for day in (dt.date(2024, 3, 1), dt.date(2024, 3, 2)):
        assert materialize_all(instance, lake_root, sources, "repo", day).success
    obj = read_partitions(str(lake_root), SNAPSHOT_FILES)["object"][0]
    path = ObjectStore(str(lake_root)).path_for(obj)
    with open(path, "r+b") as handle:
        handle.write(b"!")
    from definitions import build_definitions

    job = build_definitions(resources_for(lake_root, sources)).resolve_job_def("checks_job")
    result = job.execute_in_process(
        tags={"dagster/partition": "2024-03-02|repo"}, instance=instance, raise_on_error=False
    )
    crc = next(e for e in result.get_asset_check_evaluations() if e.check_name == "snapshot_files_crc")
    text = crc.metadata["failures"].value
    assert not crc.passed and obj in text and "repo/2024-03-01" in text and "repo/2024-03-02" in text
    # Issue 16 case 12: the message itself (what `evidence-lake run` prints) names object, path and partitions.
    said = crc.description
    assert obj in said and "path a.md" in said and "repo/2024-03-01, repo/2024-03-02" in said
    assert crc.severity == dg.AssetCheckSeverity.ERROR


def _tamper_one_payload(lake_root: Path, day: dt.date) -> str:
    """Rewrite one evidence payload, keeping its recorded hashes (a hand edit or a foreign writer); return its id.

    Written with deltalake directly, as another tool would, so nothing of ours vets it.
    """
    from deltalake import write_deltalake

    from core.contracts import EVIDENCE_RECORDS
    from core.lake import partition_predicate, table_uri

    rows = read_partitions(str(lake_root), EVIDENCE_RECORDS, [("repo", day)])
    victim = rows.filter(rows["payload"].str.contains('"qualified_name"'))["evidence_id"][0]
    tampered = rows.with_columns(
        pl.when(pl.col("evidence_id") == victim)
        .then(pl.col("payload").str.replace('"qualified_name":"', '"qualified_name":"tampered.', literal=True))
        .otherwise(pl.col("payload")).alias("payload"))
    write_deltalake(table_uri(str(lake_root), EVIDENCE_RECORDS), tampered.to_arrow(), mode="overwrite",
                    predicate=partition_predicate([("repo", day)]))
    return victim


def test_a_tampered_partition_is_healed_by_rerunning_it(tmp_path, instance, lake_root):
    """Issue 16 case 1: reuse re-verifies what it copies, so a rerun restores the correct rows."""
    from tests.helpers import check_results, commit_files, init_repo, partition_hashes

    repo = init_repo(tmp_path / "repo")
    files = {f"pkg/m{i}.py": f'def f{i}(x):\n    """Return x."""\n    return x\n'.encode() for i in range(6)}
    commit_files(repo, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), files)
    sources = write_sources(tmp_path / "sources.toml", {"repo": {"kind": "git", "path": "repo"}})
    day = dt.date(2024, 3, 1)
    assert materialize_all(instance, lake_root, sources, "repo", day).success
    clean = partition_hashes(str(lake_root), None)

    from core.contracts import EVIDENCE_RECORDS

    tampered = _tamper_one_payload(lake_root, day)
    rows = read_partitions(str(lake_root), EVIDENCE_RECORDS, [("repo", day)], verify=False)  # forensics
    assert "tampered." in rows.filter(rows["evidence_id"] == tampered)["payload"][0]  # the damage is there
    with pytest.raises(TamperedDataError, match=f"table evidence/records partition repo/2024-03-01: row "
                                                f"evidence_id={tampered} does not match"):
        read_partitions(str(lake_root), EVIDENCE_RECORDS, [("repo", day)])  # issue 16 case 2: reads verify

    rerun = materialize_all(instance, lake_root, sources, "repo", day)
    assert rerun.success and all(check_results(rerun).values()), check_results(rerun)
    assert partition_hashes(str(lake_root), None) == clean
