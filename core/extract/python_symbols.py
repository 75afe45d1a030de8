"""Python symbols via ``ast``: module, class, function, async function and method.

Qualified names start with the module's dotted name derived from the path
(``tools/checksum.py`` → ``tools.checksum``; a package ``__init__.py`` is the package).
Line ranges are 0-based, end exclusive, and start at the first decorator.
"""

from __future__ import annotations

import ast

from core.extract.base import Extracted, text_lines


def module_name(path: str) -> str:
    stem = path[:-3] if path.endswith(".py") else path.rsplit(".", 1)[0]
    parts = [p for p in stem.split("/") if p]
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "__main__"


def _first_doc_line(node: ast.AST) -> str | None:
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


def extract_symbols(text: str, path: str, tree: ast.Module | None = None) -> list[Extracted]:
    """Every symbol of the module; a file that does not parse gives none (diagnostics report it).

    ``tree``: the module already parsed by the caller (one parse serves every Python extractor).
    """
    if tree is None:
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
    module = module_name(path)
    n_lines = len(text_lines(text))
    out = [_symbol(module, "module", tree, 0, n_lines, signature=None, decorators=[])]

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
                end = node.end_lineno or node.lineno
                qual = f"{prefix}.{node.name}"
                decorators = [ast.unparse(d) for d in node.decorator_list]
                if isinstance(node, ast.ClassDef):
                    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
                    out.append(_symbol(qual, "class", node, start, end, signature=f"({', '.join(bases)})",
                                       decorators=decorators))
                    visit(node.body, qual, in_class=True)
                else:
                    is_async = isinstance(node, ast.AsyncFunctionDef)
                    kind = "method" if in_class else ("async_function" if is_async else "function")
                    out.append(_symbol(qual, kind, node, start, end, signature=_signature(node),
                                       decorators=decorators, is_async=is_async))
                    visit(node.body, qual, in_class=False)
            elif isinstance(node, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, block, None) or []
                    stmts = [s for h in inner for s in h.body] if block == "handlers" else inner
                    visit(stmts, prefix, in_class)

    visit(tree.body, module, in_class=False)
    return out
