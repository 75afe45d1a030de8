"""core.distill.preference_pairs against the per-task lists it replaced (scorer 1.0.0's pairing, in Python)."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from core.distill import SIDES_SCHEMA, preference_pairs


def _reference(rows: list[tuple[str, str, str, str, str]]) -> list[tuple]:
    """Per task (in code point order) its sessions on each side in row order; the n-th good with the n-th bad."""
    by_task: dict[str, dict[str, list]] = {}
    for task, side, eid, prompt, response in rows:
        by_task.setdefault(task, {"good": [], "bad": []})[side].append((eid, prompt, response))
    out = []
    for task in sorted(by_task):
        for (g_id, g_prompt, g_response), (b_id, _, b_response) in zip(by_task[task]["good"], by_task[task]["bad"],
                                                                        strict=False):
            out.append((task, g_id, g_prompt, g_response, b_id, b_response))
    return out


_TASKS = st.sampled_from(["fill:ct-1", "fill:ct-2", "b", "B", "\u00e9t\u00e9", "a\U0001f600", ""])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TASKS, st.sampled_from(["good", "bad"]), st.text(max_size=3), st.text(max_size=3)),
                max_size=40))
def test_pairs_are_the_per_task_lists_zipped_in_row_order(drawn):
    rows = [(task, side, f"e{i:03d}", prompt, response) for i, (task, side, prompt, response) in enumerate(drawn)]
    sides = pl.DataFrame([list(column) for column in zip(*rows, strict=True)] if rows else None,
                         schema=dict.fromkeys(SIDES_SCHEMA.names, pl.Utf8), orient="col")
    got = preference_pairs(sides)
    assert got.columns == ["task", "good_id", "prompt", "good_response", "bad_id", "bad_response"]
    assert got.rows() == _reference(rows)
