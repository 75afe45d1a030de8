"""Check builders shared by every table, so each rule is written once.

Each rule is a plain function of a :class:`PartitionReads`; the rules of the assets one op
materialises run together in one Dagster step (``check_step``). One step per asset op instead of
one per check cuts the run's event-log writes and Delta reads: each check step costs four events
in the instance, and the checks of one asset mostly read the same partition tables.
The check names, severities and blocking flags are those of the individual checks, so the UI,
``checks_job`` and the CLI see exactly the same checks; a subset (one check) can still be run.
"""

import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import dagster as dg
import polars as pl
from deltalake import DeltaTable

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from core.contracts import TableContract
from core.lake import Partition
from core.schema_check import batch_schema_failures, schema_failures
from resources.lake import LakeResource
from resources.sources import SourcesResource

CHECK_SECONDS = "seconds"  # metadata key of a check's own run time


@dataclass
class PartitionReads:
    """The partition under check and its tables, each read from the lake at most once per step.

    Every read of a table in one step goes through one snapshot of it (``snapshot``): the step's rules
    judge one version of each table, and its Delta log is listed once, not at every read (a main-job run
    opened its tables 63 times; on an object store each open is one or more round trips).
    """

    partition: Partition
    lake: LakeResource
    sources: SourcesResource
    memo: dict[str, object] = field(default_factory=dict)  # work two rules share, e.g. one index rebuild
    _tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    _snapshots: dict[str, DeltaTable] = field(default_factory=dict)

    def snapshot(self, contract: TableContract) -> DeltaTable | None:
        """``contract``'s table as this step first opened it; None while there is no table (asked again)."""
        found = self._snapshots.get(contract.table_id)
        if found is None:
            found = self.lake.table(contract)
            if found is not None:
                self._snapshots[contract.table_id] = found
        return found

    def table(self, contract: TableContract) -> pl.DataFrame:
        """The partition's rows of ``contract`` at the step's snapshot (shared, do not mutate)."""
        if contract.table_id not in self._tables:
            self._tables[contract.table_id] = self.lake.read(contract, [self.partition],
                                                             table=self.snapshot(contract))
        return self._tables[contract.table_id]

    def holds(self, contract: TableContract) -> bool:
        """Whether this step has read the whole partition of ``contract`` already."""
        return contract.table_id in self._tables

    def columns(self, contract: TableContract, names: Sequence[str], where: pl.Expr | None = None) -> pl.DataFrame:
        """Only ``names`` of the partition (rows matching ``where``): from the whole table when this step
        has read it already, else a projection read from the lake (a sliver of a wide table, e.g. the
        evidence paths, costs a fraction of the memory). Not memoised: callers keep what they reuse."""
        whole = self._tables.get(contract.table_id)
        if whole is not None:
            return (whole if where is None else whole.filter(where)).select(names)
        return self.lake.read_columns(contract, [self.partition], names, where, table=self.snapshot(contract))

    def batches(self, contract: TableContract) -> Iterator[pl.DataFrame]:
        """The partition two Parquet row groups at a time (``LakeResource.batches``), from the step's snapshot."""
        return self.lake.batches(contract, self.partition, table=self.snapshot(contract))

    def summarise(self, contract: TableContract,
                  queries: Sequence[Callable[[pl.LazyFrame], pl.LazyFrame]]) -> list[pl.DataFrame]:
        """Each query over the partition from streaming scans of the step's snapshot (``LakeResource.summarise``)."""
        return self.lake.summarise(contract, self.partition, queries, table=self.snapshot(contract))

    def known_hash(self, contract: TableContract) -> str | None:
        """The partition's content hash as our writer recorded it, while the snapshot's files are those written."""
        return self.lake.known_hash(contract, self.partition, table=self.snapshot(contract))

    @property
    def where(self) -> str:
        return f"{self.partition[0]}/{self.partition[1]}"


Rule = Callable[[PartitionReads], dg.AssetCheckResult]


@dataclass(frozen=True)
class PartitionCheck:
    """One named check: its spec (asset, severity gate, description) and the rule that evaluates it."""

    spec: dg.AssetCheckSpec
    rule: Rule


def partition_check(asset: dg.AssetKey, name: str, description: str, blocking: bool = False,
                    additional_deps: Iterable[dg.AssetKey] = ()) -> Callable[[Rule], PartitionCheck]:
    """Decorator: turn a rule into a partitioned check of ``asset`` named ``name``."""

    def wrap(rule: Rule) -> PartitionCheck:
        with warnings.catch_warnings():  # partitioned check specs are "preview" in 1.13; they are our contract
            warnings.simplefilter("ignore", dg.PreviewWarning)
            spec = dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                                     additional_deps=list(additional_deps), partitions_def=lake_partitions)
        return PartitionCheck(spec, rule)

    return wrap


def schema_check(contract: TableContract, streamed: bool = False) -> PartitionCheck:
    """``<name>_schema``: the strict pandera model over the run's partition; blocking.

    ``streamed`` reads the partition a row group at a time unless the step holds it already: for a table
    no other rule of the step needs whole (the postings: +650 MiB read whole at 4x the stdlib).
    """

    @partition_check(dg.AssetKey(contract.asset_key), f"{contract.check_name}_schema", blocking=True,
                     description=f"Strict pandera schema of {contract.table_id} (v{contract.schema_version}).")
    def _check(reads: PartitionReads) -> dg.AssetCheckResult:
        if streamed and not reads.holds(contract):
            cases, rows = batch_schema_failures(contract, lambda: reads.batches(contract))
        else:
            cases, rows = [], 0
        if not rows:  # read whole (an empty partition too: its columns and types are still checked)
            df = reads.table(contract)
            cases, rows = schema_failures(contract, df), df.height
        if cases:
            return dg.AssetCheckResult(
                passed=False,
                description=f"{contract.table_id} {reads.where}: schema violations",
                metadata={"failure_cases": md_table(cases), "rows": rows},
            )
        return dg.AssetCheckResult(passed=True, metadata={"rows": rows, "columns": len(contract.polars_schema)})

    return _check


def _named(check: PartitionCheck, result: dg.AssetCheckResult, seconds: float) -> dg.AssetCheckResult:
    """The rule's verdict addressed to its check (a multi-check step must name every result), with the
    seconds it took: the step's time is the sum of its checks', and this says which one to look at."""
    return dg.AssetCheckResult(passed=result.passed, asset_key=check.spec.asset_key, check_name=check.spec.name,
                               severity=result.severity, description=result.description,
                               metadata={**(result.metadata or {}), CHECK_SECONDS: round(seconds, 3)})


def check_step(name: str, checks: Sequence[PartitionCheck], description: str) -> dg.AssetChecksDefinition:
    """One Dagster step that evaluates ``checks`` over the run's partition (or the selected subset).

    A rule that raises becomes a failed check naming the error, so the other checks of the step
    still report; a failed blocking check still stops the downstream assets.
    """

    @dg.multi_asset_check(specs=[c.spec for c in checks], name=name, description=description, can_subset=True)
    def _step(context: dg.AssetCheckExecutionContext, lake: LakeResource, sources: SourcesResource):
        reads = PartitionReads(current_partition(context), lake, sources)
        selected = context.selected_asset_check_keys
        for check in checks:
            if check.spec.key not in selected:
                continue
            start = time.perf_counter()
            try:
                result = check.rule(reads)
            except Exception as exc:  # noqa: BLE001 - reported as this check's failure, with the traceback logged
                context.log.exception(f"check {check.spec.name} on {reads.where} raised")
                result = dg.AssetCheckResult(passed=False, description=(
                    f"could not run on {reads.where}: {type(exc).__name__}: {exc}"))
            yield _named(check, result, time.perf_counter() - start)

    return _step
