"""Import edges (issue 11): absolute, aliased, relative (resolved or not), star, conditional, TYPE_CHECKING."""

import ast

from core.extract.markdown import extract_links
from core.extract.python_imports import extract_imports, resolve

SOURCE = '''\
import os.path as osp, sys
from . import sibling
from ..core import lake as lk
from ...too_far import x
from json import *
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from collections.abc import Iterator
try:
    import tomllib
except ImportError:
    import tomli as tomllib
def late():
    import zlib
class K:
    import struct
'''


def _edges(path="pkg/sub/mod.py", source=SOURCE):
    return [e.payload for e in extract_imports(ast.parse(source), path)]


def test_every_import_is_an_edge_with_its_module_resolved_where_possible():
    edges = {(e["raw_module"], e["name"]): e for e in _edges()}
    assert edges[("os.path", None)]["module"] == "os.path" and edges[("os.path", None)]["alias"] == "osp"
    assert edges[("sys", None)]["importer"] == "pkg.sub.mod"
    assert edges[(".", "sibling")]["module"] == "pkg.sub" and edges[(".", "sibling")]["level"] == 1
    assert edges[("..core", "lake")]["module"] == "pkg.core" and edges[("..core", "lake")]["alias"] == "lk"
    too_far = edges[("...too_far", "x")]
    assert too_far["module"] is None and too_far["resolved"] is False and too_far["level"] == 3
    assert edges[("json", "*")]["star"] is True and edges[("json", "*")]["module"] == "json"
    assert edges[("collections.abc", "Iterator")]["type_checking"] is True
    assert edges[("typing", "TYPE_CHECKING")]["type_checking"] is False
    assert edges[("tomllib", None)]["conditional"] and edges[("tomli", None)]["alias"] == "tomllib"
    assert edges[("zlib", None)]["scope"] == "function" and edges[("zlib", None)]["conditional"]
    assert edges[("struct", None)]["scope"] == "class" and not edges[("struct", None)]["conditional"]
    assert edges[("sys", None)]["line"] == 0 and edges[("zlib", None)]["line"] == 13
    assert len(_edges()) == 12


def test_a_package_init_resolves_relative_imports_from_itself():
    (edge,) = _edges("pkg/__init__.py", "from .mod import f\n")
    assert edge["module"] == "pkg.mod" and edge["importer"] == "pkg"
    (top,) = _edges("top.py", "from . import x\n")
    assert top["module"] is None  # a top-level module has no package to be relative to


def test_resolve():
    assert resolve("a.b.c", 1, "m") == "a.b.c.m"
    assert resolve("a.b.c", 3, None) == "a"
    assert resolve("a.b.c", 4, "m") is None
    assert resolve("", 0, "json") == "json"


def test_the_same_import_twice_on_a_line_gets_distinct_locators():
    edges = extract_imports(ast.parse("import os; import os\n"), "m.py")
    assert len(edges) == 2 and edges[0].locator != edges[1].locator


def test_markdown_links_are_edges_with_their_target_resolved_inside_the_source():
    text = ("See [the guide](../guide/intro.md#setup) and [home](https://example.org).\n"
            "![logo](img.png) is an image, not a link.\n```\n[not](a-link.md)\n```\n"
            "[up too far](../../../x.md) [anchor](#top)\n")
    links = [e.payload for e in extract_links(text, "docs/a/readme.md")]
    assert [(p["target"], p["resolved_path"], p["external"], p["line"]) for p in links] == [
        ("../guide/intro.md#setup", "docs/guide/intro.md", False, 0),
        ("https://example.org", None, True, 0),
        ("../../../x.md", None, False, 5),
        ("#top", "docs/a/readme.md", False, 5),
    ]
    assert links[0]["text"] == "the guide" and all(p["edge_kind"] == "link" for p in links)
