"""LakeResource: where the tables and the objects store live, and typed access to them."""

from collections.abc import Callable, Iterator, Sequence

import dagster as dg
import polars as pl
from deltalake import DeltaTable

from core.contracts import TableContract
from core.lake import (
    Partition,
    known_partition_hash,
    open_table,
    partition_batches,
    read_partitions,
    storage_options_from_env,
    summarise_partition,
    table_uri,
)
from core.objects import ObjectStore
from core.project import lake_root


class LakeResource(dg.ConfigurableResource):
    """The lake root: ``root`` if set, else ``$EVIDENCE_LAKE_ROOT``, else ``data/lake``.

    Tables sit at ``<root>/<layer>/<name>``; object-store roots take their options from
    ``EVIDENCE_LAKE_STORAGE_OPTIONS`` (JSON) or the usual AWS_* variables.
    """

    root: str | None = None

    @property
    def root_uri(self) -> str:
        return self.root.rstrip("/") if self.root else lake_root()

    @property
    def storage_options(self) -> dict[str, str] | None:
        return storage_options_from_env()

    def uri(self, contract: TableContract) -> str:
        return table_uri(self.root_uri, contract)

    # Each read opens the table at its latest version unless given ``table``, a snapshot the caller opened
    # (``table()``) to read several times: a check step reads one version of each table, listing its log once.

    def read(
        self, contract: TableContract, partitions: Sequence[Partition] | None = None, version: int | None = None,
        table: DeltaTable | None = None,
    ) -> pl.DataFrame:
        return read_partitions(self.root_uri, contract, partitions, self.storage_options, version, verify=False,
                               table=table)

    def read_columns(self, contract: TableContract, partitions: Sequence[Partition] | None, columns: Sequence[str],
                     where: pl.Expr | None = None, table: DeltaTable | None = None) -> pl.DataFrame:
        """Only ``columns`` (and only rows matching ``where``) of the partitions (all when None): a projection,
        never verified."""
        return read_partitions(self.root_uri, contract, partitions, self.storage_options, verify=False,
                               columns=columns, where=where, table=table)

    def batches(self, contract: TableContract, partition: Partition,
                table: DeltaTable | None = None) -> Iterator[pl.DataFrame]:
        """The partition two Parquet row groups at a time (``core.lake.partition_batches``), never verified."""
        return partition_batches(self.root_uri, contract, partition, self.storage_options, table=table)

    def summarise(self, contract: TableContract, partition: Partition,
                  queries: Sequence[Callable[[pl.LazyFrame], pl.LazyFrame]],
                  table: DeltaTable | None = None) -> list[pl.DataFrame]:
        """Each query over the partition, from streaming scans of one version (``core.lake.summarise_partition``)."""
        return summarise_partition(self.root_uri, contract, partition, queries, self.storage_options, table=table)

    def known_hash(self, contract: TableContract, partition: Partition, table: DeltaTable | None = None) -> str | None:
        """The partition's content hash as written, if its files are unchanged since (see core.verified)."""
        table = table if table is not None else self.table(contract)
        return None if table is None else known_partition_hash(self.root_uri, contract, table, partition)

    def table(self, contract: TableContract) -> DeltaTable | None:
        return open_table(self.root_uri, contract, self.storage_options)

    def objects(self) -> ObjectStore:
        return ObjectStore(self.root_uri, self.storage_options)
