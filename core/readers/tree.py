"""Directory-tree reader: walk without following links out of the root; never crash on a file.

Names are handled as bytes so a file whose name is not UTF-8 still gets a row.
Directory symlinks are not followed (that is what makes loops and double counting
impossible); file symlinks inside the root are read through; everything odd (FIFO,
socket, device, permission denied) becomes a status row with a reason.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from core.paths import PathError, canonical_path, decode_fs_name
from core.readers.entries import FileEntry

SKIP_DIRS = {b".git"}


def _display(rel: bytes) -> tuple[str, str | None]:
    text, ok = decode_fs_name(rel)
    return text, None if ok else "file name is not valid UTF-8; invalid bytes shown as %XX"


def _within(root: bytes, target: bytes) -> bool:
    try:
        return os.path.commonpath([root, target]) == root
    except ValueError:
        return False


def _read_regular(abs_path: bytes, limit: int) -> tuple[str, bytes | None, int | None, str | None]:
    """(status, data, size, detail) for a regular file, opened without blocking on odd types."""
    try:
        fd = os.open(abs_path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return "unreadable", None, None, f"open failed: {exc.strerror or exc}"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "special", None, None, "not a regular file when opened"
        if st.st_size > limit:
            return "too_large", None, st.st_size, f"{st.st_size} bytes > limit {limit}"
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # grew while we read it
            return "too_large", None, len(data), f"grew past limit {limit} while read"
        return "stored", data, len(data), None
    except OSError as exc:
        return "unreadable", None, None, f"read failed: {exc.strerror or exc}"
    finally:
        os.close(fd)


def walk_tree(root: str, max_file_bytes: int, suffix: str | None = None) -> Iterator[FileEntry]:
    """Yield a FileEntry for every non-directory under ``root``, in byte order of path.

    ``suffix`` (e.g. ``.jsonl``) restricts the walk to names ending with it.
    """
    root_b = os.path.realpath(os.fsencode(root))
    suffix_b = os.fsencode(suffix) if suffix else None
    stack: list[bytes] = [b""]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(root_b, rel_dir) if rel_dir else root_b
        try:
            with os.scandir(abs_dir) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            text, _ = _display(rel_dir or b".")
            yield FileEntry(
                path=_safe_path(text), status="unreadable", detail=f"directory not listable: {exc.strerror or exc}"
            )
            continue
        subdirs: list[bytes] = []
        for name in names:
            rel = os.path.join(rel_dir, name) if rel_dir else name
            abs_path = os.path.join(root_b, rel)
            try:
                st = os.lstat(abs_path)
            except OSError as exc:
                yield _entry(rel, "unreadable", detail=f"stat failed: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(st.st_mode):
                if name not in SKIP_DIRS:
                    subdirs.append(rel)
                continue
            if suffix_b and not name.endswith(suffix_b):
                continue
            yield _classify(root_b, rel, abs_path, st, max_file_bytes)
        stack.extend(reversed(subdirs))


def _classify(root_b: bytes, rel: bytes, abs_path: bytes, st: os.stat_result, limit: int) -> FileEntry:
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(abs_path)
        if not _within(root_b, target):
            return _entry(rel, "outside_root", detail="symlink target is outside the source root")
        try:
            tst = os.stat(target)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return _entry(rel, "broken_symlink", detail="symlink loop")
            return _entry(rel, "broken_symlink", detail="symlink target does not exist")
        if stat.S_ISDIR(tst.st_mode):
            return _entry(rel, "symlink_dir", detail="directory symlink not followed")
        if not stat.S_ISREG(tst.st_mode):
            return _entry(rel, "special", detail="symlink to a special file")
        status, data, size, detail = _read_regular(target, limit)
        return _entry(rel, status, data=data, size=size, detail=detail)
    if not stat.S_ISREG(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "device"
        return _entry(rel, "special", detail=f"{kind}, not read")
    status, data, size, detail = _read_regular(abs_path, limit)
    return _entry(rel, status, data=data, size=size, detail=detail)


def _safe_path(text: str) -> str:
    try:
        return canonical_path(text)
    except PathError:
        return text or "."


def _entry(rel: bytes, status: str, **kw) -> FileEntry:
    text, name_note = _display(rel)
    try:
        path = canonical_path(text)
    except PathError as exc:
        return FileEntry(path=text or "?", status="invalid_path", detail=str(exc))
    detail = kw.pop("detail", None)
    if name_note:
        detail = f"{name_note}; {detail}" if detail else name_note
    return FileEntry(path=path, status=status, detail=detail, **kw)
