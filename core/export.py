"""Export a dataset to JSONL or Parquet with a manifest a training run can cite.

The manifest records counts by split, the sha256 of the written file and the content hash
of its rows, the scorer versions, and every (source, day) partition read with the Delta
version of distill/datasets it was read at, so the exact input can be re-read by time travel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path

import orjson
import polars as pl

from core.content_hash import content_hash
from core.contracts import DISTILL_DATASETS
from core.lake import open_table, read_partitions

FORMATS = ("jsonl", "parquet")


class ExportError(ValueError):
    """The export cannot be made; the message says what to change."""


def export_dataset(root: str, dataset: str, fmt: str, out: Path, split: str | None = None,
                   since: dt.date | None = None, storage_options: dict[str, str] | None = None) -> dict:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    table = open_table(root, DISTILL_DATASETS, storage_options)
    if table is None:
        raise ExportError(f"no distill/datasets table under {root}: run `evidence-lake run` first")
    version = table.version()
    rows = read_partitions(root, DISTILL_DATASETS, None, storage_options, version=version).filter(
        pl.col("dataset") == dataset)
    if since is not None:
        rows = rows.filter(pl.col("day") >= since)
    if split is not None:
        rows = rows.filter(pl.col("split") == split)
    if rows.height == 0:
        raise ExportError(f"no {dataset!r} examples{' in ' + split if split else ''}"
                          f"{' since ' + since.isoformat() if since else ''}")
    # one example appears once, however many days it occurs on: the first (day, source) wins
    rows = rows.sort("example_id", "day", "source").unique("example_id", keep="first", maintain_order=True)
    partitions = sorted({(s, d.isoformat()) for s, d in rows.select("source", "day").unique().iter_rows()})
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with out.open("wb") as handle:
            for example_id, split_, source, day, example, evidence_ids in rows.select(
                    "example_id", "split", "source", "day", "example", "evidence_ids").iter_rows():
                record = {"example_id": example_id, "split": split_, "source": source, "day": day.isoformat(),
                          "evidence_ids": evidence_ids, **orjson.loads(example)}
                handle.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
    else:
        rows.select("example_id", "split", "source", "day", "evidence_ids", "scorer_version", "example").write_parquet(
            out, compression="zstd")
    manifest = {
        "dataset": dataset, "format": fmt, "file": out.name,
        "file_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "rows_content_hash": content_hash(rows, ("example_id",), ()),
        "counts": dict(sorted(Counter(rows["split"].to_list()).items())),
        "examples": rows.height,
        "scorer_versions": sorted(set(rows["scorer_version"].to_list())),
        "filters": {"split": split, "since": since.isoformat() if since else None},
        "read": {"table": DISTILL_DATASETS.table_id, "delta_version": version, "partitions": partitions},
    }
    out.with_name(out.name + ".manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
