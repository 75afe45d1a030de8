"""The slice grammar: strict, bounded, and explicit about clamping."""

import pytest

from core.slices import Slice, SliceError, apply_slice, parse_slice

TEXT = "".join(f"line {i}\n" for i in range(10))


@pytest.mark.parametrize("text, expected", [
    ("lines[0:40]", Slice("lines", 0, 40)), ("chars[5:9]", Slice("chars", 5, 9)),
    ("head(3)", Slice("head", 0, 3)), ("tail(2)", Slice("tail", 0, 2)), ("lines[007:8]", Slice("lines", 7, 8)),
])
def test_valid_slices_parse(text, expected):
    assert parse_slice(text) == expected


@pytest.mark.parametrize("text, says", [
    ("ALL", "unbounded"), ("all", "unbounded"), ("lines[0:]", "no end"), ("chars[3:]", "no end"),
    ("lines[:5]", "no start"), ("lines[-1:3]", "negative"), ("tail(-2)", "negative"), ("lines[5:2]", "greater"),
    ("lines[4:4]", "greater"), ("head(0)", "n >= 1"), ("lines[0:5", "cannot parse"), ("lines [0:5]", "cannot parse"),
    ("bytes[0:5]", "cannot parse"), ("", "required"), ("lines[0:5];rm", "cannot parse"),
])
def test_malformed_or_unbounded_slices_are_refused_with_a_reason(text, says):
    with pytest.raises(SliceError, match=says):
        parse_slice(text)


def test_lines_are_zero_based_end_exclusive_and_keep_their_endings():
    part = apply_slice(parse_slice("lines[2:4]"), TEXT)
    assert part.text == "line 2\nline 3\n" and (part.start, part.end, part.clamped) == (2, 4, False)


def test_an_end_past_the_text_is_clamped_and_says_so():
    part = apply_slice(parse_slice("lines[8:400]"), TEXT)
    assert part.text == "line 8\nline 9\n" and part.end == 10 and part.clamped
    huge = apply_slice(parse_slice("head(1000000)"), TEXT)
    assert huge.text == TEXT and huge.clamped
    tail = apply_slice(parse_slice("tail(3)"), TEXT)
    assert tail.text == "line 7\nline 8\nline 9\n" and (tail.start, tail.end, tail.clamped) == (7, 10, False)
    assert apply_slice(parse_slice("tail(30)"), TEXT).clamped


def test_a_start_past_the_text_is_refused_naming_its_length():
    with pytest.raises(SliceError, match="has 10 lines"):
        apply_slice(parse_slice("lines[10:12]"), TEXT)
    with pytest.raises(SliceError, match="is empty"):
        apply_slice(parse_slice("head(2)"), "")


def test_chars_count_characters_not_bytes():
    text = "αβγδε\n"
    part = apply_slice(parse_slice("chars[1:3]"), text)
    assert part.text == "βγ" and len(part.text.encode()) == 4
