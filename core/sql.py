"""Read-only DuckDB over the lake: every Delta table as a view ``<layer>_<name>``.

Tables are registered as pyarrow datasets (DuckDB cannot load its Delta extension
offline). After registration, external access is switched off and the configuration
locked, and only one SELECT statement is accepted, so a query can neither change the
lake nor read or write anything else on the machine. The console caps rows (default
10,000), time (60 s) and memory (2 GB).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import polars as pl

from core.catalog import find_tables
from core.lake import LakeReadError, open_delta

# The query model (codebatch's questions), answerable from the tables alone. Each view is created
# when the tables it reads exist.
QUERY_VIEWS: dict[str, tuple[tuple[str, ...], str]] = {
    "q_evidence_by_kind": (("evidence_records",), """
        select source, day, kind, count(*) as n from evidence_records group by all order by all"""),
    "q_files_with_diagnostics": (("evidence_records",), """
        select source, day, path, count(*) as diagnostics,
               string_agg(distinct json_extract_string(payload, '$.code'), ', ' order by
                          json_extract_string(payload, '$.code')) as codes
        from evidence_records where kind = 'diagnostic' group by all order by all"""),
    "q_diagnostics_by_severity": (("evidence_records",), """
        select source, day, json_extract_string(payload, '$.severity') as severity,
               json_extract_string(payload, '$.code') as code, count(*) as n
        from evidence_records where kind = 'diagnostic' group by all order by all"""),
    "q_failed_extraction": (("evidence_rejects",), """
        select source, day, path, reason, count(*) as units, min(detail) as example
        from evidence_rejects group by all order by all"""),
    "q_rejects_by_reason": (("evidence_rejects",), """
        select source, day, reason, count(*) as n from evidence_rejects group by all order by all"""),
    "q_diagnostics_by_rule": (("evidence_records",), """
        select source, day, json_extract_string(payload, '$.code') as code, path, count(*) as n,
               min(line_start) as first_line
        from evidence_records where kind = 'diagnostic' group by all order by all"""),
    "q_imports_of": (("evidence_records",), """
        select source, day, path, json_extract_string(payload, '$.importer') as importer,
               json_extract_string(payload, '$.module') as module,
               json_extract_string(payload, '$.raw_module') as raw_module,
               json_extract_string(payload, '$.name') as name, json_extract_string(payload, '$.alias') as alias,
               line_start as line, cast(json_extract(payload, '$.level') as integer) as level,
               cast(json_extract(payload, '$.conditional') as boolean) as conditional,
               cast(json_extract(payload, '$.type_checking') as boolean) as type_checking,
               cast(json_extract(payload, '$.star') as boolean) as star
        from evidence_records
        where kind = 'edge' and json_extract_string(payload, '$.edge_kind') = 'import' order by all"""),
    "q_importers": (("evidence_records",), """
        select source, day, json_extract_string(payload, '$.module') as module, path,
               json_extract_string(payload, '$.importer') as importer, count(*) as imports,
               bool_and(cast(json_extract(payload, '$.type_checking') as boolean)) as type_checking_only
        from evidence_records
        where kind = 'edge' and json_extract_string(payload, '$.edge_kind') = 'import'
          and json_extract_string(payload, '$.module') is not null
        group by all order by all"""),
    "q_most_imported": (("evidence_records",), """
        select source, day, json_extract_string(payload, '$.module') as module, count(distinct path) as files
        from evidence_records
        where kind = 'edge' and json_extract_string(payload, '$.edge_kind') = 'import'
          and json_extract_string(payload, '$.module') is not null
        group by all order by source, day, files desc, module"""),
    "q_links": (("evidence_records",), """
        select source, day, path, line_start as line, json_extract_string(payload, '$.target') as target,
               json_extract_string(payload, '$.resolved_path') as resolved_path,
               cast(json_extract(payload, '$.external') as boolean) as external
        from evidence_records
        where kind = 'edge' and json_extract_string(payload, '$.edge_kind') = 'link' order by all"""),
    "q_files_by_language": (("raw_snapshot_files",), """
        select source, day, coalesce(lang_hint, 'unknown') as lang, count(*) as files,
               sum(size) as bytes from raw_snapshot_files group by all order by all"""),
}


def referenced_tables(query: str) -> list[str]:
    """Table ids (layer/name) a query reads: named directly, or through a q_* view."""
    from core.contracts import CONTRACTS

    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query.lower()))
    names = {t.replace("/", "_"): t for t in CONTRACTS}
    wanted = {names[w] for w in words if w in names}
    for view, (needs, _) in QUERY_VIEWS.items():
        if view in words:
            wanted |= {names[n] for n in needs if n in names}
    return sorted(wanted)


class ReadOnlyViolation(ValueError):
    """The query tried to do something other than read the lake."""


def open_readonly(root: str, storage_options: dict[str, str] | None = None, memory_limit: str = "2GB",
                  unreadable: list[str] | None = None, verify: Iterable[str] = ()) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB session with every readable table as a view; ``unreadable`` collects why others are not.

    Tables named in ``verify`` (layer/name) are verified at the version registered (core.verified):
    TamperedDataError names the table, partition and row.
    """
    from core.contracts import CONTRACTS
    from core.verified import verify_table

    verify = set(verify)
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit})
    registered = set()
    for layer, name, uri in find_tables(root, storage_options):
        try:
            table = open_delta(uri, storage_options, name=f"{layer}/{name}")
        except LakeReadError as exc:  # one damaged table must not hide the others
            if unreadable is not None:
                unreadable.append(str(exc))
            continue
        if table is not None and f"{layer}/{name}" in verify and f"{layer}/{name}" in CONTRACTS:
            verify_table(root, CONTRACTS[f"{layer}/{name}"], storage_options, table)
        con.register(f"{layer}_{name}", table.to_pyarrow_dataset())
        registered.add(f"{layer}_{name}")
    for view, (needs, sql) in QUERY_VIEWS.items():
        if set(needs) <= registered:
            con.execute(f"create view {view} as {sql}")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def check_read_only(query: str) -> None:
    """Raise ReadOnlyViolation unless every statement in ``query`` is a SELECT."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ReadOnlyViolation(f"cannot parse the query: {exc}") from exc
    if not statements:
        raise ReadOnlyViolation("empty query: give a SELECT statement")
    if len(statements) > 1:
        raise ReadOnlyViolation(f"one statement at a time: the query holds {len(statements)} (only the last "
                                "would be shown); run them one by one")
    for stmt in statements:
        if stmt.type != duckdb.StatementType.SELECT:
            kind = stmt.type.name
            raise ReadOnlyViolation(
                f"{kind} statements are refused: `evidence-lake sql` is read-only (SELECT only). "
                "Write through the Dagster assets instead."
            )


class QueryLimitExceeded(RuntimeError):
    """The query ran past its time or memory cap; the message says which and how to raise it."""


DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_LIMIT = "2GB"


@dataclass(frozen=True)
class QueryResult:
    frame: pl.DataFrame
    truncated: bool  # more rows than the limit existed; only the first ``limit`` are in ``frame``
    unreadable: tuple[str, ...] = ()  # tables left out of the session, each with its reason


def run_query(root: str, query: str, storage_options: dict[str, str] | None = None) -> pl.DataFrame:
    """Every row of a read-only query (library use; time and memory caps still apply)."""
    return run_capped(root, query, storage_options, limit=None).frame


def run_capped(root: str, query: str, storage_options: dict[str, str] | None = None,
               limit: int | None = DEFAULT_ROW_LIMIT, timeout_s: float = DEFAULT_TIMEOUT_S,
               memory_limit: str = DEFAULT_MEMORY_LIMIT) -> QueryResult:
    """Run one read-only SELECT with a row limit, a time limit and a memory cap.

    The console is shared with people exploring: a cross join must not take the machine, and
    a result too long to read is cut with a note rather than printed whole.
    """
    check_read_only(query)
    unreadable: list[str] = []
    con = open_readonly(root, storage_options, memory_limit, unreadable, verify=referenced_tables(query))
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        sql = query.strip().rstrip(";")
        if limit is not None:
            sql = f"SELECT * FROM ({sql}) AS q LIMIT {int(limit) + 1}"
        frame = pl.from_arrow(con.sql(sql).to_arrow_table())
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused by the read-only session: {exc}") from exc
    except duckdb.CatalogException as exc:
        if unreadable:  # the table asked for may be the damaged one: say so, not only "does not exist"
            raise duckdb.CatalogException(f"{exc}\n" + "\n".join(unreadable)) from exc
        raise
    except duckdb.InterruptException as exc:
        raise QueryLimitExceeded(f"the query ran longer than {timeout_s:g} s and was stopped; "
                                 "narrow it, or raise the limit with --timeout") from exc
    except duckdb.OutOfMemoryException as exc:
        raise QueryLimitExceeded(f"the query needed more than {memory_limit} of memory and was stopped; "
                                 "narrow it, or raise the cap with --memory-limit") from exc
    finally:
        timer.cancel()
        con.close()
    truncated = limit is not None and frame.height > limit
    return QueryResult(frame.head(limit) if truncated else frame, truncated, tuple(unreadable))
