"""What an extractor returns, and the versions that enter every evidence id."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

# A version bump changes extractor_version and so every id the extractor produces.
EXTRACTOR_VERSIONS: dict[str, str] = {
    "markdown_sections": "1.0.0",
    "markdown_links": "1.0.0",
    "python_symbols": "1.1.0",  # 1.1: module constants and variables, class attributes
    "python_imports": "1.0.0",
    "text_metrics": "1.0.0",
    "diagnostics": "1.1.0",  # 1.1: long lines and whitespace only for non-Python files (ruff lints Python)
    "jsonl_stream": "1.0.0",
    # "ruff_diagnostics" is added by core.extract.ruff_lint.find_ruff(): it carries ruff's own version
}


@dataclass
class Extracted:
    kind: str
    locator: dict
    payload: dict
    extractor: str
    line_start: int | None = None
    line_end: int | None = None
    extractor_version: str = field(init=False)

    def __post_init__(self) -> None:
        self.extractor_version = EXTRACTOR_VERSIONS[self.extractor]


def text_lines(text: str) -> list[str]:
    """Lines as editors number them: split on LF only, a trailing CR dropped, no empty last line."""
    if not text:
        return []
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    if "\r" not in text:  # most files: no line to trim (the per-line pass was 0.85 s of the stdlib's 14 s)
        return parts
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def decode_text(data: bytes) -> str:
    """UTF-8 text without a leading BOM (callers have checked is_text)."""
    text = data.decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def parse_python(text: str, path: str) -> ast.Module | BaseException:
    """The module's tree, or the exception that says why there is none (one parse serves every extractor)."""
    try:
        return ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return exc
