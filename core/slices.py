"""Bounded slices of a piece of text: the only way evidence bytes are handed out (CAT_CHAT).

Grammar (strict, no spaces, integers in decimal):

    lines[a:b]   lines a .. b-1, 0-based, end exclusive (a < b)
    chars[a:b]   characters a .. b-1 of the UTF-8 text (a < b)
    head(n)      the first n lines (n >= 1)
    tail(n)      the last n lines (n >= 1)

Refused with a message that says what to write instead: ``ALL``, an open end (``lines[0:]``),
an omitted start, negative or reversed bounds, an empty range, anything else.

Out of range: a start at or past the end of the text is refused (it names the length); an
end past the end is clamped to it, and the result says so (``clamped``), like Python slicing
but never silently. The byte budget of the request still applies to what is returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"(lines|chars)\[(\d+):(\d+)\]")
_COUNT = re.compile(r"(head|tail)\((\d+)\)")
_EXAMPLES = "lines[0:40], chars[0:500], head(20) or tail(20)"


class SliceError(ValueError):
    """A slice that is malformed, unbounded or outside the text; nothing is returned."""


@dataclass(frozen=True)
class Slice:
    unit: str  # lines, chars, head, tail
    start: int  # for head/tail: 0 and n
    end: int

    def __str__(self) -> str:
        return f"{self.unit}({self.end})" if self.unit in ("head", "tail") else f"{self.unit}[{self.start}:{self.end}]"


@dataclass(frozen=True)
class SliceResult:
    text: str
    unit: str  # lines or chars: what start/end count
    start: int
    end: int  # the end actually used, end exclusive
    clamped: bool  # the requested end lay past the end of the text


def parse_slice(text: str) -> Slice:
    """Parse one slice expression; raise SliceError naming what is wrong."""
    if not isinstance(text, str) or not text:
        raise SliceError(f"a slice is required: {_EXAMPLES}")
    if text.strip().upper() in ("ALL", "*", "[:]"):
        raise SliceError(f"{text!r} is unbounded and refused: ask for a bounded slice such as {_EXAMPLES}")
    if (match := _RANGE.fullmatch(text)) is not None:
        unit, start, end = match.group(1), int(match.group(2)), int(match.group(3))
        if end <= start:
            raise SliceError(f"{text!r}: the end must be greater than the start (0-based, end exclusive)")
        return Slice(unit, start, end)
    if (match := _COUNT.fullmatch(text)) is not None:
        n = int(match.group(2))
        if n < 1:
            raise SliceError(f"{text!r}: {match.group(1)}(n) needs n >= 1")
        return Slice(match.group(1), 0, n)
    if re.fullmatch(r"(lines|chars)\[\d*:\]", text):
        raise SliceError(f"{text!r} has no end and is refused: give both bounds, e.g. lines[0:40]")
    if re.fullmatch(r"(lines|chars)\[:\d+\]", text):
        raise SliceError(f"{text!r} has no start: give both bounds, e.g. lines[0:40]")
    if re.search(r"-\d", text):
        raise SliceError(f"{text!r}: negative bounds are refused; use tail(n) for the end of the text")
    raise SliceError(f"cannot parse slice {text!r}: expected {_EXAMPLES}")


def apply_slice(spec: Slice, text: str) -> SliceResult:
    """The part of ``text`` that ``spec`` selects; lines keep their line endings."""
    if spec.unit == "chars":
        return _bounded("chars", spec.start, spec.end, len(text), lambda a, b: text[a:b])
    lines = text.splitlines(keepends=True)
    if spec.unit == "head":
        return _bounded("lines", 0, spec.end, len(lines), lambda a, b: "".join(lines[a:b]))
    if spec.unit == "tail":
        start = max(0, len(lines) - spec.end)
        return SliceResult("".join(lines[start:]), "lines", start, len(lines), spec.end > len(lines))
    return _bounded("lines", spec.start, spec.end, len(lines), lambda a, b: "".join(lines[a:b]))


def _bounded(unit: str, start: int, end: int, length: int, cut) -> SliceResult:
    if length == 0:
        raise SliceError(f"the text is empty: no {unit} to slice")
    if start >= length:
        raise SliceError(f"{unit}[{start}:…] starts past the end: the text has {length} {unit} "
                         f"(valid starts 0..{length - 1})")
    used = min(end, length)
    return SliceResult(cut(start, used), unit, start, used, end > length)
