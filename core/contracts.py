"""Table contracts: columns, types, keys and volatile columns of every lake table.

One ``Col`` list per table is the single source of truth: the pandera (polars)
schema, the empty-frame schema and the hash rules are all derived from it, so a
column cannot be added to one and forgotten in another.

Invariants (tested in tests/unit/test_contracts.py):
  * every table carries schema_name, schema_version, source, day (pl.Date);
  * key columns are non-nullable and unique within a partition;
  * volatile columns are the only columns left out of the content hash.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl
import pyarrow

SHA256_RE = r"^[0-9a-f]{64}$"
UTC_DATETIME = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Col:
    name: str
    dtype: pl.DataType
    nullable: bool = False
    checks: tuple = ()


@dataclass(frozen=True)
class TableContract:
    layer: str
    name: str
    schema_name: str
    schema_version: int
    columns: tuple[Col, ...]
    key: tuple[str, ...]
    volatile: tuple[str, ...] = ()
    description: str = ""
    partition_columns: tuple[str, ...] = field(default=("source", "day"))
    check_prefix: str = ""  # check names are <check_prefix or name>_<rule>
    # Columns that narrow a partition write: rows of the partition whose values in these columns
    # do not occur in the new frame are kept (two scorer versions coexist in distill/scores).
    scope_columns: tuple[str, ...] = ()

    @property
    def check_name(self) -> str:
        return self.check_prefix or self.name

    @property
    def asset_key(self) -> list[str]:
        return [self.layer, self.name]

    @property
    def table_id(self) -> str:
        return f"{self.layer}/{self.name}"

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def pandera_schema(self) -> pa.DataFrameSchema:
        cols = {
            c.name: pa.Column(c.dtype, nullable=c.nullable, checks=list(c.checks), required=True) for c in self.columns
        }
        return pa.DataFrameSchema(
            cols,
            strict=True,
            unique=list(self.key),
            name=self.table_id,
            checks=[],
        )

    def stamp(self, df: pl.DataFrame, source: str, day: dt.date, **constants: object) -> pl.DataFrame:
        """Add schema_name, schema_version, source, day and any other constant columns; contract order."""
        schema = self.polars_schema
        literals = [
            pl.lit(self.schema_name, pl.Utf8).alias("schema_name"),
            pl.lit(self.schema_version, pl.Int64).alias("schema_version"),
            pl.lit(source, pl.Utf8).alias("source"),
            pl.lit(day, pl.Date).alias("day"),
            *(pl.lit(value, schema[name]).alias(name) for name, value in constants.items()),
        ]
        return df.with_columns(literals).select(list(schema))

    def frame(self, cols: dict[str, list] | pl.DataFrame, source: str, day: dt.date,
              **constants: object) -> pl.DataFrame:
        """A partition frame from column lists (or a frame) typed by the contract, then stamped."""
        schema = self.polars_schema
        fixed = {"schema_name", "schema_version", "source", "day", *constants}
        names = [n for n in schema if n not in fixed]
        if isinstance(cols, pl.DataFrame):
            df = cols.select([pl.col(n).cast(schema[n]) for n in names])
        else:
            df = pl.DataFrame([typed_series(n, cols[n], schema[n]) for n in names])
        return self.stamp(df, source, day, **constants)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Order ``df``'s columns as the contract says; raise naming any missing or extra column."""
        wanted = [c.name for c in self.columns]
        missing = [c for c in wanted if c not in df.columns]
        extra = [c for c in df.columns if c not in wanted]
        if missing or extra:
            raise ValueError(f"{self.table_id}: frame does not match contract; missing {missing}, extra {extra}")
        return df.select(wanted)


def typed_series(name: str, values: list, dtype: pl.DataType) -> pl.Series:
    """A typed column from Python values; lists of strings go through pyarrow (16x faster than polars'
    per-row conversion of nested values: 2.3 s for 200k heading paths)."""
    if dtype == pl.List(pl.Utf8) and not isinstance(values, pl.Series):
        arrow = pyarrow.array(values, type=pyarrow.large_list(pyarrow.large_string()))
        return pl.Series(name, pl.from_arrow(arrow)).cast(dtype)
    return pl.Series(name, values, dtype=dtype)


def _common(schema_name: str) -> tuple[Col, ...]:
    return (
        Col("schema_name", pl.Utf8, checks=(pa.Check.eq(schema_name),)),
        Col("schema_version", pl.Int64, checks=(pa.Check.ge(1),)),
        Col("source", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("day", pl.Date),
    )


SNAPSHOT_STATUSES = (
    "stored",  # bytes in the objects store
    "too_large",  # hashed but not stored: over the size limit
    "unreadable",  # permission denied or I/O error
    "outside_root",  # symlink whose target leaves the source root
    "broken_symlink",
    "symlink_dir",  # directory symlink: not followed (loops, double counting)
    "special",  # FIFO, socket, device
    "symlink",  # git symlink entry (mode 120000): target text, not a file
    "submodule",  # git gitlink entry
    "invalid_path",  # a name that cannot be made canonical
)

SNAPSHOTS = TableContract(
    layer="raw",
    name="snapshots",
    schema_name="evidence_lake.snapshot",
    schema_version=1,
    description="One row per (source, day): the identity and totals of a snapshot.",
    columns=(
        *_common("evidence_lake.snapshot"),
        Col("snapshot_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("source_kind", pl.Utf8, checks=(pa.Check.isin(["git", "tree", "jsonl"]),)),
        Col("as_of", pl.Utf8),
        Col("file_count", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("total_bytes", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("stored_count", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("rejected_count", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("taken_at", UTC_DATETIME),
    ),
    key=("source", "day"),
    volatile=("taken_at",),
)

SNAPSHOT_FILES = TableContract(
    layer="raw",
    name="snapshot_files",
    schema_name="evidence_lake.snapshot_file",
    schema_version=1,
    description="One row per file in a snapshot, stored or not, with the reason when not.",
    columns=(
        *_common("evidence_lake.snapshot_file"),
        Col("snapshot_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("path", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("path_key", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("object", pl.Utf8, nullable=True, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("size", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("crc32", pl.Int64, nullable=True, checks=(pa.Check.in_range(0, 0xFFFFFFFF),)),
        Col("lang_hint", pl.Utf8, nullable=True),
        Col("is_text", pl.Boolean, nullable=True),
        Col("line_count", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("status", pl.Utf8, checks=(pa.Check.isin(list(SNAPSHOT_STATUSES)),)),
        Col("detail", pl.Utf8, nullable=True),
        Col("line_offsets", pl.List(pl.Int64), nullable=True),
    ),
    key=("source", "day", "path"),
)

EVIDENCE_KINDS = (
    "section",
    "symbol",
    "metric",
    "diagnostic",
    "session",
    "replay_run",
    "review_finding",
    "audit_score",
    "event",
    "edge",
)

EVIDENCE_RECORDS = TableContract(
    layer="evidence",
    name="records",
    schema_name="evidence_lake.evidence_record",
    schema_version=1,
    description="One row per piece of evidence, traceable to the object and lines it came from.",
    columns=(
        *_common("evidence_lake.evidence_record"),
        Col("evidence_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("kind", pl.Utf8, checks=(pa.Check.isin(list(EVIDENCE_KINDS)),)),
        Col("path", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("line_start", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("line_end", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("line_offset", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("locator", pl.Utf8),
        Col("object", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("payload", pl.Utf8),
        Col("payload_sha256", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("payload_crc32", pl.Int64, checks=(pa.Check.in_range(0, 0xFFFFFFFF),)),
        Col("extractor", pl.Utf8),
        Col("extractor_version", pl.Utf8),
        Col("event_time", UTC_DATETIME, nullable=True),
        Col("recorded_at", UTC_DATETIME),
    ),
    key=("source", "day", "evidence_id"),
    volatile=("recorded_at",),
    check_prefix="evidence_records",
)

REJECT_REASONS = (
    # stream lines
    "malformed_json",
    "torn_tail",
    "invalid_utf8",
    "oversize",
    "non_finite_number",
    "too_deep",
    "not_an_object",
    "missing_event_time",
    "bad_event_time",
    "schema_violation",
    "duplicate",  # identical to an earlier line of the same file: counted, kept once
    # whole files
    "binary",
    "extractor_error",
    *[s for s in SNAPSHOT_STATUSES if s != "stored"],
)

EVIDENCE_REJECTS = TableContract(
    layer="evidence",
    name="rejects",
    schema_name="evidence_lake.evidence_reject",
    schema_version=1,
    description="One row per input unit (file or line) that did not become evidence, with the reason.",
    columns=(
        *_common("evidence_lake.evidence_reject"),
        Col("reject_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("path", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("line_offset", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("byte_start", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("byte_end", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
        Col("reason", pl.Utf8, checks=(pa.Check.isin(list(REJECT_REASONS)),)),
        Col("detail", pl.Utf8, nullable=True),
        Col("object", pl.Utf8, nullable=True, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("raw_sha256", pl.Utf8, nullable=True, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("raw_excerpt", pl.Utf8, nullable=True, checks=(pa.Check.str_length(max_value=256),)),
        Col("recorded_at", UTC_DATETIME),
    ),
    key=("source", "day", "reject_id"),
    volatile=("recorded_at",),
    check_prefix="evidence_rejects",
)

def _index(name: str, description: str, columns: tuple[Col, ...], key: tuple[str, ...]) -> TableContract:
    schema = f"evidence_lake.index_{name}"
    return TableContract(layer="index", name=name, schema_name=schema, schema_version=1, description=description,
                         columns=(*_common(schema), *columns), key=("source", "day", *key),
                         check_prefix=f"index_{name}")


_EVIDENCE_ID = Col("evidence_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),))

INDEX_SECTIONS = _index("sections", "One row per document section (from markdown section evidence).", (
    Col("section_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
    Col("path", pl.Utf8),
    Col("heading", pl.Utf8),
    Col("level", pl.Int64, checks=(pa.Check.in_range(0, 6),)),
    Col("heading_path", pl.List(pl.Utf8)),
    Col("line_start", pl.Int64, checks=(pa.Check.ge(0),)),
    Col("line_end", pl.Int64, checks=(pa.Check.ge(0),)),
    Col("content_hash", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
    _EVIDENCE_ID,
), ("section_id",))

INDEX_SYMBOLS = _index("symbols", "One row per named symbol: @SOURCE/qualified.name (clashes get #2, #3).", (
    Col("symbol_id", pl.Utf8, checks=(pa.Check.str_startswith("@"),)),
    Col("qualified_name", pl.Utf8),
    Col("name", pl.Utf8),
    Col("kind", pl.Utf8),
    Col("path", pl.Utf8),
    Col("line", pl.Int64, checks=(pa.Check.ge(0),)),
    Col("line_end", pl.Int64, checks=(pa.Check.ge(0),)),
    Col("signature", pl.Utf8, nullable=True),
    Col("doc", pl.Utf8, nullable=True),
    _EVIDENCE_ID,
), ("symbol_id",))

INDEX_DOCUMENTS = _index("documents", "One row per searchable evidence record: its length and what to show.", (
    _EVIDENCE_ID,
    Col("kind", pl.Utf8),
    Col("path", pl.Utf8),
    Col("line", pl.Int64, nullable=True, checks=(pa.Check.ge(0),)),
    Col("title", pl.Utf8),
    Col("snippet", pl.Utf8, checks=(pa.Check.str_length(max_value=240),)),
    Col("doc_len", pl.Int64, checks=(pa.Check.gt(0),)),
), ("evidence_id",))

INDEX_TERMS = _index("terms", "Postings: (term, evidence) with term frequency, sorted by term.", (
    Col("term", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
    _EVIDENCE_ID,
    Col("tf", pl.Int64, checks=(pa.Check.gt(0),)),
), ("term", "evidence_id"))

INDEX_TERM_STATS = _index("term_stats", "Document frequency of every term in the partition.", (
    Col("term", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
    Col("df", pl.Int64, checks=(pa.Check.gt(0),)),
), ("term",))

INDEX_MANIFEST = _index("manifest", "Per partition and index: rows, index_hash and the evidence hash it came from.", (
    Col("index_name", pl.Utf8),
    Col("rows", pl.Int64, checks=(pa.Check.ge(0),)),
    Col("index_hash", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
    Col("evidence_hash", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
), ("index_name",))

DISTILL_SCORES = TableContract(
    layer="distill", name="scores", schema_name="evidence_lake.distill_score", schema_version=1,
    description="One row per (scored evidence, scorer version): score in [0, 1], category, reasons, features.",
    columns=(
        *_common("evidence_lake.distill_score"),
        _EVIDENCE_ID,
        Col("kind", pl.Utf8),
        Col("path", pl.Utf8),
        Col("scorer", pl.Utf8),
        Col("scorer_version", pl.Utf8, checks=(pa.Check.str_matches(r"^\d+\.\d+\.\d+$"),)),
        Col("score", pl.Float64, checks=(pa.Check.in_range(0.0, 1.0),)),
        Col("category", pl.Utf8, checks=(pa.Check.isin(["accepted", "partially_accepted", "rejected",
                                                         "needs_human_review"]),)),
        Col("reasons", pl.List(pl.Utf8)),
        Col("features", pl.Utf8),
    ),
    key=("source", "day", "evidence_id", "scorer_version"),
    check_prefix="distill_scores",
    scope_columns=("scorer_version",),
)

DISTILL_DATASETS = TableContract(
    layer="distill", name="datasets", schema_name="evidence_lake.distill_example", schema_version=1,
    description="Training/eval examples (sft, preference, rag), deduplicated, split by a hash of the example id.",
    columns=(
        *_common("evidence_lake.distill_example"),
        Col("dataset", pl.Utf8, checks=(pa.Check.isin(["sft", "preference", "rag"]),)),
        Col("example_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("split", pl.Utf8, checks=(pa.Check.isin(["train", "eval"]),)),
        Col("evidence_ids", pl.List(pl.Utf8)),
        Col("scorer_version", pl.Utf8),
        Col("example", pl.Utf8),
    ),
    key=("source", "day", "dataset", "example_id"),
    check_prefix="distill_datasets",
    scope_columns=("scorer_version",),
)

REPLAY_TASKS = TableContract(
    layer="replay", name="tasks", schema_name="evidence_lake.replay_task", schema_version=1,
    description="Replay tasks with known answers: derived from the partition's index, or authored.",
    columns=(
        *_common("evidence_lake.replay_task"),
        Col("task_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("query", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("expected_ids", pl.List(pl.Utf8)),
        Col("expected_terms", pl.List(pl.Utf8)),
        Col("origin", pl.Utf8, checks=(pa.Check.isin(["derived_symbol_where", "derived_symbol_what",
                                                      "derived_section", "authored"]),)),
        Col("reference", pl.Utf8),
    ),
    key=("source", "day", "task_id"),
    check_prefix="replay_tasks",
)

REPLAY_RUNS = TableContract(
    layer="replay", name="runs", schema_name="replay_run.v1", schema_version=1,
    description="Append-only ledger: one row per task per replay batch (batch = the Dagster run).",
    columns=(
        *_common("replay_run.v1"),
        Col("replay_batch_id", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("task_id", pl.Utf8, checks=(pa.Check.str_matches(SHA256_RE),)),
        Col("index_hash", pl.Utf8),
        Col("retrieved_ids", pl.List(pl.Utf8)),
        Col("bundle_sha256", pl.Utf8, nullable=True),
        Col("bundle_bytes", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("responder", pl.Utf8),
        Col("response_sha256", pl.Utf8, nullable=True),
        Col("cited_ids", pl.List(pl.Utf8)),
        Col("grounded", pl.Boolean),
        Col("hit_at_k", pl.Boolean),
        Col("reciprocal_rank", pl.Float64, checks=(pa.Check.in_range(0.0, 1.0),)),
        Col("outcome", pl.Utf8, checks=(pa.Check.isin(["success", "miss", "ungrounded", "budget_exceeded",
                                                       "infra_error", "invalid_task"]),)),
        Col("detail", pl.Utf8, nullable=True),
        Col("latency_ms", pl.Float64),
        Col("started_at", UTC_DATETIME),
    ),
    key=("source", "day", "replay_batch_id", "task_id"),
    volatile=("latency_ms", "started_at"),
    check_prefix="replay_runs",
    scope_columns=("replay_batch_id",),
)

EXPAND_RECEIPTS = TableContract(
    layer="replay", name="receipts", schema_name="expand_receipt.v1", schema_version=1,
    description="Append-only ledger: one row per expansion request (CLI, notebook, replay bundles), "
                "in the partition whose bytes were read.",
    columns=(
        *_common("expand_receipt.v1"),
        Col("run_id", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("step", pl.Utf8),
        Col("seq", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("ref", pl.Utf8),
        Col("slice", pl.Utf8),
        Col("kind", pl.Utf8, nullable=True),
        Col("path", pl.Utf8, nullable=True),
        Col("object", pl.Utf8, nullable=True),
        Col("range", pl.Utf8, nullable=True),
        Col("clamped", pl.Boolean),
        Col("content_hash", pl.Utf8, nullable=True),
        Col("bytes", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("status", pl.Utf8, checks=(pa.Check.isin(["SUCCESS", "FAILURE"]),)),
        Col("reason", pl.Utf8, nullable=True),
        Col("requested_at", UTC_DATETIME),
    ),
    key=("source", "day", "run_id", "step", "seq"),
    volatile=("requested_at",),
    check_prefix="replay_receipts",
    scope_columns=("run_id",),
)

DRIFT_REPORTS = TableContract(
    layer="drift", name="reports", schema_name="evidence_lake.drift_report", schema_version=2,
    description="Append-only ledger: one row per (partition, metric) per evaluation, with all it needs to recompute.",
    columns=(
        *_common("evidence_lake.drift_report"),
        Col("evaluation_id", pl.Utf8, checks=(pa.Check.str_length(min_value=1),)),
        Col("baseline_source", pl.Utf8),
        Col("baseline_day", pl.Date),
        Col("baseline_mode", pl.Utf8, checks=(pa.Check.isin(["reference", "change", "pinned", "scorer_version"]),)),
        Col("baseline_days", pl.List(pl.Date)),
        Col("baseline_versions", pl.Utf8),
        Col("metric", pl.Utf8),
        Col("statistic", pl.Utf8),
        Col("value", pl.Float64),
        Col("p_value", pl.Float64, nullable=True, checks=(pa.Check.in_range(0.0, 1.0),)),
        Col("p_value_adjusted", pl.Float64, nullable=True, checks=(pa.Check.in_range(0.0, 1.0),)),
        Col("threshold", pl.Utf8),
        Col("status", pl.Utf8, checks=(pa.Check.isin(["ok", "warn", "drift"]),)),
        Col("drift_since", pl.Date, nullable=True),
        Col("bins", pl.Utf8),
        Col("n_baseline", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("n_current", pl.Int64, checks=(pa.Check.ge(0),)),
        Col("seed", pl.Int64, nullable=True),
        Col("details", pl.Utf8),
        Col("evaluated_at", UTC_DATETIME),
    ),
    key=("source", "day", "evaluation_id", "metric"),
    volatile=("evaluated_at",),
    check_prefix="drift_reports",
    scope_columns=("evaluation_id",),
)

INDEX_TABLES = (INDEX_SECTIONS, INDEX_SYMBOLS, INDEX_DOCUMENTS, INDEX_TERMS, INDEX_TERM_STATS)

CONTRACTS: dict[str, TableContract] = {
    c.table_id: c
    for c in (SNAPSHOTS, SNAPSHOT_FILES, EVIDENCE_RECORDS, EVIDENCE_REJECTS, *INDEX_TABLES, INDEX_MANIFEST,
              DISTILL_SCORES, DISTILL_DATASETS, REPLAY_TASKS, REPLAY_RUNS, EXPAND_RECEIPTS, DRIFT_REPORTS)
}


def contract_for(layer: str, name: str) -> TableContract:
    try:
        return CONTRACTS[f"{layer}/{name}"]
    except KeyError as exc:
        raise KeyError(f"no table contract for {layer}/{name}; known: {sorted(CONTRACTS)}") from exc
