"""Extraction in a spawn process pool gives the rows one process gives, in the same order (issue 15)."""

import datetime as dt
import sysconfig
from pathlib import Path

import polars as pl
import pytest

import core.file_extraction as file_extraction
import core.stream_extraction as stream_extraction
from core.evidence import build_evidence
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig

DAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    tree = root / "tree"
    json_pkg = Path(sysconfig.get_paths()["stdlib"]) / "json"
    for path in sorted(json_pkg.glob("*.py")):
        (tree / "json").mkdir(parents=True, exist_ok=True)
        (tree / "json" / path.name).write_bytes(path.read_bytes())
    for i in range(30):
        (tree / f"doc{i}.md").write_text(f"# Doc {i}\n\nSee [next](doc{i + 1}.md).\n" + "long " * 60 * (i % 3) + "\n")
        (tree / f"m{i}.py").write_text(f"import os\nX{i} = {i}\n\n\ndef f{i}(a):\n    return a == None\n")
    (tree / "broken.py").write_text("def (:\n")
    (tree / "blob.bin").write_bytes(b"\x00\x01")
    store = ObjectStore(str(root / "lake"))
    snap = take_snapshot(SourceConfig("s", "tree", tree), DAY, store, today=DAY)
    return store, snap.files


# per source kind: the module whose chunks go to the pool, its chunk-size and pool-threshold knobs, a source name
POOL_KNOBS = {"tree": (file_extraction, "CHUNK_FILES", "POOL_MIN_FILES", "s"),
              "jsonl": (stream_extraction, "CHUNK_BYTES", "POOL_MIN_LINES", "kb")}


def _build(store, files, monkeypatch, workers: str, chunk: int, kind: str = "tree"):
    """build_evidence with ``workers`` processes, chunks of ``chunk`` (files or bytes), the pool from one unit."""
    module, chunk_knob, pool_knob, source = POOL_KNOBS[kind]
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", workers)
    monkeypatch.setattr(module, chunk_knob, chunk)
    monkeypatch.setattr(module, pool_knob, 1)
    return build_evidence(source, kind, DAY, files, store, "ts", NOW)


def test_two_workers_and_two_chunk_sizes_give_the_same_rows_in_the_same_order(snapshot, monkeypatch):
    store, files = snapshot
    one = _build(store, files, monkeypatch, "1", 200)
    assert one.records.height > 300 and one.receipt["files_extracted"] == files.height - 1  # all but blob.bin
    # 7-file chunks: more chunks than the pool's window, so results arrive while others wait to be sent;
    # 3-file chunks in one process: a frame per chunk, joined in order
    for workers, chunk in (("2", 7), ("2", 50), ("1", 3)):
        other = _build(store, files, monkeypatch, workers, chunk)
        assert other.records.equals(one.records) and other.rejects.equals(one.rejects), (workers, chunk)
        assert other.receipt == one.receipt


def test_a_worker_sees_the_same_ruff_and_quarantines_the_same_files(snapshot, monkeypatch):
    store, files = snapshot
    pooled = _build(store, files, monkeypatch, "2", 10)
    lint = pooled.records.filter(pl.col("extractor") == "ruff_diagnostics")
    assert lint.filter(pl.col("path") == "m3.py").height >= 3  # F401, E711 and the per-file summary
    assert pooled.rejects.filter(pl.col("path") == "blob.bin")["reason"].to_list() == ["binary"]


@pytest.mark.parametrize("ruff", ["installed", "missing"])
def test_ruff_beside_the_other_extractors_gives_the_rows_of_ruff_first(snapshot, monkeypatch, tmp_path, ruff):
    """One process lints in a thread while it parses (a core to spare); the rows and errors are those of
    linting first, whether ruff runs or is missing."""
    store, files = snapshot
    if ruff == "missing":
        monkeypatch.setenv("EVIDENCE_LAKE_RUFF", str(tmp_path / "no-ruff"))
    items = [(path, obj) for path, obj, status, is_text in files.select("path", "object", "status", "is_text")
             .iter_rows() if status == "stored" and is_text]
    beside = file_extraction.extract_chunk(store, "s", items, lint_beside=True)
    first = file_extraction.extract_chunk(store, "s", items, lint_beside=False)
    assert beside[0].equals(first[0]) and beside[1] == first[1]
    linted = beside[0].filter(pl.col("extractor") == "ruff_diagnostics").height
    ruff_errors = [path for path, errors in beside[1] if any(e.startswith("ruff_diagnostics:") for e in errors)]
    if ruff == "installed":
        assert linted >= 3 * 30 and not ruff_errors  # F401, E711 and a summary per m*.py
    else:
        assert linted == 0 and "m3.py" in ruff_errors and "doc3.md" not in ruff_errors


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_says_what_to_use(monkeypatch, value):
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", value)
    with pytest.raises(ValueError, match="whole number of processes"):
        file_extraction.workers_setting()


@pytest.fixture(scope="module")
def stream_snapshot(tmp_path_factory):
    """A day of kb streams with every fault, plus a file whose duplicates, blank and CRLF lines straddle chunks."""
    from core.corpus import generate, write_corpus

    root = tmp_path_factory.mktemp("streams")
    kb = root / "kb"
    write_corpus(generate(1, 40, seed=3, faults=True, start=DAY), kb)
    ts = f'"ts":"{DAY.isoformat()}T10:00:00Z"'
    lines = [b"\xef\xbb\xbf{" + ts.encode() + b',"n":0}\r\n']
    for n in range(1, 60):
        lines.append(b"{" + ts.encode() + f',"n":{n % 9}}}'.encode() + (b"\r\n" if n % 4 == 0 else b"\n"))
        if n % 13 == 0:
            lines.append(b"\n")
    lines.append(b'{"ts":"20')  # a torn tail in the last chunk
    (kb / "repeats.jsonl").write_bytes(b"".join(lines))
    # LF only, so duplicates are looked for by hashing every line first: the one repeat is the BOM line's body
    lf = [b"\xef\xbb\xbf{" + ts.encode() + b',"n":0}\n'] + [b"{" + ts.encode() + f',"n":{n}}}\n'.encode()
                                                                 for n in (*range(1, 11), 0, *range(11, 21))]
    (kb / "lf_repeats.jsonl").write_bytes(b"".join(lf))
    store = ObjectStore(str(root / "lake"))
    snap = take_snapshot(SourceConfig("kb", "jsonl", kb), DAY, store, today=DAY)
    return store, snap.files


def test_stream_lines_in_two_workers_and_any_chunk_size_give_the_rows_of_one_pass(stream_snapshot, monkeypatch):
    """Duplicates are found over the whole file even when the first copy is in another chunk, and
    reject byte ranges still point into the file's slice."""
    from core.extract.streams import process_lines

    store, files = stream_snapshot
    one = _build(store, files, monkeypatch, "1", 1_000_000, "jsonl")
    repeats = one.rejects.filter(pl.col("path") == "repeats.jsonl")
    assert repeats.filter(pl.col("reason") == "duplicate").height == 51  # 60 lines, 9 bodies (CR and BOM aside)
    assert {"duplicate", "malformed_json", "torn_tail", "oversize", "invalid_utf8"} <= set(one.rejects["reason"])
    lf = one.rejects.filter(pl.col("path") == "lf_repeats.jsonl")
    assert lf.select("line_offset", "reason", "detail").rows() == [(11, "duplicate", "identical to line 0")]
    assert one.receipt["duplicate_lines"] >= 52 and one.records.height > 40
    for path, obj, offsets in files.filter(pl.col("status") == "stored").select(
            "path", "object", "line_offsets").iter_rows():  # one pass with its own duplicate finding agrees
        records, rejects = process_lines(store.get(obj), offsets, "ts")
        mine = one.rejects.filter(pl.col("path") == path)
        assert one.records.filter(pl.col("path") == path)["line_offset"].to_list() == [r.line_offset for r in records]
        assert mine.select("line_offset", "reason", "detail", "byte_start", "byte_end").rows() == [
            (r.line_offset, r.reason, r.detail, r.byte_start, r.byte_end) for r in rejects], path
    for workers, chunk in (("2", 200), ("2", 3000), ("1", 1)):  # bytes: from a line a chunk to a few chunks
        other = _build(store, files, monkeypatch, workers, chunk, "jsonl")
        assert other.records.equals(one.records) and other.rejects.equals(one.rejects), (workers, chunk)
        assert other.receipt == one.receipt
    # short lines: a chunk also ends after CHUNK_MAX_LINES lines, in the middle of a region and in the tail
    monkeypatch.setattr(stream_extraction, "CHUNK_MAX_LINES", 4)
    for workers, chunk in (("2", 300), ("1", 1_000_000)):
        other = _build(store, files, monkeypatch, workers, chunk, "jsonl")
        assert other.records.equals(one.records) and other.rejects.equals(one.rejects), (workers, chunk)
        assert other.receipt == one.receipt


def test_a_chunk_of_short_lines_ends_after_chunk_max_lines_in_the_middle_and_in_the_tail(tmp_path, monkeypatch):
    """Bytes alone would put 8 MB of tiny lines (hundreds of thousands of records) in one chunk."""
    import core.stream_extraction as stream_extraction

    monkeypatch.setattr(stream_extraction, "CHUNK_MAX_LINES", 4)
    store = ObjectStore(str(tmp_path / "lake"))
    data = b"".join(b'{"ts":%d}\n' % i for i in range(10))
    obj = store.put(data).object
    store.flush()
    for chunk_bytes in (30, 1 << 20):  # a byte region of more than 4 lines, and a tail of 10
        tasks = list(stream_extraction.chunk_tasks(store, "kb", [("s.jsonl", obj, list(range(10)))], "ts", 1 << 20,
                                                   chunk_bytes))
        assert [(len(t[4]), t[7]) for t in tasks] == [(4, False), (4, False), (2, True)], chunk_bytes
        assert b"".join(t[3] for t in tasks) == data


def test_fewer_files_than_the_pool_threshold_run_in_a_pool_left_warm_and_give_the_same_rows(snapshot, monkeypatch):
    """The evidence check's sample (fewer files than POOL_MIN_FILES) goes to the pool the evidence step left
    warm, in smaller chunks: the rows are those of one process."""
    from core.pool import WARM

    store, files = snapshot
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", "2")
    items = [(path, obj) for path, obj, status, is_text in files.select("path", "object", "status", "is_text")
             .iter_rows() if status == "stored" and is_text]
    assert 8 <= len(items) < file_extraction.POOL_MIN_FILES
    WARM.close()
    try:
        alone = list(file_extraction.iter_extracted(store, "s", items))  # no warm pool: one process
        assert len(alone) == 1 and WARM.ready() == 0
        monkeypatch.setattr(file_extraction, "POOL_MIN_FILES", 1)
        list(file_extraction.iter_extracted(store, "s", items[:8], chunk_files=4))  # the step that leaves it warm
        monkeypatch.setattr(file_extraction, "POOL_MIN_FILES", len(items) + 1)
        assert WARM.ready() == 2
        warm = list(file_extraction.iter_extracted(store, "s", items))
        per_chunk = -(-len(items) // (file_extraction.WARM_CHUNKS_PER_WORKER * 2))
        assert len(warm) == -(-len(items) // per_chunk) > 2  # four chunks a worker, not one chunk
        assert pl.concat([records for records, _ in warm]).equals(alone[0][0])
        assert [f for _, per_file in warm for f in per_file] == alone[0][1]
    finally:
        WARM.close()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sampled_line_blocks_give_the_rows_a_full_pass_gives_those_lines(stream_snapshot, monkeypatch, workers):
    """The evidence check's stream sample: only some blocks of each file's lines are extracted, and they give
    exactly the full pass's records and rejects of those lines (duplicates of lines in unsampled blocks, CRLF,
    the BOM line and the torn tail included)."""
    from core import check_sample
    from core.check_sample import Sample, block_unit, file_units

    store, files = stream_snapshot
    monkeypatch.setattr(check_sample, "LINE_BLOCK", 7)
    full = _build(store, files, monkeypatch, "1", 1_000_000, "jsonl")
    units = sorted(file_units(files))
    blocks = sorted(u for u in units if check_sample.BLOCK_MARK in u)
    last_of = {path: max(offsets) // 7 for path, offsets in files.select("path", "line_offsets").iter_rows()
               if offsets}
    whole_files = [u for u in units if check_sample.BLOCK_MARK not in u]  # not stored: rejected whole
    selections = {"every other block": blocks[::2], "the other blocks": blocks[1::2],
                  "only each file's last block": [block_unit(p, b) for p, b in last_of.items()],
                  "no block": [], "every block": blocks}
    for name, chosen in selections.items():
        sample = Sample(frozenset([*chosen, *whole_files]), len(units), "0.1")
        got = _build_blocks(store, files, monkeypatch, workers, sample)
        want_records, want_rejects = full.records.filter(sample.rows()), full.rejects.filter(sample.rows())
        assert got.records.equals(want_records) and got.rejects.equals(want_rejects), name
        if name == "every other block":
            assert 0 < want_records.height < full.records.height
            assert 0 < want_rejects.filter(pl.col("reason") == "duplicate").height < full.receipt["duplicate_lines"]


def _build_blocks(store, files, monkeypatch, workers, sample):
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", workers)
    monkeypatch.setattr(stream_extraction, "POOL_MIN_LINES", 1)
    return build_evidence("kb", "jsonl", DAY, files.filter(pl.col("path").is_in(sorted(sample.files()))), store,
                          "ts", NOW, blocks=sample.blocks())
