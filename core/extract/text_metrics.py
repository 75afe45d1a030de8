"""Metrics for any text file, and cheap diagnostics (syntax errors, line endings; long lines and whitespace
outside Python)."""

from __future__ import annotations

from operator import methodcaller

from core.extract.base import Extracted, parse_python, text_lines

COMMENT_PREFIX = {
    "python": ("#",), "shell": ("#",), "yaml": ("#",), "toml": ("#",), "ini": ("#", ";"), "make": ("#",),
    "docker": ("#",), "go": ("//",), "rust": ("//",), "javascript": ("//",), "typescript": ("//",),
    "c": ("//", "/*", "*"), "cpp": ("//", "/*", "*"), "java": ("//", "/*", "*"), "css": ("/*", "*"),
    "sql": ("--",),
}
LONG_LINE = 200
MAX_LISTED = 50


def extract_metrics(data: bytes, text: str, lang: str | None, lines: list[str] | None = None) -> Extracted:
    """Line, byte, blank and comment counts (``lines``: ``text_lines(text)`` when the caller has them)."""
    lines = text_lines(text) if lines is None else lines
    blank = list(map(str.strip, lines)).count("")  # counted in C: a generator per line cost 0.4 s of the stdlib
    prefixes = COMMENT_PREFIX.get(lang or "")
    comments = sum(map(methodcaller("startswith", prefixes), map(str.lstrip, lines))) if prefixes else None
    return Extracted(
        kind="metric", extractor="text_metrics", locator={"lines": [0, len(lines)]},
        line_start=0, line_end=len(lines),
        payload={"lang": lang, "lines": len(lines), "bytes": len(data), "blank_lines": blank,
                 "comment_lines": comments},
    )


def _diag(code: str, start: int, end: int, **payload) -> Extracted:
    return Extracted(kind="diagnostic", extractor="diagnostics", locator={"code": code},
                     line_start=start, line_end=end, payload={"code": code, **payload})


NOT_PARSED = object()  # extract_diagnostics parses the file itself


def extract_diagnostics(data: bytes, text: str, lang: str | None, path: str,
                        parsed: object = NOT_PARSED, lines: list[str] | None = None) -> list[Extracted]:
    """Syntax errors and mixed line endings for every file; long lines and trailing whitespace for non-Python
    files (Python files get ruff's findings instead). ``parsed``: ``parse_python``'s result, and ``lines``:
    ``text_lines(text)``, when the caller has them.
    """
    lines = text_lines(text) if lines is None else lines
    out: list[Extracted] = []
    if lang == "python":
        if parsed is NOT_PARSED:
            parsed = parse_python(text, path)
        if isinstance(parsed, SyntaxError):
            line = max((parsed.lineno or 1) - 1, 0)
            out.append(_diag("syntax_error", line, line + 1, line=line, column=parsed.offset,
                             message=parsed.msg, severity="error"))
        elif isinstance(parsed, BaseException):  # NUL bytes, absurd nesting
            out.append(_diag("syntax_error", 0, max(len(lines), 1), line=0, column=None,
                             message=f"{type(parsed).__name__}: {parsed}", severity="error"))
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    if crlf and lf:
        out.append(_diag("mixed_line_endings", 0, len(lines), crlf=crlf, lf=lf, severity="warning"))
    if lang == "python":
        return out
    long_lines = [i for i, line in enumerate(lines) if len(line) > LONG_LINE]
    if long_lines:
        out.append(_diag("long_line", long_lines[0], long_lines[-1] + 1, count=len(long_lines),
                         lines=long_lines[:MAX_LISTED], limit=LONG_LINE,
                         max_length=max(len(lines[i]) for i in long_lines), severity="warning"))
    trailing = [i for i, line in enumerate(lines) if line != line.rstrip(" \t")]
    if trailing:
        out.append(_diag("trailing_whitespace", trailing[0], trailing[-1] + 1, count=len(trailing),
                         lines=trailing[:MAX_LISTED], severity="info"))
    return out
