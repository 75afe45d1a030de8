"""Jobs: the main job materialises every lake asset for one (source, day) partition."""

import dagster as dg

DRIFT = dg.AssetSelection.assets(dg.AssetKey(["drift", "reports"]))

main_job = dg.define_asset_job(
    "main_job",
    selection=dg.AssetSelection.all() - DRIFT,
    description="Every lake asset (and its checks) for one (source, day) partition; drift runs on its own.",
)

drift_job = dg.define_asset_job(
    "drift_job",
    selection=DRIFT,
    description="Drift evaluation of one partition against its baseline (launched by drift_sensor).",
)

checks_job = dg.define_asset_job(
    "checks_job",
    selection=dg.AssetSelection.all_asset_checks(),
    description="Every asset check for one (source, day) partition, without re-materialising: "
    '`dagster job execute -m definitions -j checks_job --tags \'{"dagster/partition": "2026-11-23|self"}\'`.',
)
