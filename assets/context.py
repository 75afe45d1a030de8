"""Helpers shared by asset and check bodies: which partition, and Dagster-friendly errors."""

import datetime as dt

import dagster as dg

from assets.partitions import parse_partition
from core.lake import Partition


def current_partition(context) -> Partition:
    """(source, day) of a single-partition run; a range run is refused with advice."""
    if not context.has_partition_key:
        raise dg.Failure("this asset is partitioned by (source, day): pick a partition to materialise")
    return parse_partition(context.partition_key)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def md_table(rows: list[dict], limit: int = 20) -> dg.MetadataValue:
    """A small markdown table for the UI (first ``limit`` rows)."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(str(row[c]).replace("|", "\\|")[:120] for c in cols) + " |")
    if len(rows) > limit:
        lines.append(f"\n… and {len(rows) - limit} more")
    return dg.MetadataValue.md("\n".join(lines))
