"""Evidence assembly: ids, rejects for every kind of file, reuse equal to fresh extraction, accounting."""

import datetime as dt
import hashlib
import json
import zlib

import polars as pl

from core.accounting import account
from core.content_hash import content_hash
from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS
from core.evidence import build_evidence, evidence_id
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig

NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 23)


def _tree(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    (root / "doc.md").write_text("# A\ntext\n## B\n")
    (root / "mod.py").write_text('"""Doc."""\n\ndef f():\n    pass\n')
    (root / "broken.py").write_text("def (:\n")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02")
    (root / "big.txt").write_bytes(b"x" * 5000)
    (root / "out").symlink_to("/etc/hostname")
    return root


def _evidence(tmp_path, root, prior=None, day=DAY, kind="tree"):
    store = ObjectStore(str(tmp_path / "lake"))
    snap = take_snapshot(SourceConfig("s", kind, root, max_file_bytes=4096), day, store, today=day)
    return snap.files, build_evidence("s", kind, day, snap.files, store, "ts", NOW, prior)


def test_every_file_is_evidence_or_reject(tmp_path):
    files, result = _evidence(tmp_path, _tree(tmp_path))
    by_reason = dict(zip(result.rejects["path"].to_list(), result.rejects["reason"].to_list(), strict=True))
    assert by_reason == {"blob.bin": "binary", "big.txt": "too_large", "out": "outside_root"}
    kinds = result.records.group_by("path").agg(pl.col("kind").unique().sort()).sort("path").rows()
    assert kinds == [("broken.py", ["diagnostic", "metric"]), ("doc.md", ["metric", "section"]),
                     ("mod.py", ["metric", "symbol"])]
    tally = account("tree", files, result.records, result.rejects)
    assert tally["problems"] == [] and tally["units"] == 6
    EVIDENCE_RECORDS.pandera_schema().validate(result.records)
    EVIDENCE_REJECTS.pandera_schema().validate(result.rejects)
    assert result.receipt["files_extracted"] == 3 and result.receipt["rejects_by_reason"] == {
        "binary": 1, "outside_root": 1, "too_large": 1}


def test_evidence_id_matches_its_definition_and_has_no_day(tmp_path):
    import orjson

    root = _tree(tmp_path)
    _, a = _evidence(tmp_path, root, day=DAY)
    store = ObjectStore(str(tmp_path / "lake"))
    snap = take_snapshot(SourceConfig("s", "tree", root, max_file_bytes=4096), DAY, store, today=DAY)
    later = build_evidence("s", "tree", DAY + dt.timedelta(days=5), snap.files.with_columns(
        pl.lit(DAY + dt.timedelta(days=5)).alias("day")), store, "ts", NOW)
    assert sorted(later.records["evidence_id"].to_list()) == sorted(a.records["evidence_id"].to_list())
    assert a.records.height == later.records.height
    row = a.records.row(0, named=True)
    assert row["evidence_id"] == evidence_id("s", row["path"], row["kind"], orjson.loads(row["locator"]),
                                             row["payload_sha256"], row["extractor_version"])


def test_reuse_gives_exactly_the_rows_of_a_fresh_extraction(tmp_path):
    root = _tree(tmp_path)
    files, first = _evidence(tmp_path, root)
    (root / "mod.py").write_text('"""Doc v2."""\n\ndef g():\n    pass\n')  # one file changes
    next_day = DAY  # a tree can only be read today; reuse works the same way
    files2, reused = _evidence(tmp_path, root, prior=first.records, day=next_day)
    _, fresh = _evidence(tmp_path, root, prior=None, day=next_day)
    assert reused.receipt["files_reused"] == 2 and reused.receipt["files_extracted"] == 1
    assert fresh.receipt["files_reused"] == 0
    key, vol = EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile
    assert content_hash(reused.records, key, vol) == content_hash(fresh.records, key, vol)
    assert not first.records["payload"].str.contains('"qualified_name":"mod.g"').any()
    assert reused.records.filter(pl.col("payload").str.contains('"qualified_name":"mod.g"')).height == 1


def test_reuse_is_refused_when_an_extractor_version_changed(tmp_path):
    root = _tree(tmp_path)
    _, first = _evidence(tmp_path, root)
    stale = first.records.with_columns(
        pl.when(pl.col("extractor") == "markdown_sections").then(pl.lit("0.9.0"))
        .otherwise(pl.col("extractor_version")).alias("extractor_version"))
    _, again = _evidence(tmp_path, root, prior=stale)
    assert again.receipt["files_reused"] == 2 and again.receipt["files_extracted"] == 1  # doc.md re-extracted
    from core.extract.base import EXTRACTOR_VERSIONS

    assert set(again.records["extractor_version"].to_list()) <= set(EXTRACTOR_VERSIONS.values())
    assert "0.9.0" not in again.records["extractor_version"].to_list()


def test_accounting_catches_a_lost_line():
    files = pl.DataFrame({"path": ["s.jsonl"], "status": ["stored"], "line_offsets": [[0, 1, 2]]})
    records = pl.DataFrame({"path": ["s.jsonl", "s.jsonl"], "line_offset": [0, 2]})
    rejects = pl.DataFrame({"path": [], "line_offset": []}, schema={"path": pl.Utf8, "line_offset": pl.Int64})
    tally = account("jsonl", files, records, rejects)
    assert tally["problems"] == ["s.jsonl: lines lost [1] / unexpected []"]
    both = pl.DataFrame({"path": ["s.jsonl"], "line_offset": [1]})
    ok = account("jsonl", files, records, both)
    assert ok["problems"] == [] and ok["units"] == 3 and ok["rejected_units"] == 1
    dup = account("jsonl", files, records, pl.DataFrame({"path": ["s.jsonl", "s.jsonl"], "line_offset": [1, 2]}))
    assert any("both evidence and reject" in p for p in dup["problems"])


def _intact_by_definition(row: dict) -> bool:
    """The reference: each stored hash and the id recomputed from their definitions."""
    try:
        data = row["payload"].encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        return (digest == row["payload_sha256"] and zlib.crc32(data) & 0xFFFFFFFF == row["payload_crc32"]
                and evidence_id(row["source"], row["path"], row["kind"], json.loads(row["locator"]), digest,
                                row["extractor_version"]) == row["evidence_id"])
    except (AttributeError, TypeError, ValueError):
        return False


def test_intact_flags_exactly_the_rows_whose_hashes_or_id_no_longer_match(tmp_path):
    from core.evidence import intact

    _, first = _evidence(tmp_path, _tree(tmp_path))
    records = first.records.with_columns(pl.lit('s "quoted" \\ ü').alias("source"))  # a source JSON must escape
    records = records.with_columns(pl.Series("evidence_id", [
        evidence_id(r["source"], r["path"], r["kind"], json.loads(r["locator"]), r["payload_sha256"],
                    r["extractor_version"]) for r in records.iter_rows(named=True)]))
    n = records.height
    row = pl.int_range(pl.len())

    def tamper(i: int, column: str, value) -> pl.Expr:
        return pl.when(row == i).then(value).otherwise(pl.col(column)).alias(column)

    tampered = records.with_columns(
        pl.when(row == 0).then(pl.col("payload") + " ").when(row == n - 1).then(pl.lit(None, pl.Utf8))
        .otherwise(pl.col("payload")).alias("payload"),
        tamper(1, "payload_sha256", pl.lit("0" * 64)),
        tamper(2, "payload_crc32", pl.col("payload_crc32") + 1),
        tamper(3, "evidence_id", pl.lit("f" * 64)),
        tamper(4, "kind", pl.col("kind") + "_other"),
    )
    assert n >= 6
    expected = [_intact_by_definition(r) for r in tampered.iter_rows(named=True)]
    assert intact(tampered).to_list() == expected
    assert expected[:5] == [False] * 5 and expected[-1] is False and all(expected[5:-1])
    # a locator in another form than its canonical text: the same dict, yet extracted again
    spaced = records.with_columns(tamper(5, "locator", pl.col("locator").str.replace(":", ": ")))
    assert ":" in records["locator"][5] and _intact_by_definition(spaced.row(5, named=True))
    assert intact(spaced).to_list() == [i != 5 for i in range(n)]
