"""index/*: sections, symbols, documents, terms, term_stats and the manifest, from one evidence partition."""

import dagster as dg
from dagster._core.definitions.data_version import CODE_VERSION_TAG

from assets.context import current_partition
from assets.partitions import lake_partitions, partition_key
from core.content_hash import content_hash
from core.contracts import (
    EVIDENCE_RECORDS,
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_SECTIONS,
    INDEX_SYMBOLS,
    INDEX_TABLES,
    INDEX_TERMS,
)
from core.indexing import INDEX_BUILDER_VERSION, INDEX_INPUT, PriorIndex, build_indexes, manifest_of, searched
from core.lake import reuse_day
from resources.lake import LakeResource

# the code version says which builder made a partition's rows; rows are reused only from the same one
OUTS = {c.name: dg.AssetOut(key=c.asset_key, description=c.description, kinds={"polars", "deltalake"},
                            code_version=INDEX_BUILDER_VERSION)
        for c in (*INDEX_TABLES, INDEX_MANIFEST)}


REUSED_TABLES = (INDEX_DOCUMENTS, INDEX_TERMS, INDEX_SECTIONS, INDEX_SYMBOLS)  # the order of PriorIndex's fields


def prior_index(instance: dg.DagsterInstance, lake: LakeResource, source: str, day) -> tuple[PriorIndex | None, str]:
    """The index of this partition (a rerun) or else of the source's latest earlier day, for reuse, and why (not).

    Only an index whose four tables one run wrote, with this builder version (the materialisation's
    code version), and whose stored rows are still exactly what that run wrote (its recorded content
    hash) is reused.
    """
    prior_day = reuse_day(lake.root_uri, INDEX_DOCUMENTS, source, day, lake.storage_options)
    if prior_day is None:
        return None, "no earlier index of this source"
    part = (source, prior_day)
    key = str(partition_key(*part))
    records = []
    for contract in REUSED_TABLES:  # the instance's records first: cheap, and a refusal reads no table
        found = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(contract.asset_key), asset_partitions=[key]), limit=1).records
        if not found:
            return None, f"{contract.table_id} {key} has no materialisation in this Dagster instance"
        records.append(found[0])
    if len({r.run_id for r in records}) > 1:  # a run killed between two index writes: mixed evidence
        return None, f"the index tables of {key} were written by different runs"
    versions = sorted({str((r.asset_materialization.tags or {}).get(CODE_VERSION_TAG)) for r in records})
    if versions != [INDEX_BUILDER_VERSION]:
        return None, f"{key} was built by index builder {', '.join(versions)}, this is {INDEX_BUILDER_VERSION}"
    frames = []
    for contract, record in zip(REUSED_TABLES, records, strict=True):
        frame = lake.read(contract, [part])
        recorded = record.asset_materialization.metadata.get("content_hash")
        stored = content_hash(frame, contract.key, contract.volatile)  # read back: the writer's digest if unchanged
        if recorded is None or recorded.value != stored:
            return None, f"{contract.table_id} {key} changed since its run wrote it"
        frames.append(frame)
    return PriorIndex(*frames), f"rows of unchanged records copied from {key}"


@dg.multi_asset(outs=OUTS, deps=[dg.AssetKey(EVIDENCE_RECORDS.asset_key)], partitions_def=lake_partitions,
                group_name="index")
def indexes(context: dg.AssetExecutionContext, lake: LakeResource):
    """Rebuildable search and lookup indexes over the partition's evidence (unchanged records' rows reused).

    The evidence is read by the build rather than passed in by the IO manager: only the columns an
    index is built from, and Dagster holds an input until the step ends, where the build drops it
    once it has the rows it indexes (and this step each table once written, before the next write).

    The manifest comes last, from the digests the IO manager made of each table while it wrote its
    Parquet file (``content_hash`` remembers them per frame): hashing all tables before the first write
    kept the hashing from overlapping any write (stdlib, build and writes, alternating: 4.8-5.9 -> 4.7-5.7 s).
    """
    source, day = current_partition(context)
    # the index reads seven of the evidence's columns of the rows it indexes; the manifest names the whole
    # partition's hash, which the writer recorded (files unchanged since), else the whole partition is read
    evidence_hash = lake.known_hash(EVIDENCE_RECORDS, (source, day))
    prior, why = prior_index(context.instance, lake, source, day)
    # the build reads the evidence itself (through this function) so it can drop it once it has its rows
    built = build_indexes(lambda: lake.read(EVIDENCE_RECORDS, [(source, day)]) if evidence_hash is None else
                          lake.read_columns(EVIDENCE_RECORDS, [(source, day)], INDEX_INPUT, searched()),
                          source, day, prior, evidence_hash=evidence_hash, hash_tables=False,
                          report=context.log.info)
    indexed = built.searched
    del prior
    rows = {contract.table_id: built.tables[contract.table_id].height for contract in INDEX_TABLES}
    context.log.info(f"indexed {indexed} evidence records of searchable kinds: {rows}; {built.reused} documents "
                     f"reused ({why})")
    hashes = {}
    for contract in INDEX_TABLES:
        table = built.tables.pop(contract.table_id)  # written, then freed before the next table
        yield dg.Output(table, output_name=contract.name, metadata={"reused_documents": built.reused, "reuse": why})
        # stored by now (Dagster hands an output to the IO manager before it resumes the step); the writer
        # hashed this very frame, so this is its remembered digest (its content_hash metadata), not a rehash
        hashes[contract.table_id] = content_hash(table, contract.key, contract.volatile)
        del table
    manifest = manifest_of(rows, hashes, built.evidence_hash, source, day)
    yield dg.Output(manifest, output_name=INDEX_MANIFEST.name, metadata={
        "evidence_hash": built.evidence_hash,
        "rows": dg.MetadataValue.json(rows),
    })
