"""distill/datasets' example ids and texts: one serialisation per example, the ids of the pinned definition."""

from hypothesis import given
from hypothesis import strategies as st

from core.canonical import canonical_json, content_id
from core.distill import example_id_of

text = st.text(max_size=30)
examples = st.dictionaries(st.sampled_from(["instruction", "response", "origin", "path", "heading_path", "text",
                                            "prompt", "chosen", "rejected", "task_id", "é", "Z", "a b"]),
                           st.one_of(text, st.lists(text, max_size=3), st.integers(-(2**63), 2**63 - 1), st.none(),
                                     st.booleans()),
                           max_size=6)


@given(st.sampled_from(["sft", "preference", "rag", 'odd "name"']), examples)
def test_an_example_id_spliced_from_its_text_is_the_content_id_of_dataset_and_example(dataset, example):
    assert example_id_of(dataset, canonical_json(example)) == content_id({"dataset": dataset, "example": example})
