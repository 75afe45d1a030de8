"""Resolve and expand on a real lake: addresses, budgets (fail-closed), receipts, damaged objects."""

import hashlib

import polars as pl
import pytest

from core.contracts import EXPAND_RECEIPTS, INDEX_SECTIONS, INDEX_SYMBOLS, SNAPSHOT_FILES
from core.expand import BudgetExceeded, ExpandBudgets, Expander, ExpandError
from core.lake import read_partitions
from core.objects import ObjectStore
from core.resolve import ResolveError, Resolver
from tests.helpers import materialize_all, utc_today, write_sources

MODULE = '''"""A module with a clash."""


def f():
    return 1


class Box:
    def open(self):
        return "lid"


def f():  # noqa: F811 - the second definition is numbered #2
    return 2


def long_one():
''' + "".join(f"    x{i} = {i}  # padding line {i}\n" for i in range(60)) + "    return x0\n"

GUIDE = "# Guide\n\nIntro words.\n\n## Budgets\n\nEvery step has budgets.\nThey fail closed.\n\n## Other\n\nMore.\n"


def _corpus(folder):
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text(MODULE)
    (folder / "guide.md").write_text(GUIDE)
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)
    return folder


def _build(folder, instance, name="t") -> str:
    _corpus(folder / "src")
    sources = write_sources(folder / "sources.toml", {name: {"kind": "tree", "path": "src"}})
    result = materialize_all(instance, folder / "lake", sources, name, utc_today())
    assert result.success
    return str(folder / "lake")


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> str:
    """One materialised lake of the corpus, built once per session; tests that write copy it first."""
    import dagster as dg

    from tests.shared import once

    def build(folder):
        with dg.DagsterInstance.ephemeral() as instance:
            return {"lake": _build(folder, instance)}

    return once(tmp_path_factory, "expand_lake", build)["lake"]


def _copy(built: str, tmp_path) -> str:
    import shutil

    shutil.copytree(built, tmp_path / "lake")
    return str(tmp_path / "lake")


def test_resolve_names_path_lines_and_the_hash_of_exactly_those_lines(built):
    lake = built
    resolver = Resolver(lake)
    first, second = resolver.resolve("@t/pkg.mod.f"), resolver.resolve("@t/pkg.mod.f#2")
    lines = MODULE.splitlines(keepends=True)
    assert (first.path, first.line_start) == ("pkg/mod.py", 3) and second.line_start == 12
    assert resolver.content_hash(first) == hashlib.sha256("".join(lines[3:5]).encode()).hexdigest()
    assert resolver.read_text(second).startswith("def f():  # noqa")
    method = resolver.resolve("@t/pkg.mod.Box.open")
    assert resolver.read_text(method) == '    def open(self):\n        return "lid"\n'
    section = read_partitions(lake, INDEX_SECTIONS).filter(pl.col("heading") == "Budgets").row(0, named=True)
    by_prefix = resolver.resolve(section["section_id"][:10])
    assert by_prefix.kind == "section" and resolver.read_text(by_prefix).startswith("## Budgets")
    whole = resolver.resolve("t:guide.md")
    assert resolver.read_text(whole) == GUIDE and (whole.line_start, whole.line_end) == (0, GUIDE.count("\n"))
    with pytest.raises(ResolveError, match=r"no symbol @t/pkg.mod.Box.opn .*did you mean @t/pkg.mod.Box.open"):
        resolver.resolve("@t/pkg.mod.Box.opn")
    with pytest.raises(ResolveError, match="did you mean guide.md"):
        resolver.resolve("t:guide.mdx")
    with pytest.raises(ResolveError, match="source 'nope' has no materialised partition"):
        resolver.resolve("@nope/x")
    with pytest.raises(ResolveError, match="has no partition for 2001-01-01"):
        import datetime as dt

        resolver.resolve("@t/pkg.mod.f", day=dt.date(2001, 1, 1))
    with pytest.raises(ResolveError, match="binary file"):
        resolver.read_text(resolver.resolve("t:blob.bin"))


def test_expand_is_fail_closed_on_every_budget_and_leaves_a_receipt_per_request(built, tmp_path):
    lake = _copy(built, tmp_path)
    expander = Expander(Resolver(lake), "run-1", ExpandBudgets(max_symbols=2, max_sections=1, max_bytes=400,
                                                                max_expansions=3))
    served = expander.expand([("@t/pkg.mod.f", "lines[0:2]"), ("t:guide.md", "head(1)")], "ok")
    assert [e.text for e in served] == ["def f():\n    return 1\n", "# Guide\n"]
    assert served[0].content_hash == hashlib.sha256(b"def f():\n    return 1\n").hexdigest()
    cases = {
        "too-many": ([("@t/pkg.mod.f", "head(1)")] * 4, "max_expansions: 4 expansions in one step, limit 3"),
        "symbols": ([("@t/pkg.mod.f", "head(1)"), ("@t/pkg.mod.f#2", "head(1)"), ("@t/pkg.mod.Box", "head(1)")],
                    "max_symbols: 3 symbols"),
        "bytes": ([("@t/pkg.mod.long_one", "head(60)")], "max_bytes: the step would return"),
        "unbounded": ([("@t/pkg.mod.f", "head(1)"), ("@t/pkg.mod.f", "ALL")], "unbounded"),
        "missing": ([("@t/pkg.mod.f", "head(1)"), ("@t/pkg.mod.nope", "head(1)")], "no symbol @t/pkg.mod.nope"),
        "past-end": ([("@t/pkg.mod.f", "lines[50:60]")], "starts past the end"),
    }
    for step, (requests, says) in cases.items():
        with pytest.raises(ExpandError, match=says.replace("(", r"\(")) as caught:
            expander.expand(requests, step)
        assert isinstance(caught.value, BudgetExceeded) == (step in ("too-many", "symbols", "bytes"))
    clamped = expander.expand([("@t/pkg.mod.f", "lines[1:99]")], "clamped")[0]
    assert clamped.clamped and clamped.range == "lines[1:2]"
    assert expander.write_receipts() == [("t", utc_today())]
    receipts = read_partitions(lake, EXPAND_RECEIPTS).filter(pl.col("run_id") == "run-1")
    by_step = {s: rows for (s,), rows in receipts.group_by("step")}
    assert by_step["ok"]["status"].to_list() == ["SUCCESS", "SUCCESS"]
    for step, (requests, says) in cases.items():  # nothing served: every request of the step is a FAILURE
        rows = by_step[step].sort("seq")
        assert rows.height == len(requests) and set(rows["status"]) == {"FAILURE"}
        assert rows["bytes"].sum() == 0 and rows["content_hash"].null_count() == rows.height
        assert says.split(":")[0] in rows["reason"][0]
    assert by_step["clamped"]["clamped"].to_list() == [True]
    # a second write of the same run replaces its batch with the cumulative receipts: no duplicates
    expander.expand([("t:guide.md", "tail(1)")], "late")
    expander.write_receipts()
    again = read_partitions(lake, EXPAND_RECEIPTS).filter(pl.col("run_id") == "run-1")
    assert again.height == receipts.height + 1 and again.select("step", "seq").is_unique().all()


def test_a_missing_or_corrupt_object_is_a_loud_error_naming_it(built, tmp_path):
    lake = _copy(built, tmp_path)
    files = read_partitions(lake, SNAPSHOT_FILES)
    guide = files.filter(pl.col("path") == "guide.md")["object"][0]
    module = files.filter(pl.col("path") == "pkg/mod.py")["object"][0]
    store = ObjectStore(lake)
    with open(store.path_for(guide), "r+b") as handle:
        handle.write(b"!")
    import os

    os.unlink(store.path_for(module))
    # the replay batch's receipts no longer re-expand: the check says which references and why
    from checks.factories import PartitionReads
    from checks.replay import replay_receipts_reproducible
    from resources.lake import LakeResource
    from resources.sources import SourcesResource

    served = read_partitions(lake, EXPAND_RECEIPTS).filter(pl.col("status") == "SUCCESS")
    assert served.height > 0 and served["path"].is_in(["guide.md", "pkg/mod.py"]).all()
    reads = PartitionReads(("t", utc_today()), LakeResource(root=lake), SourcesResource(file=str(tmp_path / "s")))
    verdict = replay_receipts_reproducible.rule(reads)
    assert not verdict.passed and (guide in verdict.description or module in verdict.description)
    expander = Expander(Resolver(lake), "run-2")
    with pytest.raises(ExpandError, match=f"object {guide} is corrupt"):
        expander.expand([("t:guide.md", "head(1)")])
    with pytest.raises(ExpandError, match=f"object {module} is not in the store"):
        expander.expand([("@t/pkg.mod.f", "head(1)")])
    expander.write_receipts()
    reasons = read_partitions(lake, EXPAND_RECEIPTS)["reason"].to_list()
    assert any(guide in r for r in reasons) and any(module in r for r in reasons)


def test_two_builds_of_one_corpus_resolve_every_symbol_identically(built, tmp_path, instance):
    lakes = [built, _build(tmp_path, instance)]
    addresses = []
    for lake in lakes:
        resolver = Resolver(lake)
        ids = read_partitions(lake, INDEX_SYMBOLS)["symbol_id"].sort().to_list()
        found = [resolver.resolve(i) for i in ids]
        addresses.append([(r.ref, r.path, r.line_start, r.line_end, resolver.content_hash(r)) for r in found])
    assert len(addresses[0]) >= 6 and addresses[0] == addresses[1]
    assert len({a[4] for a in addresses[0]}) == len(addresses[0])  # every span has its own bytes
