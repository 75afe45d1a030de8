"""Lint diagnostics for Python files from ruff, run in batch over a scratch copy of the files (in
tmpfs when there is one).

One ``ruff check`` per batch of files, ``--isolated`` (no config file of the tree or the
machine applies), a pinned rule set and target version, JSON output. Files keep their
snapshot paths under the scratch folder, so path-dependent behaviour (``__init__.py``) is
what ruff gives on the real tree. A batch that exceeds its time budget is re-run file by
file; a file that still times out, or a ruff that is missing, becomes an ``extractor_error``
reject naming the file, and the other extractors are unaffected.

The extractor version carries ruff's version and a hash of the rule set, so every id
changes when either does. Syntax errors are not taken from ruff: the ``diagnostics``
extractor reports them from ``ast`` whether or not ruff is installed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import orjson

from core.extract.base import EXTRACTOR_VERSIONS, Extracted

EXTRACTOR = "ruff_diagnostics"
BASE_VERSION = "1.0.0"
RULES = ("B", "E4", "E7", "E9", "F", "PLE", "UP", "W6")  # 25,490 findings on the 3.11 stdlib (peer: 27,609)
TARGET = "py311"
BATCH_FILES = 500
BATCH_TIMEOUT_S = 60.0 + 0.1 * BATCH_FILES
FILE_TIMEOUT_S = 20.0
SKIPPED_CODES = ("invalid-syntax",)  # reported by the ast-based `diagnostics` extractor instead
FATAL_PREFIXES = ("E9", "F63", "F7", "F82", "PLE")  # code that cannot run or raises at once


@dataclass(frozen=True)
class Ruff:
    """The ruff binary this process uses, and the extractor version it implies."""

    binary: str | None
    version: str | None

    @property
    def extractor_version(self) -> str:
        rules = hashlib.sha256(",".join((*RULES, TARGET)).encode()).hexdigest()[:8]
        return f"{BASE_VERSION}+ruff{self.version or '-missing'}+rules{rules}"


@lru_cache(maxsize=8)
def _probe(binary: str | None) -> Ruff:
    if binary is None:
        return Ruff(None, None)
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return Ruff(None, None)
    return Ruff(binary, out.split()[-1] if out.split() else "unknown")


def find_ruff() -> Ruff:
    """``EVIDENCE_LAKE_RUFF`` if set, else the ruff installed beside this Python, else the one on PATH."""
    wanted = os.environ.get("EVIDENCE_LAKE_RUFF")
    if wanted is None:
        try:
            from ruff.__main__ import find_ruff_bin

            wanted = os.fsdecode(find_ruff_bin())
        except (ImportError, FileNotFoundError):
            wanted = shutil.which("ruff")
    ruff = _probe(wanted)
    EXTRACTOR_VERSIONS[EXTRACTOR] = ruff.extractor_version
    return ruff


@dataclass
class LintResult:
    """Per snapshot path: ruff's findings, or why there are none."""

    findings: dict[str, list[dict]]
    errors: dict[str, str]


def _run(ruff: Ruff, root: Path, names: list[str], timeout: float) -> list[dict]:
    cmd = [ruff.binary, "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
           "--select", ",".join(RULES), "--target-version", TARGET, "--", *names]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1", "RUFF_NO_CACHE": "true"})
    if proc.returncode != 0:
        raise RuntimeError(f"ruff exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[:200]}")
    return orjson.loads(proc.stdout or b"[]")  # 16 MB for the stdlib: a third of json's time


def lint(files: list[tuple[str, bytes]]) -> LintResult:
    """ruff's findings for ``(snapshot path, bytes)`` pairs; never raises for a file's sake."""
    ruff = find_ruff()
    result = LintResult({}, {})
    if not files:
        return result
    if ruff.binary is None:
        for path, _ in files:
            result.errors[path] = ("ruff is not installed (pip install ruff, or set EVIDENCE_LAKE_RUFF to its path); "
                                   "no lint diagnostics for this file")
        return result
    for parent in scratch_parents():
        try:
            with tempfile.TemporaryDirectory(prefix="evidence-lake-ruff-", dir=parent) as scratch:
                _lint_in(ruff, Path(scratch).resolve(), files, result)
            return result
        except OSError as exc:  # a tmpfs too small for the batch (a container's 64 MB /dev/shm): the next place
            if exc.errno != errno.ENOSPC or parent is None:
                raise
            result = LintResult({}, {})
    return result


SCRATCH_TMPFS = Path("/dev/shm")


def scratch_parents() -> list[str | None]:
    """Where ruff's scratch copy goes, first choice first: tmpfs when there is one and TMPDIR does not name
    a place, then the temporary directory. Writing the stdlib's 1,787 Python files took 0.55 s on this
    machine's disk and a tenth of it in tmpfs: a fifth of the lint's time. The copy lives for one call.
    """
    tmpfs = SCRATCH_TMPFS
    if not os.environ.get("TMPDIR") and tmpfs.is_dir() and os.access(tmpfs, os.W_OK | os.X_OK):
        return [str(tmpfs), None]
    return [None]


def place(root: Path, path: str, data: bytes) -> bool:
    """Write one file of the scratch copy at its snapshot path; False for a path that leaves ``root``."""
    target = (root / path).resolve()
    if not target.is_relative_to(root) or target == root:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return True


def _lint_in(ruff: Ruff, root: Path, files: list[tuple[str, bytes]], result: LintResult) -> None:
    """Copy ``files`` under the scratch folder ``root`` and lint them there, a batch at a time, into ``result``."""
    placed: list[str] = []
    for path, data in files:
        if place(root, path, data):
            placed.append(path)
        else:
            result.errors[path] = "path leaves the scratch folder; not linted"
    for start in range(0, len(placed), BATCH_FILES):
        batch = placed[start:start + BATCH_FILES]
        try:
            _collect(result, root, _run(ruff, root, batch, BATCH_TIMEOUT_S), batch)
        except (subprocess.TimeoutExpired, RuntimeError, ValueError):
            for path in batch:  # one file at a time: only the file that hangs or breaks ruff is lost
                try:
                    _collect(result, root, _run(ruff, root, [path], FILE_TIMEOUT_S), [path])
                except subprocess.TimeoutExpired:
                    result.errors[path] = f"ruff timed out after {FILE_TIMEOUT_S:.0f} s on this file"
                except (RuntimeError, ValueError) as exc:
                    result.errors[path] = f"ruff failed on this file: {exc}"[:300]


def _collect(result: LintResult, root: Path, findings: list[dict], batch: list[str]) -> None:
    for path in batch:
        result.findings.setdefault(path, [])
    paths: dict[str, str] = {}  # ruff's file name -> snapshot path: one resolve() per file, not per finding
    for f in findings:
        path = paths.get(f["filename"])
        if path is None:
            name = Path(f["filename"])
            path = paths[f["filename"]] = (name if name.is_absolute() else root / name).resolve().relative_to(
                root).as_posix()
        if f.get("code") not in SKIPPED_CODES:  # only what to_evidence reads: fix edits can be large
            fix = {"applicability": (f.get("fix") or {}).get("applicability")} if f.get("fix") else None
            result.findings.setdefault(path, []).append({
                "code": f.get("code"), "name": f.get("name"), "message": f.get("message", ""),
                "location": f["location"], "end_location": f.get("end_location") or f["location"], "fix": fix})


def _severity(code: str) -> str:
    return "error" if code.startswith(FATAL_PREFIXES) else "warning"


def to_evidence(findings: list[dict]) -> list[Extracted]:
    """One ``diagnostic`` per finding (0-based lines), and one ``metric`` summary that says ruff ran."""
    out: list[Extracted] = []
    seen: Counter[tuple] = Counter()
    ordered = sorted(findings, key=lambda f: (f["location"]["row"], f["location"]["column"], f["code"] or "",
                                              f["message"]))
    for f in ordered:
        code, row, col = f["code"] or "unknown", f["location"]["row"] - 1, f["location"]["column"]
        end_row = max(f["end_location"]["row"] - 1, row)
        key = (code, row, col)
        seen[key] += 1
        fix = f.get("fix") or {}
        payload = {"code": code, "rule": f.get("name"), "message": f["message"], "line": row, "column": col,
                   "end_line": end_row, "end_column": f["end_location"]["column"], "severity": _severity(code),
                   "fix_available": bool(fix), "fix_applicability": fix.get("applicability"), "tool": "ruff"}
        out.append(Extracted(kind="diagnostic", extractor=EXTRACTOR, line_start=row, line_end=end_row + 1,
                             locator={"code": code, "line": row, "column": col, "n": seen[key]}, payload=payload))
    by_code = Counter(f["code"] or "unknown" for f in findings)
    out.append(Extracted(kind="metric", extractor=EXTRACTOR, locator={"tool": "ruff"}, payload={
        "tool": "ruff", "rules": list(RULES), "target": TARGET, "findings": len(findings),
        "fixable": sum(1 for f in findings if f.get("fix")), "by_code": dict(sorted(by_code.items()))}))
    return out
