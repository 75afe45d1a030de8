"""Tree reader: every odd file becomes a row with a reason; nothing crashes, nothing is lost."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.readers.tree import walk_tree


def _by_path(root: Path, limit: int = 1 << 20) -> dict:
    return {e.path: e for e in walk_tree(str(root), limit)}


def test_names_with_emoji_cjk_and_spaces(tmp_path):
    (tmp_path / "日本 語").mkdir()
    (tmp_path / "日本 語" / "🎉 party notes.md").write_bytes("# 見出し\n".encode())
    entries = _by_path(tmp_path)
    assert list(entries) == ["日本 語/🎉 party notes.md"]
    e = entries["日本 語/🎉 party notes.md"]
    assert e.status == "stored" and e.data == "# 見出し\n".encode()


def test_crlf_empty_and_binary_content_are_kept_byte_exact(tmp_path):
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    entries = _by_path(tmp_path)
    assert entries["crlf.txt"].data == b"one\r\ntwo\r\n"
    assert entries["empty.txt"].status == "stored" and entries["empty.txt"].data == b""
    assert entries["blob.bin"].data == bytes(range(256))


def test_symlink_outside_root_is_not_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "inside.txt").write_text("fine")
    (root / "alias.txt").symlink_to(root / "inside.txt")
    entries = _by_path(root)
    assert entries["escape"].status == "outside_root" and entries["escape"].data is None
    assert entries["alias.txt"].status == "stored" and entries["alias.txt"].data == b"fine"


def test_directory_symlink_loop_terminates(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.md").write_text("x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a link to itself
    entries = _by_path(tmp_path)
    assert entries["a/loop"].status == "symlink_dir"
    assert entries["self"].status == "broken_symlink"
    assert entries["a/f.md"].status == "stored"
    assert len(entries) == 3


def test_fifo_and_socket_are_status_rows_not_hangs(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        entries = _by_path(tmp_path)
    finally:
        sock.close()
    assert entries["pipe"].status == "special" and "FIFO" in entries["pipe"].detail
    assert entries["sock"].status == "special"


def test_too_large_is_recorded_with_size_but_not_read(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"x" * 2048)
    e = _by_path(tmp_path, limit=1024)["big.txt"]
    assert e.status == "too_large" and e.size == 2048 and e.data is None


def test_git_folder_is_skipped(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "x.md").write_text("x")
    assert list(_by_path(tmp_path)) == ["x.md"]


def test_non_utf8_file_name_gets_a_row(tmp_path):
    name = os.fsencode(str(tmp_path)) + b"/bad\xffname.txt"
    with open(name, "wb") as handle:
        handle.write(b"data")
    e = _by_path(tmp_path)["bad%FFname.txt"]
    assert e.status == "stored" and e.data == b"data" and "not valid UTF-8" in e.detail


_CHILD = """
import json, os, sys
sys.path.insert(0, sys.argv[2])
from core.readers.tree import walk_tree
if os.geteuid() == 0:  # drop to 'nobody' after imports: permission bits do not stop root
    os.setgid(65534)
    os.setuid(65534)
print(json.dumps({e.path: [e.status, e.detail] for e in walk_tree(sys.argv[1], 1 << 20)}))
"""


def test_unreadable_file_is_a_status_row(tmp_path):
    """The walk runs in a child that drops to 'nobody' when we are root."""
    root = Path(tempfile.mkdtemp(prefix="el-unreadable-"))
    try:
        os.chmod(root, 0o755)
        (root / "ok.txt").write_text("fine")
        (root / "locked.txt").write_text("secret")
        os.chmod(root / "ok.txt", 0o644)
        os.chmod(root / "locked.txt", 0o000)
        locked_dir = root / "locked_dir"
        locked_dir.mkdir()
        (locked_dir / "inner.txt").write_text("x")
        os.chmod(locked_dir, 0o000)
        project = str(Path(__file__).resolve().parents[2])
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(root), project], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
    finally:
        for p in (root / "locked_dir", root / "locked.txt"):
            os.chmod(p, 0o755)
        import shutil

        shutil.rmtree(root)
    assert result["ok.txt"][0] == "stored"
    assert result["locked.txt"][0] == "unreadable" and "Permission denied" in result["locked.txt"][1]
    assert result["locked_dir"][0] == "unreadable" and "not listable" in result["locked_dir"][1]


@pytest.mark.parametrize("count", [0, 3])
def test_walk_order_is_independent_of_creation_order(tmp_path, count):
    names = ["b.md", "a.md", "c/d.md", "c/a.md"][: count + 1]
    for n in reversed(names):
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_text(n)
    paths = [e.path for e in walk_tree(str(tmp_path), 1024)]
    assert sorted(paths) == sorted(names)
