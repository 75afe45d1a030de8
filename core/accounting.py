"""Accounting: every input unit of a partition is evidence, a reject, or both (never neither).

Units are snapshot files for tree/git sources and stream lines for jsonl sources.
A jsonl line is exactly one of record or reject, never both; a file may have both
(records from one extractor, an ``extractor_error`` reject from another).
"""

from __future__ import annotations

import polars as pl


def account(source_kind: str, files: pl.DataFrame, records: pl.DataFrame, rejects: pl.DataFrame) -> dict:
    """Counts plus a list of problems (empty when everything reconciles)."""
    problems: list[str] = []
    file_paths = set(files["path"].to_list())
    for table, df in (("records", records), ("rejects", rejects)):
        stray = sorted(set(df["path"].to_list()) - file_paths)
        if stray:
            problems.append(f"{table} name paths not in the snapshot: {stray[:5]}")
    if source_kind != "jsonl":
        covered = set(records["path"].to_list()) | set(rejects["path"].to_list())
        missing = sorted(file_paths - covered)
        if missing:
            problems.append(f"{len(missing)} files with neither evidence nor reject, e.g. {missing[:5]}")
        return {"units": len(file_paths), "evidence_units": len(set(records["path"].to_list())),
                "rejected_units": len(set(rejects["path"].to_list())), "problems": problems}

    units = evidence_units = rejected_units = 0
    rec_lines = records.group_by("path").agg(pl.col("line_offset"))
    rej_lines = rejects.filter(pl.col("line_offset").is_not_null()).group_by("path").agg(pl.col("line_offset"))
    rec_map = dict(rec_lines.iter_rows())
    rej_map = dict(rej_lines.iter_rows())
    whole_file_rejects = set(rejects.filter(pl.col("line_offset").is_null())["path"].to_list())
    for path, status, offsets in files.select("path", "status", "line_offsets").iter_rows():
        if status != "stored":
            units += 1
            rejected_units += path in whole_file_rejects
            if path not in whole_file_rejects:
                problems.append(f"{path}: not stored ({status}) but no reject row")
            continue
        expected = list(offsets or [])
        got_rec = rec_map.get(path, [])
        got_rej = rej_map.get(path, [])
        units += len(expected)
        evidence_units += len(got_rec)
        rejected_units += len(got_rej)
        both = set(got_rec) & set(got_rej)
        if both:
            problems.append(f"{path}: lines {sorted(both)[:5]} are both evidence and reject")
        if len(got_rec) + len(got_rej) != len(set(got_rec) | set(got_rej)):
            problems.append(f"{path}: a line is counted twice")
        if set(got_rec) | set(got_rej) != set(expected):
            lost = sorted(set(expected) - set(got_rec) - set(got_rej))
            extra = sorted((set(got_rec) | set(got_rej)) - set(expected))
            problems.append(f"{path}: lines lost {lost[:5]} / unexpected {extra[:5]}")
    return {"units": units, "evidence_units": evidence_units, "rejected_units": rejected_units,
            "problems": problems}
