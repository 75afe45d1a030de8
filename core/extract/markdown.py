"""Markdown sections (one per ATX or setext heading, plus the text before the first heading) and links.

Lines are 0-based, ``line_start`` inclusive and ``line_end`` exclusive. A ``#`` inside a
fenced code block (``` or ~~~) is not a heading. ``heading_path`` lists the enclosing
headings down to this one.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterator

from core.extract.base import Extracted, text_lines

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")


def _outside_fences(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(index, line) of every line outside fenced code blocks; the fence lines themselves are left out."""
    fence: str | None = None
    for i, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        yield i, line


def _headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, level, title) of every heading; nothing inside a fenced block counts."""
    found: list[tuple[int, int, str]] = []
    paragraph = False  # the previous line is paragraph text (a setext heading candidate)
    previous = -1
    for i, line in _outside_fences(lines):
        if i != previous + 1:  # a fenced block came in between: it ends any paragraph
            paragraph = False
        previous = i
        atx = _ATX.match(line)
        if atx:
            title = _ATX_CLOSE.sub("", (atx.group(2) or "").strip()).strip()
            found.append((i, len(atx.group(1)), title))
            paragraph = False
            continue
        setext = _SETEXT.match(line)
        if setext and paragraph:
            found.append((i - 1, 1 if setext.group(1)[0] == "=" else 2, lines[i - 1].strip()))
            paragraph = False
            continue
        paragraph = bool(line.strip()) and not line.startswith("    ")
    return found


def extract_sections(text: str, lines: list[str] | None = None) -> list[Extracted]:
    """One section per heading (and one for text before the first); ``lines``: ``text_lines(text)`` if known."""
    lines = text_lines(text) if lines is None else lines
    heads = _headings(lines)
    out: list[Extracted] = []
    first = heads[0][0] if heads else len(lines)
    if first > 0 and any(line.strip() for line in lines[:first]):
        out.append(_section(lines, 0, first, 0, "", []))
    stack: list[tuple[int, str]] = []
    for n, (start, level, title) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        out.append(_section(lines, start, end, level, title, [t for _, t in stack]))
    return out


def _section(lines: list[str], start: int, end: int, level: int, title: str, path: list[str]) -> Extracted:
    body = "\n".join(lines[start:end])
    return Extracted(
        kind="section",
        extractor="markdown_sections",
        locator={"lines": [start, end]},
        line_start=start,
        line_end=end,
        payload={
            "heading": title,
            "level": level,
            "heading_path": path,
            "text": body,
            "content_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        },
    )


_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")


def link_target(path: str, target: str) -> tuple[str | None, bool]:
    """(path inside the source the link points at, or None; whether it leaves the source)."""
    if _SCHEME.match(target):
        return None, True
    bare = target.split("#", 1)[0].split("?", 1)[0]
    if not bare:
        return path, False  # an anchor in the same document
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), bare)) if not bare.startswith("/") \
        else posixpath.normpath(bare.lstrip("/"))
    return (None, False) if joined == ".." or joined.startswith("../") else (joined, False)


def extract_links(text: str, path: str, lines: list[str] | None = None) -> list[Extracted]:
    """One ``edge`` per inline link outside fenced code: a document linking to another is an edge too."""
    out: list[Extracted] = []
    for i, line in _outside_fences(text_lines(text) if lines is None else lines):
        for n, match in enumerate(_LINK.finditer(line)):
            label, target = match.group(1).strip(), match.group(2)
            resolved, external = link_target(path, target)
            out.append(Extracted(
                kind="edge", extractor="markdown_links", line_start=i, line_end=i + 1,
                locator={"line": i, "n": n},
                payload={"edge_kind": "link", "target": target, "text": label, "resolved_path": resolved,
                         "external": external, "line": i}))
    return out
