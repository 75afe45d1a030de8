"""Evidence for one (source, day) partition: records, rejects and a receipt that reconciles.

Every snapshot file ends up as evidence, as a reject with a reason (``binary``, a
not-stored status, ``extractor_error``), or both (an extractor failed on a file other
extractors could read). Every jsonl line ends up as exactly one record or one reject.
Files whose (object, path) were already extracted with the current extractor versions
are reused from an earlier partition instead of being extracted again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections import Counter, deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import polars as pl

from core.canonical import CanonicalJSONError, canonical_json
from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS
from core.extract.base import EXTRACTOR_VERSIONS
from core.extract.ruff_lint import EXTRACTOR as RUFF
from core.extract.ruff_lint import find_ruff
from core.extract.streams import DEFAULT_MAX_LINE_BYTES, LineReject, excerpt
from core.file_extraction import (  # noqa: F401 (re-exported)
    evidence_id,
    extract_file,
    id_json_frame,
    iter_extracted,
)
from core.objects import ObjectStore
from core.perf import paused_gc
from core.progress import Progress
from core.readers.entries import lang_hint
from core.stream_extraction import iter_stream_chunks


@dataclass
class EvidenceResult:
    records: pl.DataFrame
    rejects: pl.DataFrame
    receipt: dict = field(default_factory=dict)


def reject_id(source: str, path: str, line_offset: int | None, reason: str, raw_sha256: str | None) -> str:
    ident = {"source": source, "path": path, "line_offset": line_offset, "reason": reason, "raw_sha256": raw_sha256}
    return hashlib.sha256(canonical_json(ident)).hexdigest()


class _Builder:
    """Record frames as the extractors made them (file and stream chunks), and reject columns."""

    def __init__(self, source: str, day: dt.date, recorded_at: dt.datetime) -> None:
        self.source, self.day, self.recorded_at = source, day, recorded_at
        self.records: list[pl.DataFrame] = []
        self.rej: dict[str, list] = {c.name: [] for c in EVIDENCE_REJECTS.columns}

    def file_records(self, records: pl.DataFrame) -> None:
        """Records of a chunk (files or stream lines) as framed by the extractors, possibly in a worker."""
        self.records.append(EVIDENCE_RECORDS.stamp(records, self.source, self.day, recorded_at=self.recorded_at))

    def reject(self, path: str, reason: str, detail: str | None, obj: str | None = None,
               line_offset: int | None = None, byte_range: tuple[int, int] | None = None,
               raw: bytes | None = None) -> None:
        raw_sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
        j = self.rej
        j["reject_id"].append(reject_id(self.source, path, line_offset, reason, raw_sha))
        j["path"].append(path)
        j["line_offset"].append(line_offset)
        j["byte_start"].append(byte_range[0] if byte_range else None)
        j["byte_end"].append(byte_range[1] if byte_range else None)
        j["reason"].append(reason)
        j["detail"].append(detail)
        j["object"].append(obj)
        j["raw_sha256"].append(raw_sha)
        j["raw_excerpt"].append(excerpt(raw) if raw is not None else None)

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """All rows as two frames (record chunks concatenated without copying; constant columns as literals)."""
        records = pl.concat(self.records, rechunk=False) if self.records else EVIDENCE_RECORDS.empty()
        constant = ("schema_name", "schema_version", "source", "day", "recorded_at")
        schema = EVIDENCE_REJECTS.polars_schema
        rejects = pl.DataFrame({name: values for name, values in self.rej.items() if name not in constant},
                               schema={name: schema[name] for name in self.rej if name not in constant})
        return records, EVIDENCE_REJECTS.stamp(rejects, self.source, self.day, recorded_at=self.recorded_at)


def intact(prior: pl.DataFrame) -> pl.Series:
    """Per row: do payload_sha256, payload_crc32 and evidence_id still match the payload?

    Reuse copies rows forward; a row tampered with (or rotted) in storage must be extracted
    again, never carried into the next partition. Costs two sha256 and a crc32 per reused row: the
    id's canonical JSON is spliced from the stored locator text (``id_json_frame``, once per file and
    kind; building and serialising a dict per row was 3/4 of the time). A locator
    stored in any form but its canonical text is not intact either (a fresh extraction writes that).
    """
    sha256, crc32 = hashlib.sha256, zlib.crc32
    frames: dict[tuple[str, str, str, str], tuple[bytes, bytes, bytes]] = {}
    ok = []
    for source, path, kind, locator, payload, sha, crc, version, eid in prior.select(
            "source", "path", "kind", "locator", "payload", "payload_sha256", "payload_crc32",
            "extractor_version", "evidence_id").iter_rows():
        try:
            data = payload.encode("utf-8")
            digest = sha256(data).hexdigest()
            good = digest == sha and (crc32(data) & 0xFFFFFFFF) == crc
            if good:
                key = (source, path, kind, version)
                frame = frames.get(key)
                if frame is None:
                    frame = frames[key] = id_json_frame(source, path, kind, version)
                ident = b"".join((frame[0], locator.encode("utf-8"), frame[1], digest.encode("ascii"), frame[2]))
                good = sha256(ident).hexdigest() == eid
        except (AttributeError, TypeError, UnicodeEncodeError, CanonicalJSONError):  # a null, a lone surrogate
            good = False
        ok.append(good)
    return pl.Series("intact", ok, dtype=pl.Boolean)


def reusable_keys(prior: pl.DataFrame) -> pl.DataFrame:
    """(object, path) pairs whose earlier records are all intact and made by the current extractor versions.

    Call ``find_ruff()`` first: it puts ruff's extractor version into EXTRACTOR_VERSIONS.
    """
    if prior.height == 0:
        return pl.DataFrame(schema={"object": pl.Utf8, "path": pl.Utf8})
    current = pl.DataFrame({"extractor": list(EXTRACTOR_VERSIONS), "current": list(EXTRACTOR_VERSIONS.values())})
    flagged = prior.with_columns(intact(prior)).join(current, on="extractor", how="left").with_columns(
        ((pl.col("extractor_version") == pl.col("current")).fill_null(False) & pl.col("intact")).alias("ok"))
    per_file = flagged.group_by("object", "path").agg(
        pl.col("ok").all(), (pl.col("extractor") == RUFF).any().alias("linted"))
    python = per_file["path"].map_elements(lambda p: lang_hint(p) == "python", return_dtype=pl.Boolean)
    # a Python file without ruff's summary record was not linted (ruff missing, timed out): lint it now
    return per_file.filter(pl.col("ok") & (pl.col("linted") | ~python)).select("object", "path")


def build_evidence(
    source: str,
    source_kind: str,
    day: dt.date,
    files: pl.DataFrame,
    store: ObjectStore,
    time_field: str,
    recorded_at: dt.datetime,
    prior: pl.DataFrame | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    blocks: Mapping[str, Collection[int]] | None = None,
    report: Callable[[str], None] | None = None,
) -> EvidenceResult:
    """Extract (or reuse) evidence for every row of a snapshot_files partition.

    ``blocks`` ({path: line block numbers}, ``core.check_sample``) extracts only those blocks of each
    stream file's lines: what a sampled determinism check recomputes. ``report`` receives a progress
    message now and then (``core.progress``): lines of a stream source, files to extract of the others.
    """
    with paused_gc():
        return _build(source, source_kind, day, files, store, time_field, recorded_at, prior, max_line_bytes,
                      blocks, report)


def _build(source, source_kind, day, files, store, time_field, recorded_at, prior, max_line_bytes,
           blocks, report) -> EvidenceResult:
    b = _Builder(source, day, recorded_at)
    find_ruff()  # ruff's version enters EXTRACTOR_VERSIONS before any reuse decision or record
    reuse = set()
    if prior is not None and source_kind != "jsonl":
        reuse = {tuple(k) for k in reusable_keys(prior).iter_rows()}
    to_extract = [(path, obj) for path, status, obj, is_text in files.select(
        "path", "status", "object", "is_text").iter_rows()
        if status == "stored" and is_text and source_kind != "jsonl" and (obj, path) not in reuse]
    extracted_chunks = iter_extracted(store, source, to_extract)  # in file order, a pool when it pays
    streams = [(path, obj, offsets or []) for path, status, obj, offsets in files.select(
        "path", "status", "object", "line_offsets").iter_rows() if status == "stored" and source_kind == "jsonl"]
    stream_chunks = iter_stream_chunks(store, source, streams, time_field, max_line_bytes, blocks=blocks)  # likewise
    total, unit = (sum(len(o) for _, _, o in streams), "lines") if streams else (len(to_extract), "files")
    progress = Progress("extracted", total, unit, report)
    chunk_files: deque[tuple[str, list[str]]] = deque()  # (path, errors) of the current chunk's files
    reused_keys: list[tuple[str, str]] = []
    extracted = lines_in = duplicates = 0
    for path, status, obj, is_text, detail, offsets in files.select(
        "path", "status", "object", "is_text", "detail", "line_offsets"
    ).iter_rows():
        if status != "stored":
            b.reject(path, status, detail)
            continue
        if source_kind == "jsonl":
            lines_in += len(offsets or [])
            while True:  # the file's chunks, in line order
                chunk = next(stream_chunks)
                assert chunk.path == path, (chunk.path, path)  # chunks keep file order; anything else is a bug
                b.file_records(chunk.records)
                for reject in chunk.rejects:
                    duplicates += reject.reason == "duplicate"
                    _line_reject(b, path, obj, reject)
                progress.advance(chunk.records.height + len(chunk.rejects))
                if chunk.last:
                    break
            continue
        if not is_text:
            b.reject(path, "binary", "not UTF-8 text (or contains NUL bytes)", obj=obj)
            continue
        if (obj, path) in reuse:
            reused_keys.append((obj, path))
            continue
        extracted += 1
        if not chunk_files:
            chunk_records, per_file = next(extracted_chunks)
            b.file_records(chunk_records)
            chunk_files.extend(per_file)
        done_path, errors = chunk_files.popleft()
        assert done_path == path, (done_path, path)  # the pool keeps file order; anything else is a bug
        progress.advance()
        for err in errors:
            b.reject(path, "extractor_error", err, obj=obj)
    records_df, rejects_df = b.frames()
    if reused_keys:
        keys = pl.DataFrame(reused_keys, schema={"object": pl.Utf8, "path": pl.Utf8}, orient="row")
        again = prior.join(keys, on=["object", "path"], how="semi").with_columns(
            pl.lit(day).alias("day"), pl.lit(recorded_at).cast(EVIDENCE_RECORDS.polars_schema["recorded_at"])
            .alias("recorded_at"))
        records_df = pl.concat([records_df, again.select(records_df.columns)])
    receipt = {
        "inputs": {"files": files.height, "lines": lines_in},
        "records": records_df.height,
        "files_extracted": extracted,
        "files_reused": len(reused_keys),
        "duplicate_lines": duplicates,
        "rejects_by_reason": dict(sorted(Counter(rejects_df["reason"].to_list()).items())),
        "records_by_kind": dict(sorted(Counter(records_df["kind"].to_list()).items())),
        "extractor_versions": dict(sorted(EXTRACTOR_VERSIONS.items())),
    }
    return EvidenceResult(records_df, rejects_df, receipt)


def _line_reject(b: _Builder, path: str, obj: str, r: LineReject) -> None:
    b.reject(path, r.reason, r.detail, obj=obj, line_offset=r.line_offset, byte_range=(r.byte_start, r.byte_end),
             raw=r.raw)
