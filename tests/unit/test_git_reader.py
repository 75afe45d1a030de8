"""Git reader on real repositories made in tmp_path."""

import datetime as dt

import pytest

from core.readers.git import GitError, commit_for_day, read_git_tree
from tests.helpers import commit_files, git, init_repo

D1 = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)
D2 = dt.datetime(2024, 3, 3, 23, 59, 59, tzinfo=dt.UTC)  # last second of the 3rd
D3 = dt.datetime(2024, 3, 4, 0, 0, 0, tzinfo=dt.UTC)  # first second of the 4th


@pytest.fixture
def repo(tmp_path):
    r = init_repo(tmp_path / "repo")
    commit_files(r, D1, {"a.md": b"# A\n", "src/x.py": b"x = 1\n"}, "first")
    commit_files(r, D2, {"a.md": b"# A2\n", "日本/🎉 b.txt": b"crlf\r\n"}, "second")
    commit_files(r, D3, {"src/x.py": None}, "third")
    return r


def test_commit_for_day_picks_last_commit_at_or_before_end_of_day(repo):
    log = git(repo, "log", "--format=%H %s").split("\n")
    sha = {line.split()[1]: line.split()[0] for line in log if line}
    assert commit_for_day(str(repo), "HEAD", dt.date(2024, 3, 1)).commit == sha["first"]
    assert commit_for_day(str(repo), "HEAD", dt.date(2024, 3, 2)).commit == sha["first"]
    assert commit_for_day(str(repo), "HEAD", dt.date(2024, 3, 3)).commit == sha["second"]  # 23:59:59 counts
    assert commit_for_day(str(repo), "HEAD", dt.date(2024, 3, 4)).commit == sha["third"]  # 00:00:00 is next day
    assert commit_for_day(str(repo), "main", dt.date(2030, 1, 1)).commit == sha["third"]


def test_day_before_first_commit_has_no_commit(repo):
    head = commit_for_day(str(repo), "HEAD", dt.date(2024, 2, 29))
    assert head.commit is None and "no commit" in head.detail


def test_repository_without_commits(tmp_path):
    r = init_repo(tmp_path / "empty")
    head = commit_for_day(str(r), "HEAD", dt.date(2024, 1, 1))
    assert head.commit is None and "has no commits" in head.detail


def test_not_a_repository_is_a_clear_error(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        commit_for_day(str(tmp_path / "plain"), "HEAD", dt.date(2024, 1, 1))


def test_tree_content_is_byte_exact(repo):
    head = commit_for_day(str(repo), "HEAD", dt.date(2024, 3, 3))
    entries = {e.path: e for e in read_git_tree(str(repo), head.commit, 1 << 20)}
    assert set(entries) == {"a.md", "src/x.py", "日本/🎉 b.txt"}
    assert entries["a.md"].data == b"# A2\n"
    assert entries["日本/🎉 b.txt"].data == b"crlf\r\n"
    assert all(e.status == "stored" for e in entries.values())


def test_large_blobs_and_symlinks_are_status_rows(tmp_path):
    r = init_repo(tmp_path / "r")
    (r / "target.md").write_text("t")
    (r / "link.md").symlink_to("target.md")
    commit_files(r, D1, {"big.bin": b"\0" * 5000})
    head = commit_for_day(str(r), "HEAD", D1.date())
    entries = {e.path: e for e in read_git_tree(str(r), head.commit, 1000)}
    assert entries["big.bin"].status == "too_large" and entries["big.bin"].size == 5000
    assert entries["link.md"].status == "symlink" and entries["link.md"].data is None
    assert entries["target.md"].data == b"t"


def test_many_files_read_in_one_batch(tmp_path):
    r = init_repo(tmp_path / "many")
    files = {f"d{i % 7}/f{i}.txt": f"content {i}\n".encode() * (i % 5 + 1) for i in range(300)}
    commit_files(r, D1, files)
    head = commit_for_day(str(r), "HEAD", D1.date())
    got = {e.path: e.data for e in read_git_tree(str(r), head.commit, 1 << 20)}
    assert got == files
