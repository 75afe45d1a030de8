"""Import edges of a Python module: one ``edge`` record per imported name.

``import a.b as c`` gives module ``a.b``, alias ``c``; ``from .x import y`` in package ``p.q``
gives module ``p.q.x``, name ``y``, level 1. A relative import that climbs above the top-level
package keeps ``module`` null (``resolved`` false) and its raw form. Each edge says whether it
sits under a condition (``if``, ``try``, ``with``, a function body) and whether it is a
``TYPE_CHECKING`` import, so "who imports X at run time" is a filter, not a guess.
"""

from __future__ import annotations

import ast
from collections import Counter

from core.extract.base import Extracted
from core.extract.python_symbols import module_name


def _package(path: str) -> str:
    module = module_name(path)
    if path.rsplit("/", 1)[-1] in ("__init__.py", "__init__.pyi"):
        return module
    return module.rsplit(".", 1)[0] if "." in module else ""


def resolve(package: str, level: int, module: str | None) -> str | None:
    """The absolute module of ``from <level dots><module> import …`` in ``package``; None above the top."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


BLOCKS = ("body", "orelse", "finalbody", "handlers", "cases")  # every field of a statement that holds statements
# the statement types with such a field: any other statement is passed over without looking at its fields
# (five getattr per statement were 0.8 s of the stdlib's 14 s of extraction)
COMPOUND = frozenset(t for t in ast.stmt.__subclasses__() if set(t._fields) & set(BLOCKS))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def extract_imports(tree: ast.Module, path: str) -> list[Extracted]:
    """Every import of the module, in source order."""
    importer, package = module_name(path), _package(path)
    out: list[Extracted] = []
    seen: Counter[tuple] = Counter()

    def edge(node: ast.Import | ast.ImportFrom, raw: str, module: str | None, name: str | None, alias: str | None,
             level: int, conditional: bool, type_checking: bool, scope: str) -> None:
        line = node.lineno - 1
        key = (line, raw, name)
        seen[key] += 1
        payload = {"edge_kind": "import", "importer": importer, "module": module, "raw_module": raw,
                   "name": name, "alias": alias, "level": level, "resolved": module is not None,
                   "star": name == "*", "conditional": conditional, "type_checking": type_checking,
                   "scope": scope, "line": line}
        out.append(Extracted(kind="edge", extractor="python_imports", line_start=line,
                             line_end=(node.end_lineno or node.lineno), payload=payload,
                             locator={"line": line, "module": raw, "name": name, "n": seen[key]}))

    def visit(body: list[ast.stmt], conditional: bool, type_checking: bool, scope: str) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    edge(node, a.name, a.name, None, a.asname, 0, conditional, type_checking, scope)
                continue
            if isinstance(node, ast.ImportFrom):
                raw = "." * node.level + (node.module or "")
                module = resolve(package, node.level, node.module)
                for a in node.names:
                    edge(node, raw, module, a.name, a.asname, node.level, conditional, type_checking, scope)
                continue
            if type(node) not in COMPOUND:  # a simple statement: nothing nested can import
                continue
            blocks = [(f, getattr(node, f)) for f in BLOCKS if getattr(node, f, None)]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = (True, "function")
            elif isinstance(node, ast.ClassDef):
                inner = (conditional, "class" if scope == "module" else scope)
            else:  # if, try, with, for, while, match: every compound statement makes its body conditional
                inner = (True, scope)
            for field, value in blocks:
                checking = type_checking or (field == "body" and isinstance(node, ast.If)
                                             and _is_type_checking(node.test))
                stmts = value if field not in ("handlers", "cases") else [s for item in value for s in item.body]
                visit(stmts, inner[0], checking, inner[1])

    visit(tree.body, False, False, "module")
    return out
