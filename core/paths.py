"""Path canonicalisation (codebatch SPEC §5.3) so a path means one thing everywhere.

A canonical path uses ``/`` separators, has no empty, ``.`` or ``..`` segments, no
leading or trailing slash, is Unicode NFC and keeps its casing. ``path_key`` is the
comparison key (case-folded NFC) used to detect two files that would collide on a
case-insensitive file system.
"""

from __future__ import annotations

import unicodedata


class PathError(ValueError):
    """A path that cannot be made canonical (escapes the root, empty, NUL byte)."""


def canonical_path(raw: str) -> str:
    """Return the canonical form of a relative path; raise PathError if it escapes the root."""
    if "\x00" in raw:
        raise PathError(f"path contains a NUL byte: {raw!r}")
    text = unicodedata.normalize("NFC", raw.replace("\\", "/"))
    parts: list[str] = []
    for segment in text.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise PathError(f"path escapes the root: {raw!r}")
            parts.pop()
            continue
        parts.append(segment)
    if not parts:
        raise PathError(f"path is empty after canonicalisation: {raw!r}")
    return "/".join(parts)


def path_key(path: str) -> str:
    """Comparison key: case-folded NFC of the canonical path."""
    return unicodedata.normalize("NFC", canonical_path(path).casefold())


def decode_fs_name(name: bytes) -> tuple[str, bool]:
    """Decode a file-system name; return (text, was_valid_utf8).

    Invalid bytes become ``%XX`` (not ``\\xNN``: a backslash would be read as a separator),
    so the row still names the file and two different names stay different.
    """
    try:
        return name.decode("utf-8"), True
    except UnicodeDecodeError:
        text = name.decode("utf-8", errors="surrogateescape")
        return "".join(f"%{ord(ch) - 0xDC00:02X}" if 0xDC80 <= ord(ch) <= 0xDCFF else ch for ch in text), False
