"""Read-only DuckDB over the lake: every Delta table as a view ``<layer>_<name>``.

Tables are registered as pyarrow datasets (DuckDB cannot load its Delta extension
offline). After registration, external access is switched off and the configuration
locked, and only SELECT statements are accepted, so a query can neither change the
lake nor read or write anything else on the machine.
"""

from __future__ import annotations

import duckdb
import polars as pl
from deltalake import DeltaTable

from core.catalog import find_tables

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
    "q_files_by_language": (("raw_snapshot_files",), """
        select source, day, coalesce(lang_hint, 'unknown') as lang, count(*) as files,
               sum(size) as bytes from raw_snapshot_files group by all order by all"""),
}


class ReadOnlyViolation(ValueError):
    """The query tried to do something other than read the lake."""


def open_readonly(root: str, storage_options: dict[str, str] | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    registered = set()
    for layer, name, uri in find_tables(root):
        dataset = DeltaTable(uri, storage_options=storage_options).to_pyarrow_dataset()
        con.register(f"{layer}_{name}", dataset)
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
    for stmt in statements:
        if stmt.type != duckdb.StatementType.SELECT:
            kind = stmt.type.name
            raise ReadOnlyViolation(
                f"{kind} statements are refused: `evidence-lake sql` is read-only (SELECT only). "
                "Write through the Dagster assets instead."
            )


def run_query(root: str, query: str, storage_options: dict[str, str] | None = None) -> pl.DataFrame:
    """Run a read-only query and return the result as a polars frame."""
    check_read_only(query)
    con = open_readonly(root, storage_options)
    try:
        return pl.from_arrow(con.sql(query).to_arrow_table())
    except duckdb.PermissionException as exc:
        raise ReadOnlyViolation(f"refused by the read-only session: {exc}") from exc
    finally:
        con.close()
