"""Extraction of file evidence: every extractor over one file, and many files in chunks, in a pool when it pays.

``iter_extracted`` yields each chunk's records (one frame) and per-file errors, in the order given. With more
than one worker and at least ``POOL_MIN_FILES`` files (or fewer, when an earlier step of this
process left its pool warm: ``core.pool.WARM``), chunks of files go to a spawn process pool (each
worker opens the objects store itself and runs ruff on its own chunk); the rows are exactly what
one process makes, because each file's rows depend on that file alone and the order is kept.
``EVIDENCE_LAKE_WORKERS`` sets the pool size (default: the machine's cores; 1 turns the pool off).
``prestart_extraction`` starts that pool ahead, from the snapshot step, when a run will extract every file.
"""

from __future__ import annotations

import ast
import hashlib
import os
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from core.canonical import canonical_json, canonical_text
from core.contracts import EVIDENCE_RECORDS
from core.extract.base import Extracted, decode_text, parse_python, text_lines
from core.extract.markdown import extract_links, extract_sections
from core.extract.python_imports import extract_imports
from core.extract.python_symbols import extract_symbols
from core.extract.ruff_lint import EXTRACTOR as RUFF
from core.extract.ruff_lint import find_ruff, lint
from core.extract.ruff_lint import to_evidence as ruff_evidence
from core.extract.text_metrics import extract_diagnostics, extract_metrics
from core.objects import ObjectStore
from core.perf import paused_gc
from core.pool import WARM, in_order, workers_setting
from core.readers.entries import lang_hint

CHUNK_FILES = 200
POOL_MIN_FILES = 600  # below this, starting workers (imports, ruff probe) costs more than it saves
WARM_CHUNKS_PER_WORKER = 4  # for fewer files on a pool already started (see iter_extracted)
FILE_RECORD_COLUMNS = ("evidence_id", "kind", "path", "line_start", "line_end", "line_offset", "locator", "object",
                       "payload", "payload_sha256", "payload_crc32", "extractor", "extractor_version", "event_time")


def evidence_id(source: str, path: str, kind: str, locator: dict, payload_sha256: str, extractor_version: str) -> str:
    """DESIGN §4: no day in it, so unchanged evidence keeps its id from one day to the next."""
    ident = {"source": source, "path": path, "kind": kind, "locator": locator, "payload_sha256": payload_sha256,
             "extractor_version": extractor_version}
    return hashlib.sha256(canonical_json(ident)).hexdigest()


def id_json_frame(source: str, path: str, kind: str, extractor_version: str) -> tuple[bytes, bytes, bytes]:
    """``evidence_id``'s canonical JSON around its two per-record values: (the text before the locator, the
    text between the locator and the payload digest, the text after the digest).

    Joined around a canonical locator and a digest, the same bytes ``evidence_id`` hashes (keys in sorted
    order, tested through ``line_evidence_ids`` and ``core.evidence.intact``): for callers that make or
    check an id per record and would otherwise build and serialise a dict for each.
    """
    return (b'{"extractor_version":' + canonical_json(extractor_version) + b',"kind":' + canonical_json(kind)
            + b',"locator":',
            b',"path":' + canonical_json(path) + b',"payload_sha256":"',
            b'","source":' + canonical_json(source) + b"}")


def line_evidence_ids(source: str, path: str, extractor_version: str, kinds: Sequence[str], offsets: Sequence[int],
                      digests: Sequence[str]) -> list[str]:
    """``evidence_id(source, path, kind, {"line_offset": n}, digest, extractor_version)`` of each line of one
    stream file, from (kinds, offsets, digests) given as parallel lists.

    The same bytes (test), spliced from per-kind templates: the canonical dict of a line differs only
    in kind, offset and digest, and building it per line was a tenth of the kb stream's time. The
    locator text is ``line_locators``' and never made here.
    """
    sha256 = hashlib.sha256
    templates: dict[str, tuple[bytes, bytes, bytes]] = {}  # kind -> (head, middle, tail); path and source fixed
    ids: list[str] = []
    for kind, offset, digest in zip(kinds, offsets, digests, strict=True):
        template = templates.get(kind)
        if template is None:
            before, between, after = id_json_frame(source, path, kind, extractor_version)
            template = templates[kind] = (before + b'{"line_offset":', b"}" + between, after)
        ids.append(sha256(b"%s%d%s%s%s" % (template[0], offset, template[1], digest.encode(), template[2]))
                   .hexdigest())
    return ids


def line_locators(offsets: pl.Expr) -> pl.Expr:
    """``canonical_text({"line_offset": n})`` of an integer column, in polars (test)."""
    return pl.concat_str(pl.lit('{"line_offset":'), offsets.cast(pl.Utf8), pl.lit("}"))


def file_record_row(source: str, e: Extracted, path: str, obj: str) -> tuple:
    """One evidence/records row (FILE_RECORD_COLUMNS) for one extracted item of a file."""
    payload = canonical_json(e.payload)
    digest = hashlib.sha256(payload).hexdigest()
    return (evidence_id(source, path, e.kind, e.locator, digest, e.extractor_version), e.kind, path, e.line_start,
            e.line_end, None, canonical_text(e.locator), obj, payload.decode("utf-8"), digest,
            zlib.crc32(payload) & 0xFFFFFFFF, e.extractor, e.extractor_version, None)


LintOutcome = tuple[list[dict] | None, str | None]  # ruff's findings for one file, or why there are none


def extract_file(data: bytes, path: str, lint: LintOutcome | None = None) -> tuple[list[Extracted], list[str]]:
    """All file extractors over one text file; an extractor that raises is reported, not fatal.

    A Python file is parsed once for every ast-based extractor; ``lint`` is what the batch ruff
    run (``core.extract.ruff_lint``) found in it, and its records come last.
    """
    out, errors = _extract_unlinted(data, path)
    if lint is not None and lang_hint(path) == "python":
        _add_lint(out, errors, lint)
    return out, errors


def _extract_unlinted(data: bytes, path: str) -> tuple[list[Extracted], list[str]]:
    """Every extractor but ruff's, in their fixed order."""
    lang = lang_hint(path)
    text = decode_text(data)
    out: list[Extracted] = []
    errors: list[str] = []
    lines = text_lines(text)  # one split serves every extractor
    parsed = parse_python(text, path) if lang == "python" else None
    tree = parsed if isinstance(parsed, ast.Module) else None
    steps = [("text_metrics", lambda: [extract_metrics(data, text, lang, lines)]),
             ("diagnostics", lambda: extract_diagnostics(data, text, lang, path, parsed, lines))]
    if lang == "markdown":
        steps.append(("markdown_sections", lambda: extract_sections(text, lines)))
        steps.append(("markdown_links", lambda: extract_links(text, path, lines)))
    if lang == "python":
        steps.append(("python_symbols", lambda: extract_symbols(text, path, tree, lines) if tree is not None
                      else []))
        steps.append(("python_imports", lambda: extract_imports(tree, path) if tree is not None else []))
    for name, step in steps:
        try:
            out.extend(step())
        except Exception as exc:  # a bug or a pathological file: quarantine, keep the other extractors
            errors.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
    return out, errors


def _add_lint(out: list[Extracted], errors: list[str], lint: LintOutcome) -> None:
    """ruff's records of one Python file after the others, or why there are none."""
    findings, why_not = lint
    if findings is None:
        errors.append(f"{RUFF}: {why_not}"[:300])
        return
    try:
        out.extend(ruff_evidence(findings))
    except Exception as exc:  # ruff's JSON changed shape: this file's lint is lost, nothing else
        errors.append(f"{RUFF}: {type(exc).__name__}: {exc}"[:300])


def records_frame(columns: dict[str, list | pl.Series]) -> pl.DataFrame:
    """evidence/records' varying columns (FILE_RECORD_COLUMNS, any order) typed by the contract, unstamped.

    ``event_time`` comes as epoch microseconds (or None). The one place these columns get their
    types, for stream lines in a worker and for file rows alike; a column may come as a built Series.
    """
    schema = EVIDENCE_RECORDS.polars_schema
    names = [n for n in schema if n in columns]
    types = {n: (pl.Int64 if n == "event_time" else schema[n]) for n in names}
    df = pl.DataFrame({n: columns[n] for n in names}, schema=types)
    return df.with_columns(pl.col("event_time").cast(schema["event_time"])) if "event_time" in types else df


ChunkResult = tuple[pl.DataFrame, list[tuple[str, list[str]]]]  # records of the chunk; (path, errors) per file


def extract_chunk(store: ObjectStore, source: str, items: list[tuple[str, str]],
                  lint_beside: bool = False) -> ChunkResult:
    """The records of a chunk of (path, object) as one frame, in file order, and each file's extractor errors.

    ruff runs once over the chunk's Python files; with ``lint_beside`` it runs while the other
    extractors parse, which pays only with a core to spare (one process: the determinism check's
    sample went 3.1-3.2 -> 2.4-2.8 s; in a pool of one worker per core the evidence step slowed).
    Returning a frame (Arrow when it crosses from a worker) spares the parent a Python object per
    value of every record.
    """
    data = {path: store.get(obj) for path, obj in items}
    python = [(path, data[path]) for path, _ in items if lang_hint(path) == "python"]
    if lint_beside:
        with ThreadPoolExecutor(1, thread_name_prefix="ruff") as lint_thread:  # waits on ruff without the GIL
            linting = lint_thread.submit(lint, python)
            unlinted = [_extract_unlinted(data.pop(path), path) for path, _ in items]
            found = linting.result()
    else:
        found = lint(python)
        unlinted = [_extract_unlinted(data.pop(path), path) for path, _ in items]
    columns: dict[str, list] = {name: [] for name in FILE_RECORD_COLUMNS}
    lists = [columns[name] for name in FILE_RECORD_COLUMNS]
    per_file = []
    for (path, obj), (records, errors) in zip(items, unlinted, strict=True):
        if lang_hint(path) == "python":
            _add_lint(records, errors, (found.findings[path], None) if path in found.findings else
                      (None, found.errors.get(path, "ruff reported nothing for this file")))
        for e in records:
            for values, value in zip(lists, file_record_row(source, e, path, obj), strict=True):
                values.append(value)
        per_file.append((path, errors))
    return records_frame(columns), per_file


def _worker_chunk(lake_root: str, storage_options: dict | None, source: str,
                  items: list[tuple[str, str]]) -> ChunkResult:
    with paused_gc():  # as in build_evidence: ASTs are many small objects, and gc passes over them cost 2x
        return extract_chunk(ObjectStore(lake_root, storage_options), source, items)


def warm_worker() -> None:
    """What a worker's first chunk would otherwise wait for, done as the worker starts: this module's imports
    (polars, the extractors; made by unpickling this function) and ruff's version probe."""
    find_ruff()


def prestart_extraction(files: int, workers: int | None = None) -> bool:
    """Start the extraction pool now if extracting ``files`` files will use it (``iter_extracted``'s rule), so
    its workers start while the caller (the snapshot step) still works; True when it was started."""
    workers = workers_setting() if workers is None else workers
    return files >= POOL_MIN_FILES and WARM.prestart(workers, warm_worker)


def iter_extracted(store: ObjectStore, source: str, items: list[tuple[str, str]], workers: int | None = None,
                   chunk_files: int | None = None) -> Iterator[ChunkResult]:
    """``extract_chunk`` of consecutive chunks of ``items``, in order; in a spawn pool when it pays."""
    workers = workers_setting() if workers is None else workers
    # a pool left warm by an earlier step of this process (the evidence step, for its check's sample) pays
    # for fewer files: no worker has to start. Four chunks a worker even out files of unequal size (the
    # check's 220 stdlib files: 1.5-1.7 s in two chunks a worker, 0.9-1.2 s in four; 2.0-2.3 s here)
    warm = (workers > 1 and len(items) < POOL_MIN_FILES and WARM.ready() == workers
            and len(items) >= WARM_CHUNKS_PER_WORKER * workers)
    chunk_files = chunk_files or (-(-len(items) // (WARM_CHUNKS_PER_WORKER * workers)) if warm else CHUNK_FILES)
    chunks = [items[i:i + chunk_files] for i in range(0, len(items), chunk_files)]
    if workers <= 1 or (len(items) < POOL_MIN_FILES and not warm) or len(chunks) < 2:
        spare_core = (os.cpu_count() or 1) > 1
        for chunk in chunks:
            yield extract_chunk(store, source, chunk, lint_beside=spare_core)
        return
    tasks = ((store.lake_root, store.storage_options, source, chunk) for chunk in chunks)
    yield from in_order(_worker_chunk, tasks, min(workers, len(chunks)), keep_warm=True)
