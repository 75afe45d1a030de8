"""The README's query-model table (issue 11): every question's SQL runs on a real lake and gives the answer."""

import re
from pathlib import Path

import pytest

from core.sql import run_query
from tests.helpers import check_results, materialize_all, utc_today, write_sources

ROOT = Path(__file__).resolve().parents[2]

ANSWERS = {  # question -> rows the README's SQL must return on the tree below
    "How many outputs of each kind?": lambda rows: {k for k, _ in rows} == {"diagnostic", "edge", "metric",
                                                                           "section", "symbol"},
    "Which files have diagnostics of rule F401?": lambda rows: rows == [("pkg/a.py",), ("pkg/b.py",)],
    "Which rules fire most?": lambda rows: rows == [("F401", 5), ("E711", 1), ("syntax_error", 1)],
    "Diagnostics by severity?": lambda rows: rows == [("error", 1), ("warning", 6)],
    "Which files failed, and why?": lambda rows: rows == [("blob.bin", "binary")],
    "How many files per language?": lambda rows: rows == [("markdown", 1), ("python", 4), ("unknown", 1)],
    "Which files import `json`?": lambda rows: rows == [("pkg/a.py",), ("pkg/b.py",)],
    "What does `pkg/b.py` import?": lambda rows: rows == [("json", None), ("pkg", "a"), ("pkg.a", "helper")],
    "Which modules are imported most?": lambda rows: rows[0] == ("json", 2) and ("os", 1) in rows,
    "Which documents link to which files?": lambda rows: rows == [("README.md", "pkg/a.py")],
}


def _readme_questions() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Query model", 1)[1].split("\n\n", 3)[2]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (.+?) \| `(select .+?)` \|$", section, re.M)}


def test_the_readme_table_and_this_test_list_the_same_questions():
    assert set(_readme_questions()) == set(ANSWERS)


@pytest.fixture(scope="module")
def query_lake(tmp_path_factory):
    from dagster import DagsterInstance

    tmp = tmp_path_factory.mktemp("query_model")
    tree = tmp / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text('"""The package."""\n')
    (tree / "pkg" / "a.py").write_text('import json\nimport os\n\n\ndef helper(x):\n    """Help."""\n'
                                       '    return x == None\n')
    (tree / "pkg" / "b.py").write_text("import json\nfrom . import a\nfrom .a import helper\n")
    (tree / "broken.py").write_text("def broken(:\n")
    (tree / "README.md").write_text("# Tree\n\nSee [a](pkg/a.py) and [docs](https://example.org).\n")
    (tree / "blob.bin").write_bytes(b"\x00\x01")
    sources = write_sources(tmp / "sources.toml", {"tree": {"kind": "tree", "path": str(tree)}})
    with DagsterInstance.ephemeral() as instance:
        result = materialize_all(instance, tmp / "lake", sources, "tree", utc_today())
        assert result.success and all(check_results(result).values()), check_results(result)
    return tmp / "lake"


@pytest.mark.parametrize("question", sorted(ANSWERS))
def test_each_question_is_answered_by_its_view(query_lake, question):
    rows = run_query(str(query_lake), _readme_questions()[question]).rows()
    assert rows and ANSWERS[question](rows), rows
