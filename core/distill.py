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
from collections import defaultdict
from collections.abc import Callable, Collection

import orjson
import polars as pl

from core.canonical import canonical_json, canonical_text
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES
from core.perf import paused_gc
from core.progress import Progress
from core.scoring import NOT_SCORED, SCORER, SCORER_VERSION, score_record

DEFAULT_EVAL_RATIO = 0.1
DISTILL_INPUT = ("evidence_id", "kind", "path", "payload")  # the evidence columns scores and datasets read
PROGRESS_ROWS = 8192  # rows scored between two progress counts (a call per row would cost more than it tells)


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
        cols: dict[str, list] = {c: [] for c in ("evidence_id", "kind", "path", "score", "category", "reasons",
                                                 "features")}
        progress = Progress("scored", rows.height, "records", report)
        for i, (eid, kind, path, text, diagnostics, syntax, dup_content, dup_name) in enumerate(rows.iter_rows()):
            if i % PROGRESS_ROWS == PROGRESS_ROWS - 1:
                progress.advance(PROGRESS_ROWS)
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
    return DISTILL_SCORES.frame(cols, source, day, scorer=SCORER, scorer_version=SCORER_VERSION)


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
    examples: dict[tuple[str, str], tuple[list[str], str]] = {}

    def add(dataset: str, evidence_ids: list[str], example: dict) -> None:
        text = canonical_json(example, known_finite=True)  # strings and values orjson parsed: no NaN or Infinity
        example_id = example_id_of(dataset, text)
        if (dataset, example_id) not in examples:
            examples[dataset, example_id] = (sorted(evidence_ids), text.decode("utf-8"))

    # per task, its sessions' (id, prompt, response) on each side: not their parsed payloads (1M kb lines: the
    # 545k session dicts held until the pairs were made took the step's peak from ~1.9 to 3.2 GiB)
    by_task: dict[str, dict[str, list[tuple[str, object, object]]]] = defaultdict(lambda: {"good": [], "bad": []})
    for eid, kind, path, payload_text, category in joined.iter_rows():
        p = parsed_payload(payload_text)
        if not isinstance(p, dict):
            continue
        if kind == "session":
            prompt, response = p.get("prompt"), p.get("response")
            if not (isinstance(prompt, str) and prompt and isinstance(response, str)):
                continue
            if category == "accepted" and response.strip():
                add("sft", [eid], {"instruction": prompt, "response": response, "origin": "session"})
            task = session_task(p)
            if task is not None:
                side = "good" if category == "accepted" else "bad" if category == "rejected" or (
                    category == "needs_human_review" and not p.get("grounded_in_roster")) else None
                if side:
                    by_task[task][side].append((eid, prompt, response))
        elif kind == "symbol" and category == "accepted" and p.get("doc"):
            signature = p.get("signature") or ""
            add("sft", [eid], {"instruction": f"Explain what `{p.get('qualified_name')}{signature}` does.",
                               "response": p["doc"], "origin": "symbol", "path": path})
        elif kind == "section" and category == "accepted":
            add("rag", [eid], {"path": path, "heading_path": p.get("heading_path") or [], "text": p.get("text", "")})
    for task in sorted(by_task):
        good, bad = by_task[task]["good"], by_task[task]["bad"]
        for (g_id, g_prompt, g_response), (b_id, _, b_response) in zip(good, bad, strict=False):
            add("preference", [g_id, b_id], {"prompt": g_prompt, "chosen": g_response,
                                             "rejected": b_response or "", "task_id": task})
    cols: dict[str, list] = {"dataset": [], "example_id": [], "split": [], "evidence_ids": [], "example": []}
    for (dataset, example_id), (evidence_ids, example) in examples.items():
        cols["dataset"].append(dataset)
        cols["example_id"].append(example_id)
        cols["split"].append(split_for(example_id, eval_ratio))
        cols["evidence_ids"].append(evidence_ids)
        cols["example"].append(example)
    # rows in (dataset, example_id) order, unique: sorted by polars (UTF-8 byte order is code point order), not
    # as Python tuples (275k kb lines' 90k examples: 0.45 s -> 0.03 s)
    frame = DISTILL_DATASETS.frame(cols, source, day, scorer_version=SCORER_VERSION)
    return frame.sort("dataset", "example_id")
