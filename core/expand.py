"""Expand references to bounded slices under per-step budgets, leaving a receipt for every request.

One call of ``Expander.expand`` is one step: a list of (reference, slice) requests. The step is
fail-closed: if any request cannot be served or any budget is breached, nothing is returned and
every request of the step gets a FAILURE receipt naming the reason. Receipts go to the
append-only ledger replay/receipts (one batch per ``run_id``) in the partition that was read,
so what a caller saw can be shown later, byte hash for byte hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from core.contracts import EXPAND_RECEIPTS
from core.lake import write_partitions
from core.resolve import Resolved, ResolveError, Resolver
from core.slices import Slice, SliceError, apply_slice, parse_slice


@dataclass(frozen=True)
class ExpandBudgets:
    """Per step; a breach refuses the whole step (CAT_CHAT defaults)."""

    max_symbols: int = 10
    max_sections: int = 5
    max_bytes: int = 10_000
    max_expansions: int = 3

    def __post_init__(self) -> None:
        for name in ("max_symbols", "max_sections", "max_bytes", "max_expansions"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"budget {name} must be a positive integer: an unbounded expansion is refused")


class ExpandError(RuntimeError):
    """A step that returned nothing; ``reason`` is what its receipts say."""


class BudgetExceeded(ExpandError):
    """A step over one of its budgets; the message names the budget, the amount and the limit."""


@dataclass(frozen=True)
class Expansion:
    ref: str
    slice: str
    resolved: Resolved
    text: str
    range: str  # what was actually returned, e.g. lines[28:34] of the span
    clamped: bool
    content_hash: str  # sha256 of the returned UTF-8 bytes
    bytes: int


@dataclass
class Expander:
    resolver: Resolver
    run_id: str
    budgets: ExpandBudgets = field(default_factory=ExpandBudgets)
    receipts: list[dict] = field(default_factory=list)
    _steps: int = 0

    def expand(self, requests: Sequence[tuple[str, str]], step: str | None = None, source: str | None = None,
               day: dt.date | None = None) -> list[Expansion]:
        """Serve every request of one step, or none of them (ExpandError / BudgetExceeded)."""
        self._steps += 1
        step = step or f"step-{self._steps}"
        resolved: list[Resolved | None] = [None] * len(requests)
        try:
            if len(requests) > self.budgets.max_expansions:
                raise BudgetExceeded(f"budget max_expansions: {len(requests)} expansions in one step, "
                                     f"limit {self.budgets.max_expansions}")
            slices: list[Slice] = [parse_slice(s) for _, s in requests]
            for i, (ref, _) in enumerate(requests):
                resolved[i] = self.resolver.resolve(ref, source, day)
            self._count(resolved, "symbol", self.budgets.max_symbols, "max_symbols")
            self._count(resolved, "section", self.budgets.max_sections, "max_sections")
            served = [self._serve(r, s, spec) for r, s, spec in zip(resolved, (s for _, s in requests), slices,
                                                                    strict=True)]
            total = sum(e.bytes for e in served)
            if total > self.budgets.max_bytes:
                raise BudgetExceeded(f"budget max_bytes: the step would return {total} bytes, limit "
                                     f"{self.budgets.max_bytes}; ask for smaller slices or raise the budget")
        except (SliceError, ResolveError, ExpandError) as exc:
            reason = str(exc)
            for seq, (ref, text) in enumerate(requests):
                where = None if resolved[seq] else self.resolver.partition_for(ref, source, day)
                self._receipt(step, seq, ref, text, resolved[seq], None, reason, where)
            raise (exc if isinstance(exc, ExpandError) else ExpandError(reason)) from None
        for seq, expansion in enumerate(served):
            self._receipt(step, seq, expansion.ref, expansion.slice, expansion.resolved, expansion, None)
        return served

    def _count(self, resolved, kind: str, limit: int, name: str) -> None:
        n = sum(1 for r in resolved if r is not None and r.kind == kind)
        if n > limit:
            raise BudgetExceeded(f"budget {name}: {n} {kind}s in one step, limit {limit}")

    def _serve(self, resolved: Resolved, text: str, spec: Slice) -> Expansion:
        return serve(self.resolver, resolved, text, spec)

    def _receipt(self, step, seq, ref, text, resolved: Resolved | None, done: Expansion | None,
                 reason: str | None, where: tuple[str, dt.date] | None = None) -> None:
        source, day = (resolved.source, resolved.day) if resolved else where or (None, None)
        self.receipts.append({
            "source": source, "day": day,
            "run_id": self.run_id, "step": step, "seq": seq, "ref": ref, "slice": text,
            "kind": resolved.kind if resolved else None, "path": resolved.path if resolved else None,
            "object": resolved.object if resolved else None, "range": done.range if done else None,
            "clamped": bool(done and done.clamped), "content_hash": done.content_hash if done else None,
            "bytes": done.bytes if done else 0, "status": "SUCCESS" if done else "FAILURE", "reason": reason,
            "requested_at": dt.datetime.now(dt.UTC),
        })

    def write_receipts(self, fallback: tuple[str, dt.date] | None = None) -> list[tuple[str, dt.date]]:
        """Append this run's receipts to the ledger; returns the partitions written.

        A failure that never reached a partition (e.g. an unknown source) is filed under
        ``fallback`` when given, and otherwise only reported to the caller.
        """
        by_partition: dict[tuple[str, dt.date], list[dict]] = {}
        for row in self.receipts:
            where = (row["source"], row["day"]) if row["source"] else fallback
            if where is not None:
                by_partition.setdefault(where, []).append(row)
        for (source, day), rows in sorted(by_partition.items()):
            write_partitions(self.resolver.root, EXPAND_RECEIPTS, receipts_frame(rows, source, day), [(source, day)],
                             {"run_id": self.run_id}, self.resolver.options)
        return sorted(by_partition)


def receipts_frame(rows: list[dict], source: str, day: dt.date) -> pl.DataFrame:
    """Receipt rows of one partition as a replay/receipts frame (empty frame for no rows)."""
    mine = [r for r in rows if (r["source"], r["day"]) == (source, day)]
    if not mine:
        return EXPAND_RECEIPTS.empty()
    # typed by the contract, not inferred from the first rows: a column null in the first 100 receipts
    # (the reason of a refused one) would fail the build on a later row that holds text
    schema = EXPAND_RECEIPTS.polars_schema
    return EXPAND_RECEIPTS.frame(pl.DataFrame(mine, schema={name: schema[name] for name in mine[0]})
                                 .drop("source", "day"), source, day)


def rehash(resolver: Resolver, ref: str, slice_text: str, source: str, day: dt.date) -> str:
    """The content hash that expanding ``ref`` with ``slice_text`` at (source, day) gives now (no receipt)."""
    return serve(resolver, resolver.resolve(ref, source, day), slice_text, parse_slice(slice_text)).content_hash


def serve(resolver: Resolver, resolved: Resolved, text: str, spec: Slice) -> Expansion:
    """One slice of one resolved span, with the hash and size of the returned bytes (no budget, no receipt)."""
    part = apply_slice(spec, resolver.read_text(resolved))
    data = part.text.encode()
    return Expansion(resolved.ref, text, resolved, part.text, f"{part.unit}[{part.start}:{part.end}]",
                     part.clamped, hashlib.sha256(data).hexdigest(), len(data))
