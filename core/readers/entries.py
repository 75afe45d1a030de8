"""What a source reader yields: one FileEntry per input file, with bytes or a reason."""

from __future__ import annotations

from dataclasses import dataclass

LANG_BY_SUFFIX = {
    ".py": "python",
    ".pyi": "python",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "rst",
    ".txt": "text",
    ".json": "json",
    ".jsonl": "jsonl",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".go": "go",
    ".rs": "rust",
    ".js": "javascript",
    ".ts": "typescript",
    ".sh": "shell",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".sql": "sql",
    ".html": "html",
    ".css": "css",
    ".cfg": "ini",
    ".ini": "ini",
    ".csv": "csv",
}
LANG_BY_NAME = {"makefile": "make", "dockerfile": "docker"}


@dataclass
class FileEntry:
    path: str  # canonical relative path
    status: str  # one of core.contracts.SNAPSHOT_STATUSES
    data: bytes | None = None  # present when status == "stored"
    size: int | None = None
    detail: str | None = None
    line_offsets: list[int] | None = None  # jsonl: original 0-based line offsets of the slice


def lang_hint(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    if name in LANG_BY_NAME:
        return LANG_BY_NAME[name]
    dot = name.rfind(".")
    return LANG_BY_SUFFIX.get(name[dot:]) if dot > 0 else None


def is_text(data: bytes) -> bool:
    """Text = valid UTF-8 without NUL bytes (a BOM is allowed)."""
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def line_count(data: bytes) -> int:
    """Lines as an editor counts them: a final line without newline still counts."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
