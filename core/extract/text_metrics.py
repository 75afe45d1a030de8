"""Metrics for any text file, and diagnostics (syntax errors, long lines, line endings, whitespace)."""

from __future__ import annotations

import ast

from core.extract.base import Extracted, text_lines

COMMENT_PREFIX = {
    "python": ("#",), "shell": ("#",), "yaml": ("#",), "toml": ("#",), "ini": ("#", ";"), "make": ("#",),
    "docker": ("#",), "go": ("//",), "rust": ("//",), "javascript": ("//",), "typescript": ("//",),
    "c": ("//", "/*", "*"), "cpp": ("//", "/*", "*"), "java": ("//", "/*", "*"), "css": ("/*", "*"),
    "sql": ("--",),
}
LONG_LINE = 200
MAX_LISTED = 50


def extract_metrics(data: bytes, text: str, lang: str | None) -> Extracted:
    lines = text_lines(text)
    blank = sum(1 for line in lines if not line.strip())
    prefixes = COMMENT_PREFIX.get(lang or "")
    comments = sum(1 for line in lines if line.lstrip().startswith(prefixes)) if prefixes else None
    return Extracted(
        kind="metric", extractor="text_metrics", locator={"lines": [0, len(lines)]},
        line_start=0, line_end=len(lines),
        payload={"lang": lang, "lines": len(lines), "bytes": len(data), "blank_lines": blank,
                 "comment_lines": comments},
    )


def _diag(code: str, start: int, end: int, **payload) -> Extracted:
    return Extracted(kind="diagnostic", extractor="diagnostics", locator={"code": code},
                     line_start=start, line_end=end, payload={"code": code, **payload})


def extract_diagnostics(data: bytes, text: str, lang: str | None, path: str) -> list[Extracted]:
    lines = text_lines(text)
    out: list[Extracted] = []
    if lang == "python":
        try:
            ast.parse(text, filename=path)
        except SyntaxError as exc:
            line = max((exc.lineno or 1) - 1, 0)
            out.append(_diag("syntax_error", line, line + 1, line=line, column=exc.offset,
                             message=exc.msg, severity="error"))
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
            out.append(_diag("syntax_error", 0, max(len(lines), 1), line=0, column=None,
                             message=f"{type(exc).__name__}: {exc}", severity="error"))
    long_lines = [i for i, line in enumerate(lines) if len(line) > LONG_LINE]
    if long_lines:
        out.append(_diag("long_line", long_lines[0], long_lines[-1] + 1, count=len(long_lines),
                         lines=long_lines[:MAX_LISTED], limit=LONG_LINE,
                         max_length=max(len(lines[i]) for i in long_lines), severity="warning"))
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    if crlf and lf:
        out.append(_diag("mixed_line_endings", 0, len(lines), crlf=crlf, lf=lf, severity="warning"))
    trailing = [i for i, line in enumerate(lines) if line != line.rstrip(" \t")]
    if trailing:
        out.append(_diag("trailing_whitespace", trailing[0], trailing[-1] + 1, count=len(trailing),
                         lines=trailing[:MAX_LISTED], severity="info"))
    return out
