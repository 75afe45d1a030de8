"""File extractors: markdown sections, python symbols, metrics and diagnostics."""

import sysconfig
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from core.evidence import extract_file
from core.extract.base import text_lines
from core.extract.markdown import extract_sections
from core.extract.python_symbols import extract_symbols, module_name
from core.extract.text_metrics import COMMENT_PREFIX, extract_diagnostics, extract_metrics

DOC = """preamble line

# Title

intro
## Part A #
```python
# not a heading
```
~~~
## also not
~~~
Setext Two
----------
text

---
# Second
"""


def _sections(text):
    return [(s.payload["heading"], s.payload["level"], s.payload["heading_path"], s.line_start, s.line_end)
            for s in extract_sections(text)]


def test_markdown_sections_with_fences_setext_and_preamble():
    assert _sections(DOC) == [
        ("", 0, [], 0, 2),
        ("Title", 1, ["Title"], 2, 5),
        ("Part A", 2, ["Title", "Part A"], 5, 12),
        ("Setext Two", 2, ["Title", "Setext Two"], 12, 17),
        ("Second", 1, ["Second"], 17, 18),
    ]


def test_section_text_and_content_hash_follow_the_lines():
    section = extract_sections("# A\r\nbody\r\n# B\n")[0]
    assert section.payload["text"] == "# A\nbody"
    assert section.locator == {"lines": [0, 2]}
    assert len(section.payload["content_hash"]) == 64


def test_markdown_edge_cases():
    assert extract_sections("") == []
    assert _sections("no headings at all\n") == [("", 0, [], 0, 1)]
    assert _sections("#hashtag is text\n# Real\n") == [("", 0, [], 0, 1), ("Real", 1, ["Real"], 1, 2)]
    assert _sections("```\n# inside an unclosed fence\n") == [("", 0, [], 0, 2)]
    assert _sections("\n\n---\n") == [("", 0, [], 0, 3)]  # a thematic break is not a heading


MODULE = '''"""Module doc.

More."""
import functools


def plain(a, b: int = 1, *args, **kw) -> str:
    """Plain function."""
    def inner():
        pass
    return ""


@functools.lru_cache(maxsize=2)
async def fetch(url: str):
    """Fetch it."""


class Shape(Base, metaclass=Meta):
    """A shape."""

    @property
    def area(self) -> float:
        return 0.0

    async def draw(self):
        ...

if True:
    def conditional():
        pass
'''


def test_python_symbols():
    symbols = {s.payload["qualified_name"]: s for s in extract_symbols(MODULE, "pkg/geo/shapes.py")}
    assert list(symbols) == ["pkg.geo.shapes", "pkg.geo.shapes.plain", "pkg.geo.shapes.plain.inner",
                             "pkg.geo.shapes.fetch", "pkg.geo.shapes.Shape", "pkg.geo.shapes.Shape.area",
                             "pkg.geo.shapes.Shape.draw", "pkg.geo.shapes.conditional"]
    mod = symbols["pkg.geo.shapes"].payload
    assert mod["symbol_kind"] == "module" and mod["doc"] == "Module doc."
    plain = symbols["pkg.geo.shapes.plain"]
    assert plain.payload["signature"] == "(a, b: int=1, *args, **kw) -> str"
    assert (plain.line_start, plain.line_end) == (6, 11) and plain.payload["doc"] == "Plain function."
    fetch = symbols["pkg.geo.shapes.fetch"]
    assert fetch.payload["symbol_kind"] == "async_function"
    assert fetch.payload["decorators"] == ["functools.lru_cache(maxsize=2)"]
    assert fetch.line_start == 13  # the decorator line, 0-based
    assert symbols["pkg.geo.shapes.Shape"].payload["signature"] == "(Base, metaclass=Meta)"
    assert symbols["pkg.geo.shapes.Shape.area"].payload["symbol_kind"] == "method"
    assert symbols["pkg.geo.shapes.Shape.draw"].payload["is_async"] is True


def test_module_names():
    assert module_name("a/b/c.py") == "a.b.c"
    assert module_name("pkg/__init__.py") == "pkg"
    assert module_name("setup.py") == "setup"


def test_syntax_error_gives_no_symbols_but_a_diagnostic():
    bad = "def broken(:\n    pass\n"
    assert extract_symbols(bad, "x.py") == []
    (diag,) = extract_diagnostics(bad.encode(), bad, "python", "x.py")
    assert diag.payload["code"] == "syntax_error" and diag.payload["line"] == 0 and diag.line_end == 1


def test_metrics_and_diagnostics():
    text = "# comment\n\nx = 1   \r\n" + "y" * 250 + "\n"
    data = text.encode()
    metric = extract_metrics(data, text, "python")
    assert metric.payload == {"lang": "python", "lines": 4, "bytes": len(data), "blank_lines": 1,
                              "comment_lines": 1}
    assert {d.payload["code"] for d in extract_diagnostics(data, text, "python", "m.py")} == {
        "mixed_line_endings"}  # Python's long lines and whitespace are ruff's to report (issue 11)
    codes = {d.payload["code"]: d for d in extract_diagnostics(data, text, "shell", "m.sh")}
    assert set(codes) == {"long_line", "mixed_line_endings", "trailing_whitespace"}
    assert codes["long_line"].payload["lines"] == [3] and codes["long_line"].payload["max_length"] == 250
    assert codes["mixed_line_endings"].payload == {"code": "mixed_line_endings", "crlf": 1, "lf": 3,
                                                   "severity": "warning"}
    assert codes["trailing_whitespace"].payload["lines"] == [2]
    assert extract_metrics(b"", "", None).payload["comment_lines"] is None


def test_extract_file_quarantines_an_extractor_crash(monkeypatch):
    import core.file_extraction as evidence

    def boom(text, lines=None):
        raise RuntimeError("extractor bug")

    monkeypatch.setattr(evidence, "extract_sections", boom)
    records, errors = extract_file(b"# A\n", "a.md")
    assert [r.kind for r in records] == ["metric"]
    assert errors == ["markdown_sections: RuntimeError: extractor bug"]


def test_symbols_from_a_real_stdlib_package():
    root = Path(sysconfig.get_paths()["stdlib"]) / "json"
    found = {}
    for path in sorted(root.glob("*.py")):
        rel = f"json/{path.name}"
        for s in extract_symbols(path.read_text(encoding="utf-8"), rel):
            found[s.payload["qualified_name"]] = s.payload["symbol_kind"]
    assert found["json"] == "module"
    assert found["json.decoder.JSONDecoder"] == "class"
    assert found["json.decoder.JSONDecoder.raw_decode"] == "method"
    assert found["json.dumps"] == "function"


def test_assignments_at_module_and_class_level_are_symbols_and_function_locals_are_not():
    """Issue 11: constants, module variables and class attributes are indexed; parameters and locals are not."""
    text = ("DEFAULT_SIZE: int = 8 * 1024\nlog = None\na, (b, *rest) = 1, (2, 3)\nX = 1; X = 1\n"
            "obj.attr = 5\nif True:\n    FLAG = 1\n"
            "class K:\n    limit = 3\n    def m(self, p):\n        local = p\n        return local\n"
            "def f(q):\n    inner = q\n    class Local:\n        hidden = 1\n    return inner\n")
    got = {(s.payload["qualified_name"], s.payload["symbol_kind"]) for s in extract_symbols(text, "pkg/mod.py")}
    assert got == {("pkg.mod", "module"), ("pkg.mod.DEFAULT_SIZE", "constant"), ("pkg.mod.log", "variable"),
                   ("pkg.mod.a", "variable"), ("pkg.mod.b", "variable"), ("pkg.mod.rest", "variable"),
                   ("pkg.mod.X", "constant"), ("pkg.mod.FLAG", "constant"), ("pkg.mod.K", "class"),
                   ("pkg.mod.K.limit", "attribute"), ("pkg.mod.K.m", "method"), ("pkg.mod.f", "function"),
                   ("pkg.mod.f.Local", "class")}
    size = next(s for s in extract_symbols(text, "pkg/mod.py") if s.payload["name"] == "DEFAULT_SIZE")
    assert size.payload["signature"] == "int" and size.payload["value"] == "DEFAULT_SIZE: int = 8 * 1024"
    assert size.payload["doc"] is None and size.line_start == 0 and size.line_end == 1


_LINE_TEXT = st.lists(st.sampled_from(["a", "#", " ", "\t", "\r", "\n", "\r\n", "\u00a0", "\x1c", ";"]),
                      max_size=60).map("".join)


@given(_LINE_TEXT, st.sampled_from(["python", "ini", "c", None]))
def test_lines_and_line_counts_match_their_definitions(text, lang):
    """The fast paths (no per-line pass without a CR, counts taken in C) give the per-line definitions."""
    parts = text.split("\n")
    if parts[-1] == "":
        parts.pop()
    expected = [p[:-1] if p.endswith("\r") else p for p in parts] if text else []
    assert text_lines(text) == expected
    payload = extract_metrics(text.encode(), text, lang).payload
    assert payload["lines"] == len(expected)
    assert payload["blank_lines"] == sum(1 for line in expected if not line.strip())
    prefixes = COMMENT_PREFIX.get(lang or "")
    assert payload["comment_lines"] == (
        sum(1 for line in expected if line.lstrip().startswith(prefixes)) if prefixes else None)
    assert extract_metrics(text.encode(), text, lang, text_lines(text)).payload == payload
