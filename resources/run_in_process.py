"""Run a job in this process the way ``JobDefinition.execute_in_process`` does, without keeping its outputs.

``execute_in_process`` captures every step's output value so that ``result.asset_value`` and
``result.output_for_node`` can return it. Our assets return whole partitions (evidence records,
postings, scores), and our IO manager has already written them to the lake, so a run of the
main job held every one of those frames until it ended: resident memory grew step after step and
with the corpus (stdlib: ~600 MiB carried into the index steps). The CLI and the benchmarks read
results from events only, so they run without the capture.

This mirrors ``execute_in_process`` of the pinned Dagster (1.13) and calls the same internal
function with ``output_capturing_enabled=False``; the tests run the CLI through it, so a Dagster
upgrade that moves those internals fails loudly here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg


def run_in_process(job: dg.JobDefinition, *, instance: dg.DagsterInstance, partition_key: str | None = None,
                   run_config: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
                   run_id: str | None = None, asset_selection: Sequence[dg.AssetKey] | None = None,
                   raise_on_error: bool = False) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process(...)`` minus the in-memory copy of every output.

    The same arguments, except that ``raise_on_error`` defaults to False: the CLI reports a failed
    step from the run's events, as it did when it passed False to ``execute_in_process``.
    """
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.execution.execute_in_process import (
        core_execute_in_process,
        merge_run_tags,
        type_check_and_normalize_args,
    )

    run_config, op_selection, asset_selection, resource_defs, partition_key, input_values = (
        type_check_and_normalize_args(run_config=run_config, partition_key=partition_key,
                                      asset_selection=asset_selection))
    ephemeral = job.as_ephemeral_job(resource_defs=resource_defs, input_values=input_values,
                                     op_selection=op_selection, asset_selection=asset_selection)
    if partition_key and ephemeral.partitions_def:
        with partition_loading_context(dynamic_partitions_store=instance) as ctx:
            ephemeral.validate_partition_key(partition_key=partition_key, selected_asset_keys=set(asset_selection),
                                             context=ctx)
    if not run_config and ephemeral.partitioned_config and partition_key:
        run_config = ephemeral.partitioned_config.get_run_config_for_partition_key(partition_key)
    return core_execute_in_process(
        job=InMemoryJob(job_def=ephemeral),
        run_config=run_config,
        instance=instance,
        output_capturing_enabled=False,
        raise_on_error=raise_on_error,
        run_tags=merge_run_tags(job_def=job, partition_key=partition_key, tags=tags, asset_selection=asset_selection,
                                instance=instance, run_config=run_config),
        run_id=run_id,
        asset_selection=frozenset(asset_selection),
    )
