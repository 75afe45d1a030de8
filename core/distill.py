"""Scores and training datasets of one evidence partition.

Scores: one row per scored evidence record for the current scorer version, with the
context the rubrics need (duplicate section content, duplicate symbol names, diagnostics
and syntax errors on the same file), all derived from the partition itself.

Datasets: ``sft`` (accepted sessions and accepted documented symbols), ``preference``
(accepted vs rejected sessions of the same task), ``rag`` (accepted sections). An
example's id is the sha256 of its canonical content, so duplicates collapse; its split
is decided by that id alone, so it never changes when more data arrives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Iterator

import orjson
import polars as pl
import pyarrow as pa

from core.canonical import canonical_json, canonical_text
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES, typed_series
from core.perf import paused_gc
from core.pool import in_order, pool_size
from core.progress import Progress
from core.scoring import NOT_SCORED, SCORER, SCORER_VERSION, score_record

DEFAULT_EVAL_RATIO = 0.1
DISTILL_INPUT = ("evidence_id", "kind", "path", "payload")  # the evidence columns scores and datasets read
CHUNK_ROWS = 32_768  # rows scored, or made into examples, at a time (in a pool worker, or here)
POOL_MIN_ROWS = 200_000  # fewer rows go to a pool only when one is warm (core.pool.WARM): no worker starts for them
WARM_POOL_MIN_ROWS = 20_000  # and not even then below this
SCORE_COLUMNS = ("evidence_id", "kind", "path", "score", "category", "reasons", "features")


def example_id_of(dataset: str, example: bytes) -> str:
    """``content_id({"dataset": dataset, "example": ...})`` from the example's canonical JSON, spliced: the keys
    sort as written and canonical JSON has no spaces, so the example is serialised once for its id and row."""
    return hashlib.sha256(b'{"dataset":' + canonical_json(dataset) + b',"example":' + example + b"}").hexdigest()


def split_for(example_id: str, eval_ratio: float = DEFAULT_EVAL_RATIO) -> str:
    """'eval' for a stable fraction of example ids, 'train' for the rest."""
    if not 0.0 <= eval_ratio <= 1.0:
        raise ValueError(f"eval ratio must be within [0, 1], got {eval_ratio}")
    bucket = int(hashlib.sha256(example_id.encode("ascii")).hexdigest()[:8], 16) / 0x1_0000_0000
    return "eval" if bucket < eval_ratio else "train"


def parsed_payload(text: str) -> object:
    """A payload's JSON value; None when it is not JSON (the rubric scores it as unreadable)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def session_task(payload: object) -> str | None:
    """The task a session payload belongs to, as preference pairs group sessions (None: it pairs with none)."""
    task = payload.get("task_id") if isinstance(payload, dict) else None
    return task if isinstance(task, str) else None


def context_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the rubric context of each row, computed over the whole partition in polars.

    file_diagnostics: diagnostics on the row's file; syntax_error: one of them is a syntax error;
    duplicate_content: a section whose content_hash another section shares; duplicate_name: a
    symbol whose qualified_name another symbol shares. Keys are read with ``json_path_match``:
    payloads are canonical JSON written by our extractors (a section's content_hash and a symbol's
    qualified_name are strings), so grouping by the matched text groups by the value. A missing key
    and a JSON null group together, as ``dict.get`` does (tests pin this against a per-row reference).
    """
    kind, payload = pl.col("kind"), pl.col("payload")
    is_object = payload.str.starts_with("{")  # canonical JSON of a dict, the only payload a rubric reads
    section = (kind == "section") & is_object
    symbol = (kind == "symbol") & is_object
    diagnostic = kind == "diagnostic"
    # when/then first: only the rows a key is read from are parsed
    code = pl.when(diagnostic & is_object).then(payload).str.json_path_match("$.code")
    syntax = (code == "syntax_error").fill_null(False)
    content = pl.when(section).then(payload).str.json_path_match("$.content_hash")
    name = pl.when(symbol).then(payload).str.json_path_match("$.qualified_name")
    return rows.with_columns(
        diagnostic.sum().over("path").cast(pl.Int64).alias("file_diagnostics"),
        syntax.any().over("path").alias("syntax_error"),
        (section & (pl.len().over(section, content) > 1)).alias("duplicate_content"),
        (symbol & (pl.len().over(symbol, name) > 1)).alias("duplicate_name"),
    )


_KEYED = {"symbol": "$.qualified_name", "section": "$.content_hash"}  # the kinds whose rows share a key's context
# a key whose matched text, quoted, is in the payload of every row it groups with: it starts with a letter or
# an underscore (no number, object or list has such text), holds nothing JSON escapes, and is no JSON literal
_VERBATIM = r'^[^\W\d][^"\\\x00-\x1f]*$'
_LITERALS = ["true", "false", "null"]


def context_rows(rows: pl.DataFrame, only: pl.Series) -> pl.DataFrame:
    """The rows of ``rows`` that the context of the rows ``only`` names depends on, in their order.

    Every row of their files (diagnostics, syntax errors), and every symbol or section whose payload
    holds the JSON string of a scored one's name or content hash: a superset (another key's value, a
    nested look-alike), which ``context_frame`` then decides exactly. A key whose text may not be
    verbatim in a payload (``_VERBATIM``), or a missing or null one (which groups with every other
    missing one), takes every row of its kind. A sampled check scores 10% of the stdlib's rows: this
    spares parsing the names of the other 90%.
    """
    scored = rows.filter(pl.col("evidence_id").is_in(only.implode()))
    keep = pl.col("path").is_in(scored["path"].unique().implode())
    for kind, path in _KEYED.items():
        mine = scored.filter((pl.col("kind") == kind) & pl.col("payload").str.starts_with("{"))
        keys = mine.select(pl.col("payload").str.json_path_match(path))[:, 0]
        if not keys.len():
            continue
        if keys.null_count() or not keys.str.contains(_VERBATIM).all() or keys.is_in(_LITERALS).any():
            keep = keep | (pl.col("kind") == kind)
        else:  # quoted: a class's name is inside each of its methods' names, as a word, not as a JSON string
            quoted = [f'"{key}"' for key in keys.unique().sort().to_list()]
            keep = keep | ((pl.col("kind") == kind) & pl.col("payload").str.contains_any(quoted))
    return rows.filter(keep)


def build_scores(records: pl.DataFrame, source: str, day: dt.date,
                 only: Collection[str] | None = None, report: Callable[[str], None] | None = None) -> pl.DataFrame:
    """distill/scores rows for the current scorer version.

    ``only``: score just these evidence ids (a sampled check), each with the context of the whole
    partition, so a sampled row is exactly the row the full build gives. The context is computed in
    polars, so only the payloads of the scored rows are parsed. ``report`` receives a progress message
    now and then (``core.progress``).
    """
    with paused_gc():
        rows = records.select("evidence_id", "kind", "path", "payload")
        if only is not None:  # the context's rows first: sorting them alone, not the partition (0.05 s at 1x)
            chosen = pl.Series(sorted(only), dtype=pl.Utf8)
            rows = context_rows(rows, chosen)
        rows = rows.sort("evidence_id")
        rows = context_frame(rows).filter(~pl.col("kind").is_in(NOT_SCORED))
        if only is not None:
            rows = rows.filter(pl.col("evidence_id").is_in(chosen.implode()))
        progress = Progress("scored", rows.height, "records", report)
        parts = []
        for part in in_chunks(score_chunk, rows):
            parts.append(part)
            progress.advance(part.height)
    return DISTILL_SCORES.frame(pl.concat(parts), source, day, scorer=SCORER, scorer_version=SCORER_VERSION)


def in_chunks(fn: Callable[[pl.DataFrame], object], rows: pl.DataFrame) -> Iterator:
    """``fn`` of consecutive ``CHUNK_ROWS`` slices of ``rows`` (one, empty, of no rows), in order; in the warm
    spawn pool when that pays (``pool_workers``). A slice goes to a worker as Arrow, which crosses in a
    fifth of a polars pickle's time; here it is passed as it is.

    Each row's output depends on that row alone (and on columns computed over the partition before),
    so the chunks joined in order are one pass's output, whatever the worker count (test).
    """
    starts = range(0, max(rows.height, 1), CHUNK_ROWS)
    workers = pool_workers(rows.height)
    if workers <= 1 or len(starts) < 2:
        return (fn(rows.slice(start, CHUNK_ROWS)) for start in starts)
    return in_order(_on_arrow, ((fn, rows.slice(start, CHUNK_ROWS).to_arrow()) for start in starts), workers,
                    keep_warm=True)


def _on_arrow(fn: Callable[[pl.DataFrame], object], rows: pa.Table) -> object:
    """``fn`` of a slice that crossed to a pool worker as Arrow."""
    return fn(pl.from_arrow(rows))


def pool_workers(rows: int) -> int:
    """Processes to score ``rows`` rows in (``core.pool.pool_size``): from ``POOL_MIN_ROWS``, or from
    ``WARM_POOL_MIN_ROWS`` on a warm pool.

    A 1M-line kb day scores and makes examples of 1M sessions: 9.6 + 8.8 s in one process. The stdlib's
    86k symbols score in 1.0 s, about what starting two workers costs, so only a warm pool takes them.
    """
    return pool_size(rows, POOL_MIN_ROWS, WARM_POOL_MIN_ROWS)


def score_chunk(rows: pl.DataFrame) -> pl.DataFrame:
    """``SCORE_COLUMNS`` of the scored rows of a chunk of ``context_frame``'s rows, in their order."""
    cols: dict[str, list] = {c: [] for c in SCORE_COLUMNS}
    with paused_gc():  # a payload dict per row, freed by reference counting
        for eid, kind, path, text, diagnostics, syntax, dup_content, dup_name in rows.iter_rows():
            payload = parsed_payload(text)
            ctx = {"file_diagnostics": diagnostics, "syntax_error": syntax}
            if isinstance(payload, dict):
                ctx["duplicate_content"] = dup_content
                ctx["duplicate_name"] = dup_name
            result = score_record(kind, payload, ctx)
            if result is None:
                continue
            cols["evidence_id"].append(eid)
            cols["kind"].append(kind)
            cols["path"].append(path)
            cols["score"].append(result.score)
            cols["category"].append(result.category)
            cols["reasons"].append(result.reasons)
            cols["features"].append(canonical_text(result.features))
    schema = DISTILL_SCORES.polars_schema
    return pl.DataFrame([typed_series(c, cols[c], schema[c]) for c in SCORE_COLUMNS])


Examples = dict[tuple[str, str], tuple[list[str], str]]  # (dataset, example_id) -> (sorted evidence ids, text)
EXAMPLES_SCHEMA = pa.schema([("dataset", pa.string()), ("example_id", pa.string()),
                             ("evidence_ids", pa.list_(pa.string())), ("example", pa.string())])
# the sessions that may pair, in row order: their prompt and response, not their parsed payloads (1M kb lines: the
# 545k session dicts held until the pairs were made took the step's peak from ~1.9 to 3.2 GiB)
SIDES_SCHEMA = pa.schema([(name, pa.string()) for name in ("task", "side", "evidence_id", "prompt", "response")])


def build_datasets(records: pl.DataFrame, scores: pl.DataFrame, source: str, day: dt.date,
                   eval_ratio: float = DEFAULT_EVAL_RATIO) -> pl.DataFrame:
    """distill/datasets rows (sft, preference, rag) from accepted/rejected evidence."""
    joined = records.select("evidence_id", "kind", "path", "payload").join(
        scores.filter(pl.col("scorer_version") == SCORER_VERSION).select("evidence_id", "category"),
        on="evidence_id", how="inner").filter(
        # the rows an example is made of: sessions (sft and both sides of a preference), accepted symbols and
        # sections; the other rows' payloads are not parsed (the stdlib: 86k parsed -> 9.5k)
        (pl.col("kind") == "session") | (pl.col("kind").is_in(["symbol", "section"])
                                         & (pl.col("category") == "accepted"))).sort("evidence_id")
    parts, sides = [], []
    for part, side in in_chunks(example_chunk, joined):  # in evidence id order: of two equal examples, the first
        parts.append(pl.from_arrow(part))
        sides.append(pl.from_arrow(side))
    preference: Examples = {}
    for task, g_id, g_prompt, g_response, b_id, b_response in preference_pairs(pl.concat(sides)).iter_rows():
        add_example(preference, "preference", [g_id, b_id], {"prompt": g_prompt, "chosen": g_response,
                                                             "rejected": b_response or "", "task_id": task})
    examples = pl.concat([*parts, pl.from_arrow(examples_table(preference))]).unique(
        ["dataset", "example_id"], keep="first", maintain_order=True)
    splits = [split_for(example_id, eval_ratio) for example_id in examples["example_id"].to_list()]
    # rows in (dataset, example_id) order, unique: sorted by polars (UTF-8 byte order is code point order), not
    # as Python tuples (275k kb lines' 90k examples: 0.45 s -> 0.03 s)
    frame = DISTILL_DATASETS.frame(examples.with_columns(pl.Series("split", splits, pl.Utf8)), source, day,
                                   scorer_version=SCORER_VERSION)
    return frame.sort("dataset", "example_id")


def add_example(examples: Examples, dataset: str, evidence_ids: list[str], example: dict) -> None:
    """``example`` under its content id, unless an example with that id is there already (the first wins)."""
    text = canonical_json(example, known_finite=True)  # strings and values orjson parsed: no NaN or Infinity
    example_id = example_id_of(dataset, text)
    if (dataset, example_id) not in examples:
        examples[dataset, example_id] = (sorted(evidence_ids), text.decode("utf-8"))


def examples_table(examples: Examples) -> pa.Table:
    """``examples`` as rows of ``EXAMPLES_SCHEMA``, in insertion order."""
    keys, values = list(examples), list(examples.values())
    return pa.table([[k[0] for k in keys], [k[1] for k in keys], [v[0] for v in values], [v[1] for v in values]],
                    schema=EXAMPLES_SCHEMA)


def preference_pairs(sides: pl.DataFrame) -> pl.DataFrame:
    """(task, good id, prompt, response, bad id, bad response) per preference pair: within a task the n-th
    accepted session in evidence id order pairs with the n-th rejected one; tasks in code point order."""
    ranked = [sides.filter(pl.col("side") == side).with_columns(pl.int_range(pl.len()).over("task").alias("n"))
              for side in ("good", "bad")]
    good, bad = (frame.select("task", "n", pl.col("evidence_id").alias(f"{side}_id"), "prompt",
                              pl.col("response").alias(f"{side}_response"))
                 for frame, side in zip(ranked, ("good", "bad"), strict=True))
    return good.join(bad.drop("prompt"), on=["task", "n"], how="inner").sort("task", "n").select(
        "task", "good_id", "prompt", "good_response", "bad_id", "bad_response")


def example_chunk(joined: pl.DataFrame) -> tuple[pa.Table, pa.Table]:
    """The sft and rag examples of a chunk of ``build_datasets``' joined rows (``EXAMPLES_SCHEMA``, the first
    of equal ones), and its sessions that may pair (``SIDES_SCHEMA``; pairs need every chunk's sessions of a
    task), both in row order and as Arrow, which crosses from a worker without a Python object per value."""
    examples: Examples = {}
    sides: list[list[str]] = [[] for _ in SIDES_SCHEMA.names]
    with paused_gc():
        for eid, kind, path, payload_text, category in joined.iter_rows():
            p = parsed_payload(payload_text)
            if not isinstance(p, dict):
                continue
            if kind == "session":
                prompt, response = p.get("prompt"), p.get("response")
                if not (isinstance(prompt, str) and prompt and isinstance(response, str)):
                    continue
                if category == "accepted" and response.strip():
                    add_example(examples, "sft", [eid], {"instruction": prompt, "response": response,
                                                         "origin": "session"})
                task = session_task(p)
                if task is not None:
                    side = "good" if category == "accepted" else "bad" if category == "rejected" or (
                        category == "needs_human_review" and not p.get("grounded_in_roster")) else None
                    if side:
                        for values, value in zip(sides, (task, side, eid, prompt, response), strict=True):
                            values.append(value)
            elif kind == "symbol" and category == "accepted" and p.get("doc"):
                signature = p.get("signature") or ""
                add_example(examples, "sft", [eid], {
                    "instruction": f"Explain what `{p.get('qualified_name')}{signature}` does.", "response": p["doc"],
                    "origin": "symbol", "path": path})
            elif kind == "section" and category == "accepted":
                add_example(examples, "rag", [eid], {"path": path, "heading_path": p.get("heading_path") or [],
                                                     "text": p.get("text", "")})
    return examples_table(examples), pa.table(sides, schema=SIDES_SCHEMA)
