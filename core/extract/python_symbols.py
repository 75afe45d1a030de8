"""Python symbols via ``ast``: module, class, function, async function, method, and the names bound by
assignments at module level (``constant`` when UPPER_CASE, else ``variable``) and in class bodies
(``attribute``). Parameters are not symbols: they are searchable in their function's signature.

Qualified names start with the module's dotted name derived from the path
(``tools/checksum.py`` → ``tools.checksum``; a package ``__init__.py`` is the package).
Line ranges are 0-based, end exclusive, and start at the first decorator.
"""

from __future__ import annotations

import ast

from core.extract.base import Extracted, parse_python, text_lines


def module_name(path: str) -> str:
    stem = path[:-3] if path.endswith(".py") else path.rsplit(".", 1)[0]
    parts = [p for p in stem.split("/") if p]
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "__main__"


_DEFINITIONS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_ASSIGNMENTS = frozenset({ast.Assign, ast.AnnAssign})
_VISITED = _DEFINITIONS | _ASSIGNMENTS | {ast.If, ast.Try, ast.With, ast.AsyncWith}
MAX_VALUE_CHARS = 120  # of the assignment's first source line, kept on the symbol


def _bound_names(targets: list[ast.expr]) -> list[str]:
    """Plain names an assignment binds (``a = b = 1``, ``a, (b, c) = …``); attributes and subscripts bind none."""
    out: list[str] = []
    for target in targets:
        if isinstance(target, ast.Name):
            out.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            out.extend(_bound_names(target.elts))
        elif isinstance(target, ast.Starred):
            out.extend(_bound_names([target.value]))
    return out


def _is_constant(name: str) -> bool:
    return name.upper() == name and any(c.isalpha() for c in name)


def _first_doc_line(node: ast.AST) -> str | None:
    if not isinstance(node, (ast.AsyncFunctionDef, ast.FunctionDef, ast.ClassDef, ast.Module)):
        return None
    doc = ast.get_docstring(node, clean=True)
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    sig = f"({ast.unparse(node.args)})"
    return f"{sig} -> {ast.unparse(node.returns)}" if node.returns is not None else sig


def _symbol(qualname: str, kind: str, node: ast.AST, start: int, end: int, **extra) -> Extracted:
    payload = {
        "qualified_name": qualname,
        "name": qualname.rsplit(".", 1)[-1],
        "symbol_kind": kind,
        "doc": _first_doc_line(node),
        "line_start": start,
        "line_end": end,
        **extra,
    }
    return Extracted(kind="symbol", extractor="python_symbols", locator={"qualified_name": qualname, "line": start},
                     line_start=start, line_end=end, payload=payload)


def extract_symbols(text: str, path: str, tree: ast.Module | None = None,
                    lines: list[str] | None = None) -> list[Extracted]:
    """Every symbol of the module; a file that does not parse gives none (diagnostics report it).

    ``tree``: the module already parsed by the caller (one parse serves every Python extractor), and
    ``lines``: ``text_lines(text)``, when the caller has them.
    """
    if tree is None:
        parsed = parse_python(text, path)
        if isinstance(parsed, BaseException):
            return []
        tree = parsed
    module = module_name(path)
    lines = text_lines(text) if lines is None else lines
    n_lines = len(lines)
    out = [_symbol(module, "module", tree, 0, n_lines, signature=None, decorators=[])]

    seen: set[tuple[str, int]] = set()

    def visit(body: list[ast.stmt], prefix: str, in_class: bool, in_function: bool = False) -> None:
        for node in body:
            kind_of = type(node)  # exact types: ast.parse makes no subclasses, and a set lookup beats isinstance
            if kind_of not in _VISITED:
                continue
            if kind_of in _DEFINITIONS:
                start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
                end = node.end_lineno or node.lineno
                qual = f"{prefix}.{node.name}"
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if isinstance(node, ast.ClassDef):
                    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
                    out.append(_symbol(qual, "class", node, start, end, signature=f"({', '.join(bases)})",
                                       decorators=decorators))
                    visit(node.body, qual, in_class=True, in_function=in_function)
                else:
                    is_async = isinstance(node, ast.AsyncFunctionDef)
                    kind = "method" if in_class else ("async_function" if is_async else "function")
                    out.append(_symbol(qual, kind, node, start, end, signature=_signature(node),
                                       decorators=decorators, is_async=is_async))
                    visit(node.body, qual, in_class=False, in_function=True)
            elif kind_of in _ASSIGNMENTS:
                if in_function:
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                annotation = ast.unparse(node.annotation) if isinstance(node, ast.AnnAssign) else None
                start, end = node.lineno - 1, node.end_lineno or node.lineno
                value = lines[start].strip()[:MAX_VALUE_CHARS] if start < len(lines) else None  # not unparse: O(1)
                for name in _bound_names(targets):
                    qual = f"{prefix}.{name}"
                    if (qual, start) in seen:  # `X = 1; X = 1` on one line: one symbol
                        continue
                    seen.add((qual, start))
                    kind = "attribute" if in_class else ("constant" if _is_constant(name) else "variable")
                    out.append(_symbol(qual, kind, node, start, end, signature=annotation, decorators=[],
                                       value=value))
            else:  # if, try, with: their blocks are walked for symbols at this level
                for block in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, block, None) or []
                    if inner:  # most of the four are empty
                        stmts = [s for h in inner for s in h.body] if block == "handlers" else inner
                        visit(stmts, prefix, in_class, in_function)

    visit(tree.body, module, in_class=False)
    return out
