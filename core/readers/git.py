"""Git reader: the tree of the last commit at or before the end of a UTC day, read in batch.

Three git processes per snapshot whatever the tree size: ``rev-list`` picks the
commit, ``ls-tree -r -l -z`` lists blobs with sizes, one ``cat-file --batch`` streams
every blob under the size limit. The environment is pinned (no system/global config,
C locale, UTC) so the result does not depend on the machine.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from core.paths import PathError, canonical_path, decode_fs_name
from core.readers.entries import FileEntry


class GitError(RuntimeError):
    """git failed in a way that is not 'no commits yet'."""


_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
    "TZ": "UTC",
    "GIT_TERMINAL_PROMPT": "0",
}


def _run(repo: str, *args: str, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **_ENV}
    cmd = ["git", "-c", "safe.directory=*", "-c", "core.quotepath=off", "-C", repo, *args]
    return subprocess.run(cmd, input=input_bytes, capture_output=True, env=env)


def _git(repo: str, *args: str, input_bytes: bytes | None = None, check: bool = True) -> bytes:
    proc = _run(repo, *args, input_bytes=input_bytes)
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {' '.join(args[:2])} failed in {repo}: {msg}")
    return proc.stdout


@dataclass(frozen=True)
class GitSnapshotHead:
    commit: str | None  # None: no commit at or before the day (or no commits at all)
    detail: str


def commit_for_day(repo: str, ref: str, day: dt.date) -> GitSnapshotHead:
    """The last commit on ``ref`` (first-parent history) whose committer time is before D+1 00:00 UTC."""
    if _run(repo, "rev-parse", "--git-dir").returncode != 0:
        raise GitError(f"{repo} is not a git repository (git rev-parse --git-dir failed)")
    has_ref = _git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
    if not has_ref:
        return GitSnapshotHead(None, f"ref {ref!r} has no commits")
    end = f"{day.isoformat()} 23:59:59 +0000"
    out = _git(repo, "rev-list", "-n", "1", "--first-parent", f"--before={end}", ref).strip()
    if not out:
        return GitSnapshotHead(None, f"no commit on {ref!r} at or before {day.isoformat()} (UTC)")
    return GitSnapshotHead(out.decode("ascii"), "")


def _parse_ls_tree(raw: bytes) -> list[tuple[str, str, str, int | None, bytes]]:
    rows = []
    for record in raw.split(b"\x00"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, otype, oid, size = meta.split()
        rows.append((mode.decode(), otype.decode(), oid.decode(), None if size == b"-" else int(size), path))
    return rows


def _read_blobs(repo: str, oids: list[str]) -> dict[str, bytes]:
    """Read many blobs with one ``cat-file --batch`` process."""
    if not oids:
        return {}
    out = _git(repo, "cat-file", "--batch", input_bytes=("\n".join(oids) + "\n").encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    for oid in oids:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        if len(header) != 3:
            raise GitError(f"cat-file answered {out[pos:header_end]!r} for {oid}")
        size = int(header[2])
        start = header_end + 1
        blobs[oid] = out[start : start + size]
        pos = start + size + 1
    return blobs


def read_git_tree(repo: str, commit: str, max_file_bytes: int) -> Iterator[FileEntry]:
    """Yield one FileEntry per tree entry of ``commit``."""
    rows = _parse_ls_tree(_git(repo, "ls-tree", "-r", "-l", "-z", "--full-tree", commit))
    wanted = sorted(
        {
            oid
            for mode, otype, oid, size, _ in rows
            if otype == "blob" and mode != "120000" and size is not None and size <= max_file_bytes
        }
    )
    blobs = _read_blobs(repo, wanted)
    for mode, otype, oid, size, raw_path in rows:
        text, ok = decode_fs_name(raw_path)
        note = None if ok else "file name is not valid UTF-8; invalid bytes shown as %XX"
        try:
            path = canonical_path(text)
        except PathError as exc:
            yield FileEntry(path=text or "?", status="invalid_path", detail=str(exc))
            continue
        if otype == "commit":
            yield FileEntry(path=path, status="submodule", detail=f"gitlink to {oid}")
        elif mode == "120000":
            yield FileEntry(path=path, status="symlink", size=size, detail="git symlink entry, not followed")
        elif size is not None and size > max_file_bytes:
            yield FileEntry(path=path, status="too_large", size=size, detail=f"{size} bytes > limit {max_file_bytes}")
        else:
            data = blobs[oid]
            yield FileEntry(path=path, status="stored", data=data, size=len(data), detail=note)
