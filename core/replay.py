"""Replay: retrieve → bundle → respond → validate → log, for tasks with known answers.

Tasks are derived from the partition's own index (symbols: "where is X defined" and, when
documented, their docstring's words; sections: their heading words; only when the answer is
unique in the partition) or authored in
``data/replay_tasks/*.jsonl|yaml``. A task's id is the hash of its content. Bundles are
bounded (sections, bytes, expansions); a request without bounds is refused.

With an expander, each symbol or section hit of a bundle carries the head of its own bytes
(read from the objects store through ``core.expand``, one budgeted step per task, one
receipt per item), so the receipts of a batch show exactly what the responder saw. A step
that is refused (a budget, a missing object) leaves FAILURE receipts and the bundle falls
back to the index snippets.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from core.canonical import canonical_json, content_id
from core.contracts import REPLAY_RUNS, REPLAY_TASKS
from core.expand import ExpandBudgets, Expander, ExpandError
from core.responders import ResponderError
from core.search import SearchError, SearchIndex
from core.tokenize import query_terms

MAX_DERIVED_SYMBOLS = 150
MAX_DERIVED_SECTIONS = 50
BUNDLE_LINES = 8  # head(n) of each expanded symbol or section


class BudgetError(ValueError):
    """A bundle request without bounds, or with bounds that make no sense."""


@dataclass(frozen=True)
class Budgets:
    max_sections: int = 5
    max_bytes: int = 4096
    max_expansions: int = 5  # bundle items whose own bytes are expanded (0: index snippets only)
    max_answer_bytes: int = 4096

    def validate(self) -> None:
        for name in ("max_sections", "max_bytes", "max_answer_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise BudgetError(f"{name} must be a positive integer: an unbounded bundle is refused")
        if not isinstance(self.max_expansions, int) or self.max_expansions < 0:
            raise BudgetError("max_expansions must be a non-negative integer")


def _sample(df: pl.DataFrame, id_col: str, n: int) -> pl.DataFrame:
    """A deterministic sample: the n rows whose id hashes lowest."""
    keyed = df.with_columns(pl.col(id_col).map_elements(lambda v: hashlib.sha256(v.encode()).hexdigest(),
                                                        return_dtype=pl.Utf8).alias("_k"))
    return keyed.sort("_k").head(n).drop("_k")


MIN_DOC_TERMS = 3  # a "what does" query needs this many searchable words of its own


def _well_named(name: str) -> bool:
    """Not a dunder, not one letter, and at least one searchable word."""
    return len(name) > 1 and not (name.startswith("__") and name.endswith("__")) and bool(query_terms(name))


def _once(df: pl.DataFrame, col: str) -> pl.Expr:
    """Rows whose ``col`` value occurs exactly once in ``df``."""
    return pl.col(col).is_in(df.group_by(col).len().filter(pl.col("len") == 1)[col].implode())


def derive_tasks(symbols: pl.DataFrame, sections: pl.DataFrame) -> list[dict]:
    """Tasks from the partition's own symbols and sections, each with exactly one right answer.

    - ``where is X defined``: X is the name when no other symbol of the partition has it, else
      the qualified name; a qualified name defined twice (``if``/``else`` branches) gives no task.
    - ``what does X do``: the query is the first docstring line, not the name (which would give
      the answer away); only a line with ``MIN_DOC_TERMS`` words that no other symbol shares.
    - sections: the heading path, when no other section has the same one.

    Dunders and one-letter names give no task: "where is __init__ defined" has hundreds of
    answers and "where is f defined" searches for nothing but "defined".
    """
    tasks = []
    symbols = symbols.filter(pl.col("kind") != "module")
    name_once = set(symbols.filter(_once(symbols, "name"))["name"].to_list())
    documented = symbols.filter(pl.col("doc").is_not_null())
    doc_once = set(documented.filter(_once(documented, "doc"))["doc"].to_list())
    candidates = symbols.filter(_once(symbols, "qualified_name")).filter(
        pl.col("name").map_elements(_well_named, return_dtype=pl.Boolean))
    picked = _sample(candidates, "symbol_id", MAX_DERIVED_SYMBOLS)
    for symbol_id, name, qualified, doc, eid in picked.select(
            "symbol_id", "name", "qualified_name", "doc", "evidence_id").iter_rows():
        named = name if name in name_once else qualified
        tasks.append({"query": f"where is {named} defined", "expected_ids": [eid], "expected_terms": [],
                      "origin": "derived_symbol_where", "reference": symbol_id})
        if doc and doc in doc_once and len(query_terms(doc)) >= MIN_DOC_TERMS:
            tasks.append({"query": doc, "expected_ids": [eid], "expected_terms": [],
                          "origin": "derived_symbol_what", "reference": symbol_id})
    if sections.height:
        keyed = sections.with_columns(pl.col("heading_path").list.join(" › ").alias("_heading"))
        with_heading = keyed.filter(_once(keyed, "_heading")).filter(pl.col("heading_path").map_elements(
            lambda hp: bool(query_terms(" ".join(hp))), return_dtype=pl.Boolean))
        for path, heading_path, line, eid in _sample(with_heading, "section_id", MAX_DERIVED_SECTIONS).select(
                "path", "heading_path", "line_start", "evidence_id").iter_rows():
            tasks.append({"query": " ".join(heading_path), "expected_ids": [eid], "expected_terms": [],
                          "origin": "derived_section", "reference": f"{path}:{line + 1}"})
    return tasks


def load_authored(folder: Path, source: str) -> list[dict]:
    """Authored tasks for ``source`` from *.jsonl / *.yaml / *.yml files (a task without 'source' applies to all)."""
    if not folder.is_dir():
        return []
    raw: list[tuple[str, object]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".jsonl":
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                if line.strip():
                    raw.append((f"{path.name}:{n + 1}", json.loads(line)))
        elif path.suffix in (".yaml", ".yml"):
            for n, item in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
                raw.append((f"{path.name}#{n}", item))
    out = []
    for where, item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise ValueError(f"{where}: an authored task needs a non-empty 'query'")
        if item.get("source", source) == source:
            out.append({**item, "where": where})
    return out


def resolve_authored(tasks: list[dict], symbols: pl.DataFrame, sections: pl.DataFrame) -> tuple[list[dict], list[str]]:
    """Map expected {symbol_id} / {path, line} to evidence ids; report the ones that do not resolve."""
    resolved, unresolved = [], []
    by_symbol = dict(symbols.select("symbol_id", "evidence_id").iter_rows())
    spans = [*symbols.select("path", "line", "line_end", "evidence_id").iter_rows(),
             *sections.select("path", "line_start", "line_end", "evidence_id").iter_rows()]
    for task in tasks:
        ids = []
        for want in task.get("expected") or []:
            if isinstance(want, dict) and "symbol_id" in want:
                ids.append(by_symbol.get(want["symbol_id"]))
            elif isinstance(want, dict) and "path" in want and "line" in want:
                line = int(want["line"]) - 1  # authored lines are 1-based, as editors show them
                hits = sorted((e - s, eid) for p, s, e, eid in spans if p == want["path"] and s <= line < e)
                ids.append(hits[0][1] if hits else None)
            else:
                ids.append(None)
        if not ids or None in ids:
            unresolved.append(task["where"])
            continue
        resolved.append({"query": task["query"], "expected_ids": sorted(set(ids)),
                         "expected_terms": list(task.get("expected_terms") or []), "origin": "authored",
                         "reference": task["where"]})
    return resolved, unresolved


def tasks_frame(tasks: list[dict], source: str, day: dt.date) -> pl.DataFrame:
    rows: dict[str, list] = {c: [] for c in ("task_id", "query", "expected_ids", "expected_terms", "origin",
                                             "reference")}
    seen = set()
    for t in tasks:
        task_id = content_id({"query": t["query"], "expected_ids": t["expected_ids"], "origin": t["origin"]})
        if task_id in seen:
            continue
        seen.add(task_id)
        rows["task_id"].append(task_id)
        for col in ("query", "expected_ids", "expected_terms", "origin", "reference"):
            rows[col].append(t[col])
    return REPLAY_TASKS.frame(rows, source, day).sort("task_id")


def build_bundle(hits, budgets: Budgets, expander: Expander | None = None, step: str = "bundle"
                 ) -> tuple[list[dict], bytes]:
    """The bounded bundle: at most max_sections items, cut to fit max_bytes of canonical JSON."""
    budgets.validate()
    texts = _expanded(hits[: budgets.max_sections], budgets, expander, step) if expander else {}
    items: list[dict] = []
    for hit in hits[: budgets.max_sections]:
        body = texts.get(hit.evidence_id, hit.snippet)
        item = {"ref": f"E{len(items) + 1}", "evidence_id": hit.evidence_id, "path": hit.path, "line": hit.line,
                "text": f"{hit.title}. {body}"}
        if len(canonical_json([*items, item])) > budgets.max_bytes:
            break
        items.append(item)
    return items, canonical_json(items)


def bundle_expander(resolver, run_id: str, budgets: Budgets) -> Expander:
    """The expander of a replay batch: its receipts are the batch's, its budgets the bundle's."""
    budgets.validate()
    return Expander(resolver, run_id, ExpandBudgets(
        max_symbols=budgets.max_sections, max_sections=budgets.max_sections, max_bytes=budgets.max_bytes,
        max_expansions=max(1, budgets.max_expansions)))


def _expanded(hits, budgets: Budgets, expander: Expander, step: str) -> dict[str, str]:
    """evidence_id -> the head of its symbol's or section's bytes, in one budgeted step (empty if refused)."""
    wanted = []
    for hit in hits:
        ref = expander.resolver.ref_for_evidence(hit.source, hit.day, hit.evidence_id)
        if ref is not None and len(wanted) < budgets.max_expansions:
            wanted.append((hit, ref))
    if not wanted:
        return {}
    try:
        served = expander.expand([(ref, f"head({BUNDLE_LINES})") for _, ref in wanted], step,
                                 wanted[0][0].source, wanted[0][0].day)
    except ExpandError:  # the receipts say why; the responder gets the index snippets
        return {}
    return {hit.evidence_id: e.text.rstrip("\n") for (hit, _), e in zip(wanted, served, strict=True)}


def replay_task(task: dict, index: SearchIndex, responder, budgets: Budgets, k: int = 10,
                expander: Expander | None = None) -> dict:
    """Run one task; every failure mode becomes an outcome, never an exception."""
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    row = {"task_id": task["task_id"], "retrieved_ids": [], "bundle_sha256": None, "bundle_bytes": 0,
           "responder": responder.name, "response_sha256": None, "cited_ids": [], "grounded": False,
           "hit_at_k": False, "reciprocal_rank": 0.0, "outcome": "miss", "detail": None, "started_at": started}
    try:
        hits = index.search(task["query"], k=k)
    except SearchError as exc:  # nothing to search for: the task is at fault, the responder is not asked
        row.update(outcome="invalid_task", detail=str(exc))
        row["latency_ms"] = (time.perf_counter() - clock) * 1000
        return row
    retrieved = [h.evidence_id for h in hits]
    row["retrieved_ids"] = retrieved
    expected = set(task["expected_ids"])
    ranks = [i + 1 for i, eid in enumerate(retrieved) if eid in expected]
    row["hit_at_k"] = bool(ranks)
    row["reciprocal_rank"] = 1.0 / ranks[0] if ranks else 0.0
    items, bundle = build_bundle(hits, budgets, expander if budgets.max_expansions else None, task["task_id"])
    row["bundle_sha256"], row["bundle_bytes"] = hashlib.sha256(bundle).hexdigest(), len(bundle)
    try:
        response = responder.respond(task["query"], items)
    except ResponderError as exc:
        row.update(outcome="infra_error", detail=str(exc))
        row["latency_ms"] = (time.perf_counter() - clock) * 1000
        return row
    refs = {item["ref"]: item["evidence_id"] for item in items}
    cited = [refs.get(ref) for ref in response.cited_refs]
    row["cited_ids"] = [c for c in cited if c]
    row["response_sha256"] = hashlib.sha256(canonical_json(
        {"answer": response.answer, "cited": response.cited_refs})).hexdigest()
    row["grounded"] = bool(cited) and None not in cited and set(row["cited_ids"]) <= set(retrieved)
    if len(response.answer.encode()) > budgets.max_answer_bytes or row["bundle_bytes"] > budgets.max_bytes:
        row.update(outcome="budget_exceeded", detail="answer or bundle over budget")
    elif not response.answer.strip() or not row["grounded"]:
        row.update(outcome="ungrounded", detail=row["detail"] or "no citation of a retrieved item")
    else:
        row["outcome"] = "success" if row["hit_at_k"] else "miss"
    row["latency_ms"] = (time.perf_counter() - clock) * 1000
    return row


def runs_frame(rows: list[dict], source: str, day: dt.date, batch_id: str, index_hash: str) -> pl.DataFrame:
    constant = {"schema_name", "schema_version", "source", "day", "replay_batch_id", "index_hash"}
    cols = {c: [r[c] for r in rows] for c in REPLAY_RUNS.polars_schema if c not in constant}
    return REPLAY_RUNS.frame(cols, source, day, replay_batch_id=batch_id, index_hash=index_hash)


def batch_order(runs: pl.DataFrame) -> list[str]:
    """Batch ids of a ledger partition in the order they were written (first start time, then id)."""
    if runs.height == 0:
        return []
    order = runs.group_by("replay_batch_id").agg(pl.col("started_at").min()).sort("started_at", "replay_batch_id")
    return order["replay_batch_id"].to_list()


def latest_batch(runs: pl.DataFrame) -> pl.DataFrame:
    """The rows of the newest batch (no rows when there is none)."""
    order = batch_order(runs)
    return runs.filter(pl.col("replay_batch_id") == order[-1]) if order else runs.clear()


def _rates(runs: pl.DataFrame) -> dict:
    return {
        "tasks": runs.height,
        "hit_at_1": round(float((runs["reciprocal_rank"] == 1.0).mean()), 4),
        "hit_at_k": round(float(runs["hit_at_k"].mean()), 4),
        "mrr": round(float(runs["reciprocal_rank"].mean()), 4),
    }


def scorecard(runs: pl.DataFrame, tasks: pl.DataFrame | None = None) -> dict:
    """tasks, hit@1, hit@k, MRR, grounded rate and outcomes of one batch; per task origin when ``tasks`` is given."""
    if runs.height == 0:
        return {"tasks": 0}
    card = {
        **_rates(runs),
        "grounded_rate": round(float(runs["grounded"].mean()), 4),
        "outcomes": dict(sorted(runs.group_by("outcome").len().iter_rows())),
    }
    if tasks is not None:
        joined = runs.join(tasks.select("task_id", "origin").unique("task_id"), on="task_id", how="left")
        card["by_origin"] = {origin or "unknown": _rates(part) for (origin,), part in
                             sorted(joined.group_by("origin"), key=lambda g: g[0][0] or "")}
    return card


def reproducibility(current: pl.DataFrame, previous: pl.DataFrame) -> float | None:
    """Share of comparable tasks whose bundle and response hashes equal the previous batch's.

    Comparable = in both batches and replayed against the same index_hash: a new task or a
    rebuilt index has nothing to reproduce. None when nothing is comparable.
    """
    keys = ["task_id", "index_hash"]
    common = current.join(previous.select(keys), on=keys, how="semi")
    if common.height == 0:
        return None
    cols = [*keys, "bundle_sha256", "response_sha256"]
    same = common.select(cols).join(previous.select(cols), on=cols, how="semi", nulls_equal=True).height
    return round(same / common.height, 4)
