"""The one partitioning of every lake asset: source (dynamic) x day (daily, UTC)."""

import datetime as dt

import dagster as dg

from core.lake import Partition
from core.project import start_date

SOURCES_PARTITIONS_NAME = "sources"

sources_partitions = dg.DynamicPartitionsDefinition(name=SOURCES_PARTITIONS_NAME)
# end_offset=1 makes today's partition exist: a tree can only be snapshotted today.
day_partitions = dg.DailyPartitionsDefinition(start_date=start_date(), timezone="UTC", end_offset=1)
lake_partitions = dg.MultiPartitionsDefinition({"source": sources_partitions, "day": day_partitions})


def partition_key(source: str, day: dt.date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"source": source, "day": day.isoformat()})


def parse_partition(key: str) -> Partition:
    """(source, day) of a multi-partition key such as ``2026-11-23|handbook``."""
    mpk = key if isinstance(key, dg.MultiPartitionKey) else lake_partitions.get_partition_key_from_str(key)
    dims = mpk.keys_by_dimension
    return dims["source"], dt.date.fromisoformat(dims["day"])


def partitions_of(keys) -> list[Partition]:
    return sorted({parse_partition(k) for k in keys})
