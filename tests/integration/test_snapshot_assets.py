"""raw/snapshots + raw/snapshot_files through real materialisations, with their checks."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from core.contracts import SNAPSHOT_FILES, SNAPSHOTS
from core.lake import read_partitions
from core.objects import ObjectStore
from tests.helpers import commit_files, init_repo, materialize_snapshot, rows_hash, utc_today, write_sources


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def _failure_text(result) -> str:
    event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    user = event.step_failure_data.user_failure_data
    return (user.description if user else "") + event.step_failure_data.error.to_string()


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "README.md").write_text("# Title\n\ntext\n")
    (root / "sub" / "日本 🎉.md").write_bytes("# 見出し\r\nbody\r\n".encode())
    (root / "empty.txt").write_bytes(b"")
    (root / "image.bin").write_bytes(bytes(range(256)) * 4)
    (root / "escape").symlink_to("/etc/hostname")
    (root / "loop").symlink_to(root)
    return root


@pytest.fixture
def sources_file(tmp_path, tree):
    repo = init_repo(tmp_path / "repo")
    commit_files(repo, dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC), {"a.md": b"# A\n"})
    commit_files(repo, dt.datetime(2024, 3, 3, 9, tzinfo=dt.UTC), {"b.md": b"# B\n"})
    commit_files(repo, dt.datetime(2024, 3, 5, 9, tzinfo=dt.UTC), {"a.md": None, "c.py": b"x = 1\n"})
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "events.jsonl").write_bytes(
        b'{"ts":"2024-03-01T10:00:00Z","n":1}\n{"ts":"2024-03-02T10:00:00Z","n":2}\nbroken\n'
    )
    init_repo(tmp_path / "empty_repo")
    return write_sources(
        tmp_path / "sources.toml",
        {
            "docs": {"kind": "tree", "path": "docs"},
            "repo": {"kind": "git", "path": "repo"},
            "kb": {"kind": "jsonl", "path": "kb"},
            "norepo": {"kind": "git", "path": "empty_repo"},
        },
    )


def test_tree_snapshot_with_all_checks_passing(instance, lake_root, sources_file):
    today = utc_today()
    result = materialize_snapshot(instance, lake_root, sources_file, "docs", today)
    assert result.success
    checks = _checks(result)
    assert len(checks) == 8 and all(checks.values()), checks
    files = read_partitions(str(lake_root), SNAPSHOT_FILES, [("docs", today)])
    status = dict(zip(files["path"].to_list(), files["status"].to_list(), strict=True))
    assert status == {
        "README.md": "stored",
        "sub/日本 🎉.md": "stored",
        "empty.txt": "stored",
        "image.bin": "stored",
        "escape": "outside_root",
        "loop": "symlink_dir",
    }
    readme = files.filter(pl.col("path") == "README.md").row(0, named=True)
    assert readme["line_count"] == 3 and readme["is_text"] and readme["lang_hint"] == "markdown"
    assert files.filter(pl.col("path") == "image.bin")["is_text"].to_list() == [False]
    snap = read_partitions(str(lake_root), SNAPSHOTS, [("docs", today)]).row(0, named=True)
    assert (snap["file_count"], snap["stored_count"], snap["rejected_count"]) == (6, 4, 2)
    assert ObjectStore(str(lake_root)).get(readme["object"]) == b"# Title\n\ntext\n"


def test_materialising_twice_is_idempotent_and_leaves_other_partitions(instance, lake_root, sources_file):
    today = utc_today()
    assert materialize_snapshot(instance, lake_root, sources_file, "repo", dt.date(2024, 3, 3)).success
    other = read_partitions(str(lake_root), SNAPSHOT_FILES, [("repo", dt.date(2024, 3, 3))])
    first = materialize_snapshot(instance, lake_root, sources_file, "docs", today)
    h1 = rows_hash(
        read_partitions(str(lake_root), SNAPSHOT_FILES, [("docs", today)]), SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile
    )
    second = materialize_snapshot(instance, lake_root, sources_file, "docs", today)
    h2 = rows_hash(
        read_partitions(str(lake_root), SNAPSHOT_FILES, [("docs", today)]), SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile
    )
    assert first.success and second.success and h1 == h2
    assert read_partitions(str(lake_root), SNAPSHOT_FILES, [("repo", dt.date(2024, 3, 3))]).equals(other)
    ids = read_partitions(str(lake_root), SNAPSHOTS).sort("source")["snapshot_id"].to_list()
    assert len(ids) == 2 and len(set(ids)) == 2


def test_git_past_days_one_partition_at_a_time(instance, lake_root, sources_file):
    expected = {
        dt.date(2024, 2, 29): set(),  # before the first commit: an empty snapshot
        dt.date(2024, 3, 1): {"a.md"},
        dt.date(2024, 3, 2): {"a.md"},
        dt.date(2024, 3, 3): {"a.md", "b.md"},
        dt.date(2024, 3, 5): {"b.md", "c.py"},
    }
    for day in expected:
        result = materialize_snapshot(instance, lake_root, sources_file, "repo", day)
        assert result.success and all(_checks(result).values()), (day, _checks(result))
    files = read_partitions(str(lake_root), SNAPSHOT_FILES)
    for day, paths in expected.items():
        assert set(files.filter(pl.col("day") == day)["path"].to_list()) == paths, day
    snaps = read_partitions(str(lake_root), SNAPSHOTS).sort("day")
    assert snaps["file_count"].to_list() == [0, 1, 1, 2, 2]
    assert snaps["as_of"][0] == "none"
    # 1 and 2 March see the same commit, so the same snapshot id
    assert snaps["snapshot_id"][1] == snaps["snapshot_id"][2]


def test_git_repository_without_commits_gives_an_empty_snapshot(instance, lake_root, sources_file):
    result = materialize_snapshot(instance, lake_root, sources_file, "norepo", dt.date(2024, 1, 1))
    assert result.success and all(_checks(result).values())
    snap = read_partitions(str(lake_root), SNAPSHOTS, [("norepo", dt.date(2024, 1, 1))]).row(0, named=True)
    assert snap["file_count"] == 0 and snap["as_of"] == "none"


def test_jsonl_partition_holds_the_lines_of_its_day(instance, lake_root, sources_file):
    for day in (dt.date(2024, 3, 1), dt.date(2024, 3, 2)):
        assert materialize_snapshot(instance, lake_root, sources_file, "kb", day).success
    files = read_partitions(str(lake_root), SNAPSHOT_FILES).sort("day")
    assert files["line_offsets"].to_list() == [[0], [1, 2]]  # "broken" follows the line before it
    store = ObjectStore(str(lake_root))
    assert store.get(files["object"][1]) == b'{"ts":"2024-03-02T10:00:00Z","n":2}\nbroken\n'


def test_past_day_of_a_tree_is_refused_with_a_clear_error(instance, lake_root, sources_file):
    result = materialize_snapshot(instance, lake_root, sources_file, "docs", utc_today() - dt.timedelta(days=3))
    assert not result.success
    assert "only today's partition" in _failure_text(result)
    assert read_partitions(str(lake_root), SNAPSHOTS).height == 0


def test_unknown_source_partition_says_what_to_do(instance, lake_root, sources_file):
    result = materialize_snapshot(instance, lake_root, sources_file, "ghost", utc_today())
    assert not result.success
    assert "source 'ghost' is a partition but not in" in _failure_text(result)


def test_crc_check_catches_a_flipped_byte(instance, lake_root, sources_file):
    day = dt.date(2024, 3, 3)
    assert materialize_snapshot(instance, lake_root, sources_file, "repo", day).success
    files = read_partitions(str(lake_root), SNAPSHOT_FILES, [("repo", day)])
    victim = files.filter(pl.col("path") == "b.md")["object"][0]
    path = ObjectStore(str(lake_root)).path_for(victim)
    with open(path, "r+b") as handle:
        handle.write(b"X")
    from definitions import build_definitions
    from tests.helpers import resources_for

    defs = build_definitions(resources_for(lake_root, sources_file))
    # A checks-only job carries no partitions_def; the partition travels as a run tag (as with
    # `dagster job execute -j checks_job --tags '{"dagster/partition": ...}'`).
    result = defs.resolve_job_def("checks_job").execute_in_process(
        tags={"dagster/partition": "2024-03-03|repo"}, instance=instance, raise_on_error=False
    )
    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "snapshot_files_crc")
    assert not evaluation.passed
    assert victim in evaluation.metadata["failures"].value
    assert "1 of 2 stored objects" in evaluation.description


def test_both_determinism_checks_compare_against_one_reread_of_the_source(instance, lake_root, sources_file, tree):
    """The step re-reads the source once for both checks; a file edited since the snapshot fails both."""
    from checks.factories import PartitionReads
    from checks.snapshots import snapshot_files_deterministic, snapshots_deterministic
    from resources.lake import LakeResource
    from resources.sources import SourcesResource

    today = utc_today()
    assert materialize_snapshot(instance, lake_root, sources_file, "docs", today, checks=False).success
    lake, sources = LakeResource(root=str(lake_root)), SourcesResource(file=str(sources_file))
    reads = PartitionReads(("docs", today), lake, sources)
    assert snapshot_files_deterministic.rule(reads).passed
    reread = reads.memo["reread_snapshot"]
    assert snapshots_deterministic.rule(reads).passed and reads.memo["reread_snapshot"] is reread
    (tree / "README.md").write_text("# Title\n\nedited after the snapshot\n")
    reads = PartitionReads(("docs", today), lake, sources)
    files, snap = snapshot_files_deterministic.rule(reads), snapshots_deterministic.rule(reads)
    assert not files.passed and "re-reading the source gives different rows" in files.description
    assert "README.md" in files.description
    assert not snap.passed and files.metadata["recomputed_hash"] != files.metadata["stored_hash"]
    past = PartitionReads(("docs", today - dt.timedelta(days=1)), lake, sources)  # a tree has no past
    for rule in (snapshot_files_deterministic, snapshots_deterministic):
        said = rule.rule(past)
        assert said.passed and said.severity == dg.AssetCheckSeverity.WARN
        assert said.description.startswith("not re-verifiable today")
